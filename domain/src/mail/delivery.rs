//! Sends queued mail through a [`Mailer`]: an SMTP server, or a local
//! outbox folder of `.eml` files when no SMTP server is configured (the
//! adapters are in `server/src/mailers.rs`).
//!
//! Each due mail is claimed with a conditional update (a lease of two
//! minutes), so several workers can run against one database without
//! sending a mail twice in normal operation. A failure is retried with
//! exponential backoff (30 s, 1 min, 2 min, ... up to 1 h) and given up
//! after [`MAX_ATTEMPTS`], with the error kept for operators.
//!
//! Queued bodies are sealed (see [`crate::mail`]) and opened here just
//! before sending. Once a mail is sent over SMTP, or given up, its bodies
//! are cleared and only the metadata row stays, until [`purge_old`] deletes
//! it after [`RETENTION`]. With the outbox folder (development, no SMTP
//! server) the sealed bodies stay until the purge, so `/dev/outbox` can show
//! the links: the `.eml` file (mode 0600) holds the same text anyway.

use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::entities::mail_outbox::{self, Column};
use crate::support::crypto::AppKey;
use crate::support::error::{ResultExt, Unexpected};

/// After this many failed attempts a mail is marked failed.
pub const MAX_ATTEMPTS: i32 = 8;
const LEASE: chrono::Duration = chrono::Duration::minutes(2);
const BATCH: u64 = 20;
/// Sent and failed mails are deleted this long after they ended.
pub const RETENTION: chrono::Duration = chrono::Duration::days(30);
/// Mails whose row goes as soon as it is sent (or given up): the last mail
/// to a deleted account's address, which must not keep the address.
pub const ERASED_WHEN_DONE: &[&str] = &["account_deleted"];

/// Deletes mail `id`'s row.
async fn erase(db: &sea_orm::DatabaseConnection, id: uuid::Uuid) -> Result<(), Unexpected> {
    mail_outbox::Entity::delete_by_id(id)
        .exec(db)
        .await
        .unexpected("deleting a sent mail")?;
    Ok(())
}

/// How often old mails are purged ([`purge_pass`]).
pub const PURGE_INTERVAL: Duration = Duration::from_secs(3600);

/// Where mail goes: the port delivery sends through. The adapters (an SMTP
/// server, the local outbox folder) live with the process that configures
/// them (`server/src/mailers.rs`); tests may bring their own.
#[async_trait::async_trait]
pub trait Mailer: Send + Sync {
    /// Sends one message; the error text is kept for operators.
    async fn send(&self, message: lettre::Message) -> Result<(), String>;

    /// Whether a sent mail's bodies can be cleared at once (see the module
    /// documentation for the outbox folder).
    fn clears_sent_bodies(&self) -> bool;
}

/// What one delivery pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
}

