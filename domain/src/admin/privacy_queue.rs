//! The privacy-request queue (PRV-7, ADM-1): every request people made,
//! open ones first with the most urgent due date first (overdue at the
//! top); staff add notes, close the ones a person must handle with an
//! outcome, and record requests that came by mail or in person (a
//! correction, anything else). Exports and deletions end by themselves
//! (the ZIP is ready, the account is gone); staff follow their progress
//! here but do not close them.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::audit::{self, Target};
use super::{Admin, AdminError, Staff};
use crate::entities::privacy_request;
use crate::privacy::requests::{self, status};
use crate::privacy::RequestKind;
use crate::support::error::ResultExt;

/// Requests one page shows at most.
pub const LIMIT: u64 = 300;

/// One request as staff see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRequest {
    pub id: Uuid,
    pub kind: String,
    pub status: String,
    pub detail: Option<String>,
    /// The person's address; `None` once the account is deleted.
    pub email: Option<String>,
    pub user_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub staff_note: Option<String>,
    pub outcome: Option<String>,
}

impl QueuedRequest {
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        self.status == status::OPEN && self.due_at < now
    }
}

impl Admin {
    /// Requests, open ones first by due date, then the rest newest first;
    /// only open ones when `open_only`.
    pub async fn privacy_queue(
        &self,
        _staff: &Staff,
        open_only: bool,
    ) -> Result<Vec<QueuedRequest>, AdminError> {
        let open = privacy_request::Entity::find()
            .filter(privacy_request::Column::Status.eq(status::OPEN))
            .order_by_asc(privacy_request::Column::DueAt)
            .limit(LIMIT)
            .all(&self.db)
            .await
            .unexpected("reading the privacy queue")?;
        let mut rows = open;
        if !open_only {
            let room = LIMIT.saturating_sub(rows.len() as u64);
            rows.extend(
                privacy_request::Entity::find()
                    .filter(privacy_request::Column::Status.ne(status::OPEN))
                    .order_by_desc(privacy_request::Column::CreatedAt)
                    .limit(room)
                    .all(&self.db)
                    .await
                    .unexpected("reading the privacy queue")?,
            );
        }
        let ids: Vec<Uuid> = rows.iter().filter_map(|r| r.user_id).collect();
        let emails = self.emails(ids).await?;
        Ok(rows
            .into_iter()
            .map(|r| QueuedRequest {
                email: r.user_id.and_then(|u| emails.get(&u).cloned()),
                id: r.id,
                kind: r.kind,
                status: r.status,
                detail: r.detail,
                user_id: r.user_id,
                created_at: r.created_at,
                due_at: r.due_at,
                completed_at: r.completed_at,
                staff_note: r.staff_note,
                outcome: r.outcome,
            })
            .collect())
    }

    /// Adds a dated note to a request (staff only see it; no personal
    /// data: the request outlives the account).
    pub async fn note_request(
        &self,
        staff: &Staff,
        id: Uuid,
        note: &str,
        request_id: Option<&str>,
    ) -> Result<(), AdminError> {
        let note = super::text("note", note, 500, "Write something here.")?;
        let txn = crate::support::tx::begin(&self.db).await?;
        let row = privacy_request::Entity::find_by_id(id)
            .one(&txn)
            .await
            .unexpected("reading a request")?
            .ok_or(AdminError::NotFound)?;
        let line = format!(
            "{} {}: {note}",
            Utc::now().format("%Y-%m-%d %H:%M"),
            staff.user.email
        );
        let notes = match &row.staff_note {
            Some(old) => format!("{old}\n{line}"),
            None => line,
        };
        if notes.chars().count() > 2000 {
            return Err(AdminError::invalid(
                "note",
                "This request has as many notes as it can hold; close it with an outcome.",
            ));
        }
        privacy_request::Entity::update_many()
            .col_expr(privacy_request::Column::StaffNote, Expr::value(notes))
            .filter(privacy_request::Column::Id.eq(id))
            .exec(&txn)
            .await
            .unexpected("noting a request")?;
        audit::record(&txn, staff, "privacy.note", target(&row), None, request_id).await?;
        txn.commit().await.unexpected("noting a request")?;
        Ok(())
    }

    /// Closes an open request a person had to handle, as `done` or
    /// `failed` (refused), with the outcome.
    pub async fn close_request(
        &self,
        staff: &Staff,
        id: Uuid,
        done: bool,
        outcome: &str,
        request_id: Option<&str>,
    ) -> Result<(), AdminError> {
        let outcome = super::text("outcome", outcome, 500, "Write something here.")?;
        let txn = crate::support::tx::begin(&self.db).await?;
        let row = privacy_request::Entity::find_by_id(id)
            .one(&txn)
            .await
            .unexpected("reading a request")?
            .ok_or(AdminError::NotFound)?;
        if row.status != status::OPEN {
            return Err(AdminError::invalid(
                "outcome",
                "This request is already closed.",
            ));
        }
        if RequestKind::closes_itself(&row.kind) {
            return Err(AdminError::invalid(
                "outcome",
                "Exports and deletions close by themselves when the copy is ready or the account is gone.",
            ));
        }
        requests::close(&txn, id, if done { status::DONE } else { status::FAILED }).await?;
        privacy_request::Entity::update_many()
            .col_expr(
                privacy_request::Column::Outcome,
                Expr::value(outcome.clone()),
            )
            .filter(privacy_request::Column::Id.eq(id))
            .exec(&txn)
            .await
            .unexpected("closing a request")?;
        audit::record(
            &txn,
            staff,
            "privacy.close",
            target(&row),
            Some(&outcome),
            request_id,
        )
        .await?;
        txn.commit().await.unexpected("closing a request")?;
        Ok(())
    }

    /// Records a request someone made by mail or in person for the
    /// account with `email` (`correction` or `other`), open and due in a
    /// month; returns its id.
    pub async fn record_request(
        &self,
        staff: &Staff,
        email: &str,
        kind: &str,
        detail: &str,
        request_id: Option<&str>,
    ) -> Result<Uuid, AdminError> {
        let kind = RequestKind::by_staff(kind).ok_or_else(|| {
            AdminError::invalid("kind", "Choose a correction or another request.")
        })?;
        let detail = super::text("detail", detail, 200, "Write something here.")?;
        let user = self.find_person(email).await?;
        let txn = crate::support::tx::begin(&self.db).await?;
        let id = requests::open(&txn, user, kind, Some(detail), None).await?;
        audit::record(
            &txn,
            staff,
            "privacy.record",
            Target {
                user: Some(user),
                other: Some(format!("privacy_request:{id}")),
            },
            None,
            request_id,
        )
        .await?;
        txn.commit().await.unexpected("recording a request")?;
        Ok(id)
    }
}

fn target(row: &privacy_request::Model) -> Target {
    Target {
        user: row.user_id,
        other: Some(format!("privacy_request:{}", row.id)),
    }
}
