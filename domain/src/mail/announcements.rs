//! Announcements (MAIL-3): an operator's service update, policy change or
//! marketing mail (`uni1 admin announce`), queued to every recipient
//! through the outbox by a background sender.
//!
//! Who gets one: accounts with a confirmed address that are not being
//! deleted and existed when the announcement was made; service updates
//! only to those who did not unsubscribe from them, marketing only to
//! those who consented. Service updates and marketing carry the signed
//! unsubscribe link and header; a policy change does not: it is a notice
//! the operator must give every account (a change to the terms or the
//! privacy policy), so nobody can opt out of it.
//!
//! Exactly once per person, in batches, across crashes and concurrent
//! senders: the sender walks the accounts in id order. Each batch is one
//! transaction that first moves the announcement's cursor
//! (`resume_after`, `queued`) by a compare-and-swap on its old value,
//! then writes one `announcement_recipients` row per person (primary key
//! (announcement, person)) and their outbox rows. A sender killed
//! mid-batch leaves nothing of that batch; one killed between batches
//! resumes at the cursor; of two senders, only one moves the cursor from a
//! given value, the other finds it moved and goes on from there.
//!
//! Pacing: mail number `n` of an announcement gets `send_after` =
//! `paced_from + n / rate` minutes, so at most `rate` a minute fall due
//! and transactional mail (due at once) is not held up behind thousands.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::unsubscribe::{Category, Unsubscribe};
use super::{templates, Extras, MailContext};
use crate::entities::{announcement, announcement_recipient, mail_outbox, user};
use crate::support::crypto::AppKey;
use crate::support::error::{ResultExt, Unexpected};

/// What an announcement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// About the service (maintenance, changes to features): every active
    /// account that did not unsubscribe from service updates.
    Service,
    /// A change to the terms or the privacy policy: a required notice to
    /// every active account, without an unsubscribe link.
    Policy,
    /// Product news and offers: only those who consented.
    Marketing,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "service" => Some(Kind::Service),
            "policy" => Some(Kind::Policy),
            "marketing" => Some(Kind::Marketing),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Service => "service",
            Kind::Policy => "policy",
            Kind::Marketing => "marketing",
        }
    }

    /// The category one unsubscribes from; `None` for a required notice.
    pub fn category(self) -> Option<Category> {
        match self {
            Kind::Service => Some(Category::ServiceUpdates),
            Kind::Marketing => Some(Category::Marketing),
            Kind::Policy => None,
        }
    }
}

/// Why an announcement was not made.
#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    #[error("{0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// The longest subject, in characters.
pub const MAX_SUBJECT: usize = 200;
/// The longest body, in characters.
pub const MAX_BODY: usize = 50_000;

/// The subject and body trimmed, or why they cannot be sent.
pub fn check<'a>(subject: &'a str, body: &'a str) -> Result<(&'a str, &'a str), AnnounceError> {
    let subject = subject.trim();
    let body = body.trim();
    if subject.is_empty() || subject.chars().count() > MAX_SUBJECT || subject.contains(['\r', '\n'])
    {
        return Err(AnnounceError::Invalid(
            "the subject must be one line of 1 to 200 characters",
        ));
    }
    if body.is_empty() || body.chars().count() > MAX_BODY {
        return Err(AnnounceError::Invalid(
            "the body must be 1 to 50,000 characters",
        ));
    }
    Ok((subject, body))
}

/// Records an announcement (inside the caller's transaction when given
/// one); the background sender queues its mails.
pub async fn create(
    db: &impl ConnectionTrait,
    kind: Kind,
    subject: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Result<Uuid, AnnounceError> {
    let (subject, body) = check(subject, body)?;
    let id = Uuid::now_v7();
    announcement::Entity::insert(announcement::ActiveModel {
        id: Set(id),
        kind: Set(kind.as_str().to_owned()),
        subject: Set(subject.to_owned()),
        body: Set(body.to_owned()),
        created_at: Set(now),
        resume_after: Set(None),
        queued: Set(0),
        paced_from: Set(None),
        completed_at: Set(None),
    })
    .exec_without_returning(db)
    .await
    .unexpected("recording an announcement")?;
    Ok(id)
}

/// How fast announcements go out.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// At most this many mails of one announcement fall due per minute.
    pub per_minute: u32,
    /// People per transaction.
    pub batch: u64,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            per_minute: 600,
            batch: 500,
        }
    }
}

impl Pace {
    /// How long after `paced_from` mail number `n` may go.
    fn offset(self, n: i64) -> chrono::Duration {
        chrono::Duration::milliseconds(n.saturating_mul(60_000) / i64::from(self.per_minute.max(1)))
    }
}

/// Who gets announcement `kind` made at `made`.
pub(crate) fn recipients(kind: Kind, made: DateTime<Utc>) -> Condition {
    let all = Condition::all()
        .add(user::Column::EmailConfirmedAt.is_not_null())
        .add(user::Column::DeletionDueAt.is_null())
        .add(user::Column::CreatedAt.lte(made));
    match kind {
        Kind::Service => all.add(user::Column::ServiceUpdates.eq(true)),
        Kind::Marketing => all.add(user::Column::MarketingConsentAt.is_not_null()),
        Kind::Policy => all,
    }
}

/// What one batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// This many mails were queued; more may follow.
    Queued(usize),
    /// Another sender moved the cursor first: nothing was written.
    Raced,
    /// Every recipient has their mail (or the announcement is gone).
    Done,
}

