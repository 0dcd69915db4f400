//! The moderation queue (GEN-4, ACC-5, STO-3): open `moderation_flags`
//! (prompts refused by the blocked terms or by a model's own filter,
//! outputs refused by the output check, reports about published images)
//! and open under-age reports, oldest first, and the staff decisions on
//! them. Every decision needs a reason, stamps `reviewed_at` and writes its
//! audit row in the same transaction. Looking at a flagged image is itself
//! an audited action with a reason ([`Admin::view_flagged`]): staff never
//! see a person's image silently.
//!
//! Decisions on a flag:
//! - dismiss: reviewed, nothing else changes (a refused output stays
//!   refused and is purged);
//! - hide: the image leaves the public gallery for good;
//! - take down: hidden as above, and the image is taken away from everyone
//!   but staff: its owner's media route answers 404 (their gallery says it
//!   was taken down), and every share link of the image, and of each
//!   collection holding it, is revoked.
//!
//! Disabling an account is on the person's staff page (`/admin/users/{id}`).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::audit::{self, Target};
use super::{Admin, AdminError, Staff};
use crate::entities::{image, moderation_flag, underage_report, user};
use crate::support::error::ResultExt as _;

/// The most items of each kind the queue shows at once.
pub const QUEUE_LIMIT: u64 = 200;

/// One open flag as staff see it.
#[derive(Debug, Clone)]
pub struct FlagItem {
    pub id: Uuid,
    pub owner: Uuid,
    pub owner_email: String,
    /// blocklist | backend | output | report
    pub source: String,
    pub prompt: String,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    /// The image a report is about.
    pub image: Option<Uuid>,
    /// Whether there is an image staff can look at (a refused output kept
    /// for review, or the reported image).
    pub viewable: bool,
}

/// One open under-age report.
#[derive(Debug, Clone)]
pub struct UnderageItem {
    pub id: Uuid,
    pub reported_account: String,
    pub details: String,
    pub reporter_email: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The queue: open flags and reports, oldest first, with counts.
#[derive(Debug, Clone, Default)]
pub struct Queue {
    pub flags: Vec<FlagItem>,
    pub underage: Vec<UnderageItem>,
    /// Open flags per source, e.g. `("output", 2)`.
    pub counts: Vec<(String, u64)>,
    pub open_underage: u64,
}

/// What staff decided about a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Dismiss,
    Hide,
    TakeDown,
}

impl Decision {
    /// From the form value (`dismiss`, `hide`, `take_down`).
    pub fn parse(value: &str) -> Result<Self, AdminError> {
        match value.trim() {
            "dismiss" => Ok(Self::Dismiss),
            "hide" => Ok(Self::Hide),
            "take_down" => Ok(Self::TakeDown),
            _ => Err(AdminError::invalid("decision", "Choose a decision.")),
        }
    }

    /// The value stored in `moderation_flags.decision`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dismiss => "dismissed",
            Self::Hide => "hidden",
            Self::TakeDown => "taken_down",
        }
    }

    fn action(self) -> &'static str {
        match self {
            Self::Dismiss => "moderation.dismiss",
            Self::Hide => "moderation.hide",
            Self::TakeDown => "moderation.take_down",
        }
    }
}

/// A flagged image staff may look at, once the look is audited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlaggedObject {
    pub path: String,
    pub content_type: &'static str,
}

