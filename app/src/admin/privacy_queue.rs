//! Staff server functions of the privacy-request queue (PRV-7): the
//! list, notes, closing with an outcome, and requests recorded for people
//! who asked by mail. The domain (`uni1_domain::admin::privacy_queue`)
//! checks the texts and writes the audit rows.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One request in the queue, preformatted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedDto {
    pub id: String,
    pub kind: String,
    pub label: String,
    pub status: String,
    pub detail: String,
    /// The person's address, or "deleted account".
    pub person: String,
    pub person_id: Option<String>,
    pub created: String,
    pub due: String,
    pub overdue: bool,
    pub completed: Option<String>,
    pub notes: Vec<String>,
    pub outcome: Option<String>,
    /// Staff close it (not an export or a deletion, and still open).
    pub closable: bool,
}

/// The queue: open requests by due date (overdue first), then the rest.
#[server(prefix = "/api", endpoint = "admin_privacy_queue")]
pub async fn admin_privacy_queue(
    #[server(default)] all: String,
) -> Result<Vec<QueuedDto>, AppError> {
    use uni1_domain::accounts::Role;
    use uni1_domain::privacy::RequestKind;
    let (admin, staff) = crate::admin::staff(Role::Support).await?;
    let now = chrono::Utc::now();
    Ok(admin
        .privacy_queue(&staff, all != "on")
        .await?
        .into_iter()
        .map(|r| QueuedDto {
            overdue: r.overdue(now),
            closable: r.status == "open" && !RequestKind::closes_itself(&r.kind),
            id: r.id.to_string(),
            label: RequestKind::label(&r.kind).to_owned(),
            kind: r.kind,
            status: r.status,
            detail: r.detail.unwrap_or_default(),
            person: r.email.unwrap_or_else(|| "deleted account".into()),
            person_id: r.user_id.map(|u| u.to_string()),
            created: crate::dates::minute(r.created_at),
            due: crate::dates::day(r.due_at),
            completed: r.completed_at.map(crate::dates::minute),
            notes: r
                .staff_note
                .map(|n| n.lines().map(str::to_owned).collect())
                .unwrap_or_default(),
            outcome: r.outcome,
        })
        .collect())
}

/// Adds a note to a request.
#[server(prefix = "/api", endpoint = "admin_note_request")]
pub async fn admin_note_request(
    id: String,
    #[server(default)] note: String,
) -> Result<(), AppError> {
    use uni1_domain::accounts::Role;
    let (admin, staff) = crate::admin::staff(Role::Support).await?;
    let id = crate::params::id(&id)?;
    admin
        .note_request(&staff, id, &note, crate::admin::request_id().as_deref())
        .await?;
    Ok(())
}

/// Closes a request as done (`done` = "done") or refused, with the outcome.
#[server(prefix = "/api", endpoint = "admin_close_request")]
pub async fn admin_close_request(
    id: String,
    done: String,
    #[server(default)] outcome: String,
) -> Result<(), AppError> {
    use uni1_domain::accounts::Role;
    let (admin, staff) = crate::admin::staff(Role::Support).await?;
    let id = crate::params::id(&id)?;
    admin
        .close_request(
            &staff,
            id,
            done == "done",
            &outcome,
            crate::admin::request_id().as_deref(),
        )
        .await?;
    Ok(())
}

/// Records a request someone made by mail or in person.
#[server(prefix = "/api", endpoint = "admin_record_request")]
pub async fn admin_record_request(
    #[server(default)] email: String,
    #[server(default)] kind: String,
    #[server(default)] detail: String,
) -> Result<String, AppError> {
    use uni1_domain::accounts::Role;
    let (admin, staff) = crate::admin::staff(Role::Support).await?;
    Ok(admin
        .record_request(
            &staff,
            &email,
            &kind,
            &detail,
            crate::admin::request_id().as_deref(),
        )
        .await?
        .to_string())
}
