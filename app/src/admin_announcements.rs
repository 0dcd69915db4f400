//! Announcements from the staff pages (MAIL-3), admins only: preview a
//! mail exactly as it is sent, send a test to oneself, send it (with a
//! confirmation), and the progress of each. The rules live in
//! `uni1_domain::admin::announcements`, over the same functions as
//! `uni1 admin announce`. The page is `pages::admin_announcements`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A mail as it will be sent, and the checked draft it came from (the
/// page sends exactly what was previewed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewDto {
    /// `service`, `policy` or `marketing`.
    pub kind: String,
    /// Who it goes to, in words.
    pub audience: String,
    /// The draft's subject and body, trimmed.
    pub draft_subject: String,
    pub draft_body: String,
    /// The mail: its subject, plain-text part and HTML part.
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// One announcement and its progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnouncementDto {
    pub id: String,
    /// "Service update", "Policy change" or "Marketing".
    pub kind: String,
    pub subject: String,
    pub created: String,
    pub queued: u64,
    pub total: u64,
    /// "done on …", or "sending".
    pub state: String,
    pub done: bool,
}

#[cfg(feature = "ssr")]
fn draft(
    kind: &str,
    subject: &str,
    body: &str,
) -> Result<uni1_domain::admin::announcements::Draft, AppError> {
    Ok(uni1_domain::admin::announcements::Draft::parse(
        kind, subject, body,
    )?)
}

/// The mail as it will be sent, addressed to the asking admin.
#[server(prefix = "/api", endpoint = "admin_announcement_preview")]
pub async fn announcement_preview(
    kind: String,
    subject: String,
    body: String,
) -> Result<PreviewDto, AppError> {
    use uni1_domain::accounts::Role;
    use uni1_domain::mail::announcements::Kind;
    let (admin, staff) = crate::admin::staff(Role::Admin).await?;
    let draft = draft(&kind, &subject, &body)?;
    let m = admin.announcement_preview(&staff, &draft);
    Ok(PreviewDto {
        kind: draft.kind.as_str().to_owned(),
        audience: match draft.kind {
            Kind::Service => {
                "every confirmed account that did not unsubscribe from service updates"
            }
            Kind::Policy => {
                "every confirmed account (a required notice, without an unsubscribe link)"
            }
            Kind::Marketing => "only the people who agreed to product news and offers",
        }
        .to_owned(),
        draft_subject: draft.subject,
        draft_body: draft.body,
        subject: m.subject,
        text: m.text,
        html: m.html,
    })
}

/// Queues the mail to the asking admin only; answers their address.
#[server(prefix = "/api", endpoint = "admin_announcement_test")]
pub async fn announcement_test(
    kind: String,
    subject: String,
    body: String,
) -> Result<String, AppError> {
    use uni1_domain::accounts::Role;
    let (admin, staff) = crate::admin::staff(Role::Admin).await?;
    admin
        .announcement_test(
            &staff,
            &draft(&kind, &subject, &body)?,
            crate::admin::request_id().as_deref(),
        )
        .await?;
    Ok(staff.user.email)
}

/// Sends the announcement to everyone it is for (needs `confirm`).
#[server(prefix = "/api", endpoint = "admin_announce")]
pub async fn announce(
    kind: String,
    subject: String,
    body: String,
    #[server(default)] confirm: String,
) -> Result<String, AppError> {
    use uni1_domain::accounts::Role;
    let (admin, staff) = crate::admin::staff(Role::Admin).await?;
    let draft = draft(&kind, &subject, &body)?;
    if !matches!(confirm.trim(), "on" | "true" | "yes") {
        return Err(AppError::invalid(
            "confirm",
            "Tick the box to confirm that this mail goes to everyone it is for.",
        )
        .respond());
    }
    let id = admin
        .announce(&staff, &draft, crate::admin::request_id().as_deref())
        .await?;
    Ok(id.to_string())
}

/// The latest announcements with their progress.
#[server(prefix = "/api", endpoint = "admin_announcements")]
pub async fn admin_announcements() -> Result<Vec<AnnouncementDto>, AppError> {
    use uni1_domain::accounts::Role;
    use uni1_domain::mail::announcements::Kind;
    let (admin, staff) = crate::admin::staff(Role::Admin).await?;
    Ok(admin
        .announcements(&staff)
        .await?
        .into_iter()
        .map(|a| AnnouncementDto {
            id: a.id.to_string(),
            kind: match a.kind {
                Kind::Service => "Service update",
                Kind::Policy => "Policy change",
                Kind::Marketing => "Marketing",
            }
            .to_owned(),
            subject: a.subject,
            created: crate::dates::minute(a.created_at),
            queued: a.queued,
            total: a.total,
            state: match a.completed_at {
                Some(t) => format!("done on {}", crate::dates::minute(t)),
                None => "sending".to_owned(),
            },
            done: a.completed_at.is_some(),
        })
        .collect())
}