impl Admin {
    /// The open flags and under-age reports, oldest first (at most
    /// [`QUEUE_LIMIT`] of each), with the counts of all open ones.
    pub async fn moderation_queue(&self, _staff: &Staff) -> Result<Queue, AdminError> {
        let flags = moderation_flag::Entity::find()
            .filter(moderation_flag::Column::ReviewedAt.is_null())
            .order_by_asc(moderation_flag::Column::CreatedAt)
            .order_by_asc(moderation_flag::Column::Id)
            .limit(QUEUE_LIMIT)
            .all(&self.db)
            .await
            .unexpected("reading the moderation queue")?;
        let counts: Vec<(String, i64)> = moderation_flag::Entity::find()
            .select_only()
            .column(moderation_flag::Column::Source)
            .column_as(Expr::col(moderation_flag::Column::Id).count(), "n")
            .filter(moderation_flag::Column::ReviewedAt.is_null())
            .group_by(moderation_flag::Column::Source)
            .order_by_asc(moderation_flag::Column::Source)
            .into_tuple()
            .all(&self.db)
            .await
            .unexpected("counting the moderation queue")?;
        let mut owners: Vec<Uuid> = flags.iter().map(|f| f.user_id).collect();
        owners.sort();
        owners.dedup();
        let emails: std::collections::HashMap<Uuid, String> = if owners.is_empty() {
            Default::default()
        } else {
            user::Entity::find()
                .filter(user::Column::Id.is_in(owners))
                .all(&self.db)
                .await
                .unexpected("reading flagged accounts")?
                .into_iter()
                .map(|u| (u.id, u.email))
                .collect()
        };
        let underage = underage_report::Entity::find()
            .filter(underage_report::Column::Status.eq("open"))
            .order_by_asc(underage_report::Column::CreatedAt)
            .order_by_asc(underage_report::Column::Id)
            .limit(QUEUE_LIMIT)
            .all(&self.db)
            .await
            .unexpected("reading under-age reports")?;
        let open_underage = underage_report::Entity::find()
            .filter(underage_report::Column::Status.eq("open"))
            .count(&self.db)
            .await
            .unexpected("counting under-age reports")?;
        Ok(Queue {
            flags: flags
                .into_iter()
                .map(|f| FlagItem {
                    id: f.id,
                    owner: f.user_id,
                    owner_email: emails
                        .get(&f.user_id)
                        .cloned()
                        .unwrap_or_else(|| "(deleted account)".into()),
                    viewable: f.review_object.is_some() || f.image_id.is_some(),
                    source: f.source,
                    prompt: f.prompt,
                    reason: f.reason,
                    created_at: f.created_at,
                    image: f.image_id,
                })
                .collect(),
            underage: underage
                .into_iter()
                .map(|r| UnderageItem {
                    id: r.id,
                    reported_account: r.reported_account,
                    details: r.details,
                    reporter_email: r.reporter_email,
                    created_at: r.created_at,
                })
                .collect(),
            counts: counts
                .into_iter()
                .map(|(s, n)| (s, u64::try_from(n).unwrap_or(0)))
                .collect(),
            open_underage,
        })
    }

    /// Decides an open flag: see the module documentation. Hiding and
    /// taking down need an image (a report); prompts and refused outputs
    /// have none to act on, so they are dismissed.
    pub async fn decide_flag(
        &self,
        staff: &Staff,
        flag: Uuid,
        decision: Decision,
        reason: &str,
        request_id: Option<&str>,
    ) -> Result<(), AdminError> {
        let reason = super::reason("reason", reason)?;
        let txn = crate::support::tx::begin(&self.db).await?;
        let row = moderation_flag::Entity::find_by_id(flag)
            .one(&txn)
            .await
            .unexpected("reading a flag")?
            .ok_or(AdminError::NotFound)?;
        if row.reviewed_at.is_some() {
            return Err(AdminError::invalid(
                "decision",
                "This flag was already decided.",
            ));
        }
        let now = Utc::now();
        if decision != Decision::Dismiss {
            let image = row.image_id.ok_or_else(|| {
                AdminError::invalid(
                    "decision",
                    "There is no image to hide or take down: this flag is about a prompt or a refused output, which nobody sees. Dismiss it once reviewed.",
                )
            })?;
            act_on_image(&txn, row.user_id, image, decision, now).await?;
        }
        let res = moderation_flag::Entity::update_many()
            .col_expr(moderation_flag::Column::ReviewedAt, Expr::value(now))
            .col_expr(
                moderation_flag::Column::Decision,
                Expr::value(decision.as_str()),
            )
            .col_expr(
                moderation_flag::Column::DecisionNote,
                Expr::value(reason.clone()),
            )
            .filter(moderation_flag::Column::Id.eq(flag))
            .filter(moderation_flag::Column::ReviewedAt.is_null())
            .exec(&txn)
            .await
            .unexpected("recording a moderation decision")?;
        if res.rows_affected != 1 {
            return Err(AdminError::invalid(
                "decision",
                "This flag was already decided.",
            ));
        }
        audit::record(
            &txn,
            staff,
            decision.action(),
            Target {
                user: Some(row.user_id),
                other: Some(match row.image_id {
                    Some(i) => format!("flag:{flag} image:{i}"),
                    None => format!("flag:{flag}"),
                }),
            },
            Some(&reason),
            request_id,
        )
        .await?;
        txn.commit()
            .await
            .unexpected("committing a moderation decision")?;
        Ok(())
    }