/// Queues the next batch of announcement `id` (see the module doc).
pub async fn send_batch(
    db: &DatabaseConnection,
    ctx: &MailContext,
    key: &AppKey,
    id: Uuid,
    pace: Pace,
    now: DateTime<Utc>,
) -> Result<Step, Unexpected> {
    let Some(a) = announcement::Entity::find_by_id(id)
        .one(db)
        .await
        .unexpected("reading an announcement")?
    else {
        return Ok(Step::Done);
    };
    if a.completed_at.is_some() {
        return Ok(Step::Done);
    }
    let Some(kind) = Kind::parse(&a.kind) else {
        return Err(Unexpected::new(
            "reading an announcement",
            std::io::Error::other(format!("unknown kind {:?}", a.kind)),
        ));
    };
    let mut next = user::Entity::find()
        .filter(recipients(kind, a.created_at))
        .order_by_asc(user::Column::Id)
        .limit(pace.batch);
    if let Some(after) = a.resume_after {
        next = next.filter(user::Column::Id.gt(after));
    }
    let people = next
        .all(db)
        .await
        .unexpected("reading an announcement's recipients")?;
    let last = (people.len() as u64) < pace.batch;
    // A sender that resumes late starts the pace again from now.
    let paced_from = match a.paced_from {
        None => now,
        Some(p) => p.max(now - pace.offset(a.queued)),
    };

    let txn = crate::support::tx::begin(db).await?;
    let mut cursor = announcement::Entity::update_many()
        .col_expr(
            announcement::Column::ResumeAfter,
            Expr::value(people.last().map(|p| p.id).or(a.resume_after)),
        )
        .col_expr(
            announcement::Column::Queued,
            Expr::value(a.queued + people.len() as i64),
        )
        .col_expr(announcement::Column::PacedFrom, Expr::value(paced_from))
        .filter(announcement::Column::Id.eq(id))
        .filter(announcement::Column::Queued.eq(a.queued))
        .filter(announcement::Column::CompletedAt.is_null());
    cursor = match a.resume_after {
        Some(r) => cursor.filter(announcement::Column::ResumeAfter.eq(r)),
        None => cursor.filter(announcement::Column::ResumeAfter.is_null()),
    };
    if last {
        cursor = cursor.col_expr(announcement::Column::CompletedAt, Expr::value(now));
    }
    if cursor
        .exec(&txn)
        .await
        .unexpected("moving an announcement's cursor")?
        .rows_affected
        != 1
    {
        return Ok(Step::Raced);
    }
    let links = Unsubscribe::new(key);
    let mail_kind = format!("announcement_{}", kind.as_str());
    for chunk in people.chunks(200) {
        announcement_recipient::Entity::insert_many(chunk.iter().map(|p| {
            announcement_recipient::ActiveModel {
                announcement_id: Set(id),
                user_id: Set(p.id),
                queued_at: Set(now),
            }
        }))
        .exec_without_returning(&txn)
        .await
        .unexpected("recording announcement recipients")?;
    }
    let mut rows = Vec::with_capacity(people.len());
    for (position, p) in (a.queued..).zip(&people) {
        let link = kind.category().map(|c| links.link(ctx, p.id, c));
        let message = templates::announcement(
            ctx,
            &p.display_name,
            kind.as_str(),
            &a.subject,
            &a.body,
            link.as_deref(),
        );
        rows.push(super::outbox_row(
            key,
            Some(p.id),
            &mail_kind,
            &p.email,
            message,
            Extras {
                list_unsubscribe: kind.category().map(|c| links.header(ctx, p.id, c)),
                send_after: Some(paced_from + pace.offset(position)),
            },
        ));
    }
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(200));
        mail_outbox::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await
            .unexpected("queueing announcement mails")?;
        rows = rest;
    }
    txn.commit()
        .await
        .unexpected("committing an announcement batch")?;
    Ok(if last {
        Step::Done
    } else {
        Step::Queued(people.len())
    })
}

/// Queues every remaining mail of announcement `id`, batch after batch.
pub async fn send(
    db: &DatabaseConnection,
    ctx: &MailContext,
    key: &AppKey,
    id: Uuid,
    pace: Pace,
) -> Result<(), Unexpected> {
    loop {
        match send_batch(db, ctx, key, id, pace, Utc::now()).await? {
            Step::Done => return Ok(()),
            Step::Queued(_) | Step::Raced => {}
        }
    }
}

/// How often unfinished announcements are looked for.
pub const INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// One pass: sends every unfinished announcement (oldest first).
pub async fn pass(db: &DatabaseConnection, ctx: &MailContext, key: &AppKey, pace: Pace) {
    let open: Result<Vec<Uuid>, _> = announcement::Entity::find()
        .select_only()
        .column(announcement::Column::Id)
        .filter(announcement::Column::CompletedAt.is_null())
        .order_by_asc(announcement::Column::CreatedAt)
        .into_tuple()
        .all(db)
        .await;
    let open = match open {
        Ok(ids) => ids,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the announcements");
            return;
        }
    };
    for id in open {
        match send(db, ctx, key, id, pace).await {
            Ok(()) => tracing::info!(announcement = %id, "announcement queued to every recipient"),
            Err(e) => {
                tracing::error!(error = ?e, announcement = %id, "sending an announcement failed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pace_spreads_mails_over_minutes() {
        let pace = Pace {
            per_minute: 100,
            batch: 10,
        };
        assert_eq!(pace.offset(0), chrono::Duration::zero());
        assert_eq!(pace.offset(100), chrono::Duration::minutes(1));
        assert_eq!(pace.offset(250), chrono::Duration::seconds(150));
    }
}
