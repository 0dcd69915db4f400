//! Privacy requests (PRV-7): each exercise of a right is one row, with its
//! kind, state, times and the date by which it must be answered (one month,
//! GDPR art. 12(3)). Rights that take effect at once (a switch) are written
//! already done; an export is open until its ZIP is ready; a deletion until
//! the account is gone (then the row stays without the person).

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use super::Privacy;
use crate::entities::privacy_request;
use crate::support::error::{ResultExt, Unexpected};

/// How long uni1 has to answer a request.
pub const ANSWER_WITHIN: Duration = Duration::days(30);

/// Which right was exercised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Export,
    Deletion,
    Objection,
    Restriction,
    TrainingConsent,
    Correction,
    /// Anything else a person asked staff for (recorded by staff).
    Other,
}

impl RequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Export => "export",
            RequestKind::Deletion => "deletion",
            RequestKind::Objection => "objection",
            RequestKind::Restriction => "restriction",
            RequestKind::TrainingConsent => "training_consent",
            RequestKind::Correction => "correction",
            RequestKind::Other => "other",
        }
    }

    /// The request as a person reads it.
    pub fn label(kind: &str) -> &'static str {
        match kind {
            "export" => "Copy of your data",
            "deletion" => "Account deletion",
            "objection" => "Objection to improving the service with your data",
            "restriction" => "Restriction of processing",
            "training_consent" => "Consent to training",
            "correction" => "Correction of your data",
            _ => "Other request",
        }
    }
}

impl RequestKind {
    /// The kinds staff record for a request made by mail or in person.
    pub fn by_staff(s: &str) -> Option<Self> {
        match s {
            "correction" => Some(RequestKind::Correction),
            "other" => Some(RequestKind::Other),
            _ => None,
        }
    }

    /// Whether requests of this kind end by themselves (an export when its
    /// ZIP is ready, a deletion with the account), not by staff.
    pub fn closes_itself(kind: &str) -> bool {
        matches!(kind, "export" | "deletion")
    }
}

/// Request states.
pub mod status {
    pub const OPEN: &str = "open";
    pub const DONE: &str = "done";
    pub const CANCELED: &str = "canceled";
    pub const FAILED: &str = "failed";
}

/// A request as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestView {
    pub id: Uuid,
    pub kind: String,
    pub status: String,
    pub detail: Option<String>,
    pub created_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// Opens a request of `kind` for `user`, due one month from now (or at
/// `due`, when earlier).
pub(crate) async fn open(
    conn: &impl ConnectionTrait,
    user: Uuid,
    kind: RequestKind,
    detail: Option<String>,
    due: Option<DateTime<Utc>>,
) -> Result<Uuid, Unexpected> {
    let now = Utc::now();
    let id = Uuid::now_v7();
    let within = now + ANSWER_WITHIN;
    privacy_request::ActiveModel {
        id: Set(id),
        user_id: Set(Some(user)),
        kind: Set(kind.as_str().to_owned()),
        status: Set(status::OPEN.to_owned()),
        detail: Set(detail),
        created_at: Set(now),
        due_at: Set(due.map_or(within, |d| d.min(within))),
        completed_at: Set(None),
        staff_note: Set(None),
        outcome: Set(None),
    }
    .insert(conn)
    .await
    .unexpected("opening a privacy request")?;
    Ok(id)
}

/// Records a request of `kind` that took effect at once.
pub(crate) async fn done_now(
    conn: &impl ConnectionTrait,
    user: Uuid,
    kind: RequestKind,
    detail: &str,
) -> Result<Uuid, Unexpected> {
    let id = open(conn, user, kind, Some(detail.to_owned()), None).await?;
    close(conn, id, status::DONE).await?;
    Ok(id)
}

/// Ends request `id` with `state` (done, canceled, failed).
pub(crate) async fn close(
    conn: &impl ConnectionTrait,
    id: Uuid,
    state: &str,
) -> Result<(), Unexpected> {
    privacy_request::Entity::update_many()
        .col_expr(
            privacy_request::Column::Status,
            sea_orm::sea_query::Expr::value(state),
        )
        .col_expr(
            privacy_request::Column::CompletedAt,
            sea_orm::sea_query::Expr::value(Utc::now()),
        )
        .filter(privacy_request::Column::Id.eq(id))
        .filter(privacy_request::Column::Status.eq(status::OPEN))
        .exec(conn)
        .await
        .unexpected("closing a privacy request")?;
    Ok(())
}

/// The open request of `kind` of `user`, if any.
pub(crate) async fn open_of(
    conn: &impl ConnectionTrait,
    user: Uuid,
    kind: RequestKind,
) -> Result<Option<privacy_request::Model>, Unexpected> {
    privacy_request::Entity::find()
        .filter(privacy_request::Column::UserId.eq(user))
        .filter(privacy_request::Column::Kind.eq(kind.as_str()))
        .filter(privacy_request::Column::Status.eq(status::OPEN))
        .order_by_desc(privacy_request::Column::CreatedAt)
        .one(conn)
        .await
        .unexpected("reading privacy requests")
}

impl Privacy {
    /// The person's requests, newest first (at most `limit`).
    pub async fn requests(&self, user: Uuid, limit: u64) -> Result<Vec<RequestView>, Unexpected> {
        Ok(privacy_request::Entity::find()
            .filter(privacy_request::Column::UserId.eq(user))
            .order_by_desc(privacy_request::Column::CreatedAt)
            .order_by_desc(privacy_request::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .unexpected("reading privacy requests")?
            .into_iter()
            .map(|r| RequestView {
                id: r.id,
                kind: r.kind,
                status: r.status,
                detail: r.detail,
                created_at: r.created_at,
                due_at: r.due_at,
                completed_at: r.completed_at,
            })
            .collect())
    }
}