    /// Marks an open under-age report reviewed, with the outcome (ACC-5).
    pub async fn review_underage(
        &self,
        staff: &Staff,
        report: Uuid,
        outcome: &str,
        request_id: Option<&str>,
    ) -> Result<(), AdminError> {
        let outcome = super::reason("outcome", outcome)?;
        let txn = crate::support::tx::begin(&self.db).await?;
        let res = underage_report::Entity::update_many()
            .col_expr(underage_report::Column::Status, Expr::value("reviewed"))
            .col_expr(underage_report::Column::ReviewedAt, Expr::value(Utc::now()))
            .col_expr(
                underage_report::Column::Outcome,
                Expr::value(outcome.clone()),
            )
            .filter(underage_report::Column::Id.eq(report))
            .filter(underage_report::Column::Status.eq("open"))
            .exec(&txn)
            .await
            .unexpected("reviewing an under-age report")?;
        if res.rows_affected != 1 {
            let exists = underage_report::Entity::find_by_id(report)
                .one(&txn)
                .await
                .unexpected("reading an under-age report")?
                .is_some();
            return Err(if exists {
                AdminError::invalid("outcome", "This report was already reviewed.")
            } else {
                AdminError::NotFound
            });
        }
        audit::record(
            &txn,
            staff,
            "underage.review",
            Target {
                user: None,
                other: Some(format!("underage_report:{report}")),
            },
            Some(&outcome),
            request_id,
        )
        .await?;
        txn.commit()
            .await
            .unexpected("committing an under-age review")?;
        Ok(())
    }

    /// Staff look at a flagged image (STO-3): the look is audited with its
    /// reason, then the caller may serve the object returned. A refused
    /// output is served from its review copy; a reported image as its
    /// preview.
    pub async fn view_flagged(
        &self,
        staff: &Staff,
        flag: Uuid,
        reason: &str,
        request_id: Option<&str>,
    ) -> Result<FlaggedObject, AdminError> {
        let reason = super::reason("reason", reason)?;
        let txn = crate::support::tx::begin(&self.db).await?;
        let row = moderation_flag::Entity::find_by_id(flag)
            .one(&txn)
            .await
            .unexpected("reading a flag")?
            .ok_or(AdminError::NotFound)?;
        let object = match (&row.review_object, row.image_id) {
            (Some(path), _) => FlaggedObject {
                path: path.clone(),
                content_type: "image/png",
            },
            (None, Some(image_id)) => {
                let img = image::Entity::find_by_id(image_id)
                    .filter(image::Column::PurgedAt.is_null())
                    .one(&txn)
                    .await
                    .unexpected("reading a flagged image")?
                    .ok_or(AdminError::NotFound)?;
                FlaggedObject {
                    path: img.preview_path,
                    content_type: "image/webp",
                }
            }
            (None, None) => return Err(AdminError::NotFound),
        };
        audit::record(
            &txn,
            staff,
            "moderation.view_image",
            Target {
                user: Some(row.user_id),
                other: Some(format!("flag:{flag}")),
            },
            Some(&reason),
            request_id,
        )
        .await?;
        txn.commit().await.unexpected("committing a staff view")?;
        Ok(object)
    }
}

/// Hides `image` of `owner` from the public gallery; for a take-down also
/// marks it taken down and revokes every share link that shows it.
async fn act_on_image(
    txn: &impl ConnectionTrait,
    owner: Uuid,
    image_id: Uuid,
    decision: Decision,
    now: DateTime<Utc>,
) -> Result<(), AdminError> {
    let mut update = image::Entity::update_many()
        .col_expr(
            image::Column::PublishedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            image::Column::HiddenAt,
            Expr::col(image::Column::HiddenAt).if_null(now),
        );
    if decision == Decision::TakeDown {
        update = update.col_expr(
            image::Column::TakenDownAt,
            Expr::col(image::Column::TakenDownAt).if_null(now),
        );
    }
    let res = update
        .filter(image::Column::Id.eq(image_id))
        .filter(image::Column::UserId.eq(owner))
        .exec(txn)
        .await
        .unexpected("hiding an image")?;
    if res.rows_affected != 1 {
        return Err(AdminError::NotFound);
    }
    if decision == Decision::TakeDown {
        crate::library::sharing::revoke_for_image(txn, owner, image_id, now).await?;
    }
    Ok(())
}
