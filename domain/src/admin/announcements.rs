//! Announcements from the staff pages (MAIL-3): preview, a test mail to
//! oneself, sending, and the progress of each announcement. The rules
//! (who gets which kind, pacing, exactly once per person) are
//! `mail::announcements`, the same functions `uni1 admin announce` uses;
//! this module adds the guard's [`Staff`] and the audit log: sending and
//! test mails are staff actions, each with its `staff_actions` row in the
//! transaction that records the announcement or queues the test mail.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::audit::{self, Target};
use super::{Admin, AdminError, Staff};
use crate::entities::{announcement, user};
use crate::mail::announcements::{self, AnnounceError, Kind};
use crate::mail::unsubscribe::Unsubscribe;
use crate::mail::{self, templates, Extras, Message};
use crate::support::error::ResultExt;

/// The announcements the page lists (newest first).
pub const LIST_LIMIT: u64 = 50;

/// An announcement as composed on the page, checked.
#[derive(Debug, Clone)]
pub struct Draft {
    pub kind: Kind,
    pub subject: String,
    pub body: String,
}

impl Draft {
    /// The kind (`service`, `policy`, `marketing`), subject and body, with
    /// the same rules as `uni1 admin announce`.
    pub fn parse(kind: &str, subject: &str, body: &str) -> Result<Self, AdminError> {
        let kind = Kind::parse(kind.trim())
            .ok_or_else(|| AdminError::invalid("kind", "Choose what kind of mail this is."))?;
        let (subject, body) = announcements::check(subject, body).map_err(invalid)?;
        Ok(Self {
            kind,
            subject: subject.to_owned(),
            body: body.to_owned(),
        })
    }
}

fn invalid(e: AnnounceError) -> AdminError {
    match e {
        AnnounceError::Invalid(why) => {
            let field = if why.contains("subject") {
                "subject"
            } else {
                "body"
            };
            let mut message = why.to_owned();
            if let Some(first) = message.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            AdminError::invalid(field, format!("{message}."))
        }
        AnnounceError::Unexpected(e) => AdminError::Unexpected(e),
    }
}

/// One announcement and how far its sending got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnouncementView {
    pub id: Uuid,
    pub kind: Kind,
    pub subject: String,
    pub created_at: DateTime<Utc>,
    /// Mails queued so far.
    pub queued: u64,
    /// Everyone it goes to: `queued` once done, else `queued` plus the
    /// people still ahead of the sender's cursor.
    pub total: u64,
    pub completed_at: Option<DateTime<Utc>>,
}

impl Admin {
    /// The mail `draft` makes, rendered exactly as the sender renders it,
    /// addressed to `staff` (with their own unsubscribe link).
    pub fn announcement_preview(&self, staff: &Staff, draft: &Draft) -> Message {
        let link = draft
            .kind
            .category()
            .map(|c| Unsubscribe::new(&self.key).link(&self.mail, staff.id(), c));
        templates::announcement(
            &self.mail,
            &staff.user.display_name,
            draft.kind.as_str(),
            &draft.subject,
            &draft.body,
            link.as_deref(),
        )
    }

    /// Queues the mail of `draft` to `staff` only (a test), audited.
    pub async fn announcement_test(
        &self,
        staff: &Staff,
        draft: &Draft,
        request_id: Option<&str>,
    ) -> Result<Uuid, AdminError> {
        let message = self.announcement_preview(staff, draft);
        let links = Unsubscribe::new(&self.key);
        let txn = crate::support::tx::begin(&self.db).await?;
        let id = mail::enqueue_with(
            &txn,
            &self.key,
            Some(staff.id()),
            &format!("announcement_test_{}", draft.kind.as_str()),
            &staff.user.email,
            message,
            Extras {
                list_unsubscribe: draft
                    .kind
                    .category()
                    .map(|c| links.header(&self.mail, staff.id(), c)),
                send_after: None,
            },
        )
        .await?;
        audit::record(
            &txn,
            staff,
            "announcement.test",
            Target {
                user: Some(staff.id()),
                other: None,
            },
            Some(&draft.subject),
            request_id,
        )
        .await?;
        txn.commit()
            .await
            .unexpected("committing an announcement test")?;
        Ok(id)
    }

    /// Records the announcement (admins): every server's background
    /// sender then queues one mail per recipient, paced. Audited in the
    /// same transaction.
    pub async fn announce(
        &self,
        staff: &Staff,
        draft: &Draft,
        request_id: Option<&str>,
    ) -> Result<Uuid, AdminError> {
        if !staff.is_admin() {
            return Err(AdminError::Forbidden);
        }
        let txn = crate::support::tx::begin(&self.db).await?;
        let id = announcements::create(&txn, draft.kind, &draft.subject, &draft.body, Utc::now())
            .await
            .map_err(invalid)?;
        audit::record(
            &txn,
            staff,
            &format!("announcement.send.{}", draft.kind.as_str()),
            Target {
                user: None,
                other: Some(format!("announcement:{id}")),
            },
            Some(&draft.subject),
            request_id,
        )
        .await?;
        txn.commit()
            .await
            .unexpected("committing an announcement")?;
        Ok(id)
    }

    /// The latest announcements with their progress, newest first.
    pub async fn announcements(&self, _staff: &Staff) -> Result<Vec<AnnouncementView>, AdminError> {
        let rows = announcement::Entity::find()
            .order_by_desc(announcement::Column::CreatedAt)
            .limit(LIST_LIMIT)
            .all(&self.db)
            .await
            .unexpected("reading the announcements")?;
        let mut out = Vec::with_capacity(rows.len());
        for a in rows {
            let Some(kind) = Kind::parse(&a.kind) else {
                continue;
            };
            let queued = u64::try_from(a.queued).unwrap_or(0);
            let total = if a.completed_at.is_some() {
                queued
            } else {
                let mut ahead =
                    user::Entity::find().filter(announcements::recipients(kind, a.created_at));
                if let Some(after) = a.resume_after {
                    ahead = ahead.filter(user::Column::Id.gt(after));
                }
                queued
                    + ahead
                        .count(&self.db)
                        .await
                        .unexpected("counting an announcement's recipients")?
            };
            out.push(AnnouncementView {
                id: a.id,
                kind,
                subject: a.subject,
                created_at: a.created_at,
                queued,
                total,
                completed_at: a.completed_at,
            });
        }
        Ok(out)
    }
}