/// Sends every mail due at `now` (up to a batch), opening the sealed
/// bodies with `key`.
pub async fn deliver_due(
    db: &DatabaseConnection,
    key: &AppKey,
    transport: &dyn Mailer,
    from: &Mailbox,
    now: DateTime<Utc>,
) -> Result<Report, Unexpected> {
    let unlocked = Condition::any()
        .add(Column::LockedUntil.is_null())
        .add(Column::LockedUntil.lt(now));
    let due = mail_outbox::Entity::find()
        .filter(Column::SentAt.is_null())
        .filter(Column::FailedAt.is_null())
        .filter(Column::SendAfter.lte(now))
        .filter(unlocked.clone())
        .order_by_asc(Column::SendAfter)
        .limit(BATCH)
        .all(db)
        .await
        .unexpected("reading due mail")?;

    let mut report = Report::default();
    for mail in due {
        let claimed = mail_outbox::Entity::update_many()
            .col_expr(Column::LockedUntil, Expr::value(now + LEASE))
            .filter(Column::Id.eq(mail.id))
            .filter(Column::SentAt.is_null())
            .filter(unlocked.clone())
            .exec(db)
            .await
            .unexpected("claiming a mail")?
            .rows_affected
            == 1;
        if !claimed {
            continue;
        }
        // A body that does not open never will (another key, or altered):
        // give up at once.
        let (outcome, permanent) = match crate::mail::open_bodies(key, &mail) {
            Ok(bodies) => match build(&mail, &bodies, from) {
                Ok(message) => (transport.send(message).await, false),
                Err(e) => (Err(e), false),
            },
            Err(e) => (Err(format!("the sealed body does not open: {e}")), true),
        };
        let update = mail_outbox::Entity::update_many()
            .col_expr(
                Column::LockedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(Column::Id.eq(mail.id));
        let cleared = |update: sea_orm::UpdateMany<mail_outbox::Entity>| {
            update
                .col_expr(Column::TextBody, Expr::value(""))
                .col_expr(Column::HtmlBody, Expr::value(""))
        };
        match outcome {
            Ok(())
                if ERASED_WHEN_DONE.contains(&mail.kind.as_str())
                    && transport.clears_sent_bodies() =>
            {
                erase(db, mail.id).await?;
                report.sent += 1;
            }
            Ok(()) => {
                let update = update.col_expr(Column::SentAt, Expr::value(now));
                let update = if transport.clears_sent_bodies() {
                    cleared(update)
                } else {
                    update
                };
                update.exec(db).await.unexpected("marking a mail sent")?;
                report.sent += 1;
            }
            Err(error) => {
                let attempts = mail.attempts + 1;
                tracing::warn!(mail_id = %mail.id, attempts, %error, "sending a mail failed");
                let update = update
                    .col_expr(Column::Attempts, Expr::value(attempts))
                    .col_expr(
                        Column::LastError,
                        Expr::value(crate::support::audit::truncate(&error, 1000)),
                    );
                if (attempts >= MAX_ATTEMPTS || permanent)
                    && ERASED_WHEN_DONE.contains(&mail.kind.as_str())
                {
                    erase(db, mail.id).await?;
                    report.failed += 1;
                } else if attempts >= MAX_ATTEMPTS || permanent {
                    cleared(update)
                        .col_expr(Column::FailedAt, Expr::value(now))
                        .exec(db)
                        .await
                        .unexpected("marking a mail failed")?;
                    report.failed += 1;
                } else {
                    update
                        .col_expr(Column::SendAfter, Expr::value(now + backoff(attempts)))
                        .exec(db)
                        .await
                        .unexpected("rescheduling a mail")?;
                    report.retrying += 1;
                }
            }
        }
    }
    for (outcome, n) in [
        ("sent", report.sent),
        ("retrying", report.retrying),
        ("failed", report.failed),
    ] {
        if n > 0 {
            metrics::counter!(crate::metrics::MAIL_DELIVERIES_TOTAL, "outcome" => outcome)
                .increment(n as u64);
        }
    }
    Ok(report)
}

/// The wait before attempt `attempts + 1`: 30 s doubled per attempt, at most 1 h.
pub fn backoff(attempts: i32) -> chrono::Duration {
    let secs = 30i64.saturating_mul(1i64 << attempts.clamp(0, 20).saturating_sub(1));
    chrono::Duration::seconds(secs.min(3600))
}

/// Deletes mails sent or given up more than [`RETENTION`] before `now`;
/// returns how many.
pub async fn purge_old(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64, Unexpected> {
    let before = now - RETENTION;
    Ok(mail_outbox::Entity::delete_many()
        .filter(
            Condition::any()
                .add(Column::SentAt.lt(before))
                .add(Column::FailedAt.lt(before)),
        )
        .exec(db)
        .await
        .unexpected("purging old mail")?
        .rows_affected)
}

fn build(
    mail: &mail_outbox::Model,
    bodies: &crate::mail::Bodies,
    from: &Mailbox,
) -> Result<lettre::Message, String> {
    let to: Mailbox = mail
        .to_address
        .parse()
        .map_err(|e| format!("bad recipient: {e}"))?;
    let mut builder = lettre::Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone());
    if let Some(value) = &mail.list_unsubscribe {
        builder = builder
            .header(ListUnsubscribe(value.clone()))
            .header(ListUnsubscribePost);
    }
    builder
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(bodies.text.clone()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(bodies.html.clone()),
                ),
        )
        .map_err(|e| e.to_string())
}

/// `List-Unsubscribe`: the signed https link and a mailto (RFC 2369).
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058): a POST
/// to the https link unsubscribes at once.
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

/// One delivery pass: every due mail is sent (or rescheduled).
pub async fn deliver_pass(
    db: &DatabaseConnection,
    key: &AppKey,
    transport: &dyn Mailer,
    from: &Mailbox,
) {
    if let Err(e) = deliver_due(db, key, transport, from, Utc::now()).await {
        tracing::error!(error = %e, "mail delivery pass failed");
    }
}

/// One purge pass: sent mail past [`RETENTION`] is deleted.
pub async fn purge_pass(db: &DatabaseConnection) {
    match purge_old(db, Utc::now()).await {
        Ok(0) => {}
        Ok(purged) => tracing::info!(purged, "purged old mail"),
        Err(e) => tracing::error!(error = %e, "purging old mail failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1).num_seconds(), 30);
        assert_eq!(backoff(2).num_seconds(), 60);
        assert_eq!(backoff(3).num_seconds(), 120);
        assert_eq!(backoff(7).num_seconds(), 1920);
        assert_eq!(backoff(8).num_seconds(), 3600);
        assert_eq!(backoff(100).num_seconds(), 3600);
    }
}
