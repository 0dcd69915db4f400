//! Staff server functions of the moderation queue (GEN-4, ACC-5): the open
//! flags and under-age reports, and the decisions on them. Looking at a
//! flagged image is the plain route `POST /admin/moderation/flags/{id}/image`
//! (`server/src/http/admin.rs`), audited with its reason (STO-3).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One open flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagDto {
    pub id: String,
    pub owner_id: String,
    pub owner_email: String,
    /// blocklist | backend | output | report
    pub source: String,
    /// "Refused prompt (blocked terms)", ...
    pub source_label: String,
    pub prompt: String,
    pub reason: String,
    /// "2026-12-08 14:30 UTC".
    pub created: String,
    /// Whether a published image is concerned (hide and take down apply).
    pub has_image: bool,
    /// Whether there is an image staff can look at.
    pub viewable: bool,
}

/// One open under-age report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnderageDto {
    pub id: String,
    pub reported_account: String,
    pub details: String,
    pub reporter_email: Option<String>,
    pub created: String,
}

/// The queue, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModerationQueueDto {
    pub flags: Vec<FlagDto>,
    pub underage: Vec<UnderageDto>,
    /// Open flags per source label.
    pub counts: Vec<(String, u64)>,
    pub open_flags: u64,
    pub open_underage: u64,
}

/// How a source reads on the page.
pub fn source_label(source: &str) -> &'static str {
    match source {
        "blocklist" => "Refused prompt (blocked terms)",
        "backend" => "Refused by the model provider",
        "output" => "Refused output (output check)",
        "report" => "Report about a published image",
        _ => "Other",
    }
}

/// The open flags and under-age reports (support and admins).
#[server(prefix = "/api", endpoint = "admin_moderation")]
pub async fn admin_moderation() -> Result<ModerationQueueDto, AppError> {
    use uni1_domain::accounts::Role;
    let (admin, staff) = super::staff(Role::Support).await?;
    let q = admin.moderation_queue(&staff).await?;
    Ok(ModerationQueueDto {
        open_flags: q.counts.iter().map(|(_, n)| n).sum(),
        counts: q
            .counts
            .into_iter()
            .map(|(s, n)| (source_label(&s).to_owned(), n))
            .collect(),
        open_underage: q.open_underage,
        flags: q
            .flags
            .into_iter()
            .map(|f| FlagDto {
                id: f.id.to_string(),
                owner_id: f.owner.to_string(),
                owner_email: f.owner_email,
                source_label: source_label(&f.source).to_owned(),
                source: f.source,
                prompt: f.prompt,
                reason: f.reason,
                created: super::server::when(f.created_at),
                has_image: f.image.is_some(),
                viewable: f.viewable,
            })
            .collect(),
        underage: q
            .underage
            .into_iter()
            .map(|r| UnderageDto {
                id: r.id.to_string(),
                reported_account: r.reported_account,
                details: r.details,
                reporter_email: r.reporter_email,
                created: super::server::when(r.created_at),
            })
            .collect(),
    })
}

/// Decides a flag: `dismiss`, `hide` or `take_down`, with a reason.
#[server(prefix = "/api", endpoint = "admin_moderation_decide")]
pub async fn decide_flag(id: String, decision: String, reason: String) -> Result<(), AppError> {
    use uni1_domain::accounts::Role;
    use uni1_domain::admin::moderation::Decision;
    let (admin, staff) = super::staff(Role::Support).await?;
    let id = crate::params::id(&id)?;
    let decision = Decision::parse(&decision)?;
    admin
        .decide_flag(
            &staff,
            id,
            decision,
            &reason,
            super::server::request_id().as_deref(),
        )
        .await?;
    Ok(())
}

/// Marks an under-age report reviewed, with its outcome.
#[server(prefix = "/api", endpoint = "admin_underage_review")]
pub async fn review_underage(id: String, outcome: String) -> Result<(), AppError> {
    use uni1_domain::accounts::Role;
    let (admin, staff) = super::staff(Role::Support).await?;
    let id = crate::params::id(&id)?;
    admin
        .review_underage(&staff, id, &outcome, super::server::request_id().as_deref())
        .await?;
    Ok(())
}
