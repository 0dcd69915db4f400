//! The person's choices about processing, each with the time it was made:
//!
//! - objection (PRV-4): "do not use my data to improve the service". The
//!   person is left out of every improvement dataset ([`training_eligible`])
//!   and of any analytics (uni1 runs none; the flag is where one would look);
//! - restriction (PRV-4): the account becomes read-only: no new generations,
//!   share links, publishing or purchases; viewing, downloading, export,
//!   deletion and sign-in stay. Every such path calls
//!   [`ensure_may_process`];
//! - training consent (PRV-5): off unless the person opts in, recorded with
//!   the policy version they read.
//!
//! An account scheduled for deletion is held the same way as a restricted
//! one until the person cancels.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::requests::{self, RequestKind};
use super::{Privacy, PrivacyError, POLICY_VERSION};
use crate::accounts::CurrentUser;
use crate::entities::user;
use crate::support::error::{ResultExt, Unexpected};
use crate::support::tx;

/// The person's choices as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Choices {
    pub objected_at: Option<DateTime<Utc>>,
    pub restricted_at: Option<DateTime<Utc>>,
    pub training_consent_at: Option<DateTime<Utc>>,
    pub training_consent_version: Option<String>,
    pub deletion_due_at: Option<DateTime<Utc>>,
    /// The sign-in provider gave a picture at sign-up (it can be used as
    /// the profile picture).
    pub has_provider_picture: bool,
}

impl Choices {
    fn of(u: &user::Model) -> Self {
        Self {
            objected_at: u.objected_at,
            restricted_at: u.restricted_at,
            training_consent_at: u.training_consent_at,
            training_consent_version: u.training_consent_version.clone(),
            deletion_due_at: u.deletion_due_at,
            has_provider_picture: u.avatar_url.is_some(),
        }
    }
}

/// Why an account may not start new processing now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotNow {
    #[error("You restricted the processing of your data, so your account is read-only. Lift the restriction under Settings → Privacy to create, share or buy again.")]
    Restricted,
    #[error("Your account is scheduled for deletion on {0}. Cancel the deletion under Settings → Privacy to create, share or buy again.")]
    DeletionScheduled(String),
}

/// Passes when `user` may start new processing (generate, share, publish,
/// buy): not restricted, not scheduled for deletion.
pub async fn ensure_may_process(
    conn: &impl ConnectionTrait,
    user: Uuid,
) -> Result<Result<(), NotNow>, Unexpected> {
    let row = user::Entity::find_by_id(user)
        .one(conn)
        .await
        .unexpected("reading an account's choices")?;
    Ok(match row {
        Some(u) if u.restricted_at.is_some() => Err(NotNow::Restricted),
        Some(u) => match u.deletion_due_at {
            Some(at) => Err(NotNow::DeletionScheduled(
                at.format("%-d %B %Y").to_string(),
            )),
            None => Ok(()),
        },
        None => Ok(()),
    })
}

/// Which switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Objection,
    Restriction,
    TrainingConsent,
}

impl Choice {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "objection" => Some(Choice::Objection),
            "restriction" => Some(Choice::Restriction),
            "training_consent" => Some(Choice::TrainingConsent),
            _ => None,
        }
    }

    fn kind(self) -> RequestKind {
        match self {
            Choice::Objection => RequestKind::Objection,
            Choice::Restriction => RequestKind::Restriction,
            Choice::TrainingConsent => RequestKind::TrainingConsent,
        }
    }
}

impl Privacy {
    /// The person's choices.
    pub async fn choices(&self, user: Uuid) -> Result<Choices, Unexpected> {
        Ok(user::Entity::find_by_id(user)
            .one(&self.db)
            .await
            .unexpected("reading an account's choices")?
            .map(|u| Choices::of(&u))
            .unwrap_or_default())
    }

    /// Turns `choice` on or off for `who`, and records the request. Setting
    /// it to what it already is changes nothing and records nothing.
    pub async fn set_choice(
        &self,
        who: &CurrentUser,
        choice: Choice,
        on: bool,
    ) -> Result<Choices, PrivacyError> {
        let txn = tx::begin(&self.db).await?;
        let current = user::Entity::find_by_id(who.id)
            .one(&txn)
            .await
            .unexpected("reading an account's choices")?
            .ok_or_else(|| {
                Unexpected::new(
                    "reading an account",
                    sea_orm::DbErr::RecordNotFound("the account".into()),
                )
            })?;
        let was_on = match choice {
            Choice::Objection => current.objected_at.is_some(),
            Choice::Restriction => current.restricted_at.is_some(),
            Choice::TrainingConsent => current.training_consent_at.is_some(),
        };
        if was_on == on {
            return Ok(Choices::of(&current));
        }
        let now = Utc::now();
        let at = on.then_some(now);
        let mut update = user::Entity::update_many().filter(user::Column::Id.eq(who.id));
        update = match choice {
            Choice::Objection => update.col_expr(user::Column::ObjectedAt, Expr::value(at)),
            Choice::Restriction => update.col_expr(user::Column::RestrictedAt, Expr::value(at)),
            Choice::TrainingConsent => update
                .col_expr(user::Column::TrainingConsentAt, Expr::value(at))
                .col_expr(
                    user::Column::TrainingConsentVersion,
                    Expr::value(on.then(|| POLICY_VERSION.to_owned())),
                ),
        };
        update
            .col_expr(user::Column::UpdatedAt, Expr::value(now))
            .exec(&txn)
            .await
            .unexpected("saving a privacy choice")?;
        let detail = match (choice, on) {
            (Choice::TrainingConsent, true) => {
                format!("opted in (privacy policy {POLICY_VERSION})")
            }
            (Choice::TrainingConsent, false) => "withdrawn".to_owned(),
            (_, true) => "turned on".to_owned(),
            (_, false) => "lifted".to_owned(),
        };
        requests::done_now(&txn, who.id, choice.kind(), &detail).await?;
        txn.commit().await.unexpected("saving a privacy choice")?;
        Ok(self.choices(who.id).await?)
    }
}

/// One image operators may use to improve the models (PRV-5): its owner
/// opted in to training and neither objects nor restricts processing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingImage {
    pub image_id: Uuid,
    pub owner: Uuid,
    pub original_path: String,
    pub prompt: String,
    pub created_at: DateTime<Utc>,
    pub consent_version: String,
}

/// Every kept image whose owner may be in a training dataset now, oldest
/// first.
pub async fn training_eligible(
    conn: &impl ConnectionTrait,
) -> Result<Vec<TrainingImage>, Unexpected> {
    use crate::entities::{generation, image};
    use sea_orm::QueryOrder;
    let people = user::Entity::find()
        .filter(user::Column::TrainingConsentAt.is_not_null())
        .filter(user::Column::ObjectedAt.is_null())
        .filter(user::Column::RestrictedAt.is_null())
        .filter(user::Column::DeletionDueAt.is_null())
        .all(conn)
        .await
        .unexpected("reading training consents")?;
    let mut out = Vec::new();
    for person in people {
        let images = image::Entity::find()
            .filter(image::Column::UserId.eq(person.id))
            .filter(image::Column::PurgedAt.is_null())
            .order_by_asc(image::Column::CreatedAt)
            .all(conn)
            .await
            .unexpected("reading training images")?;
        let mut ids: Vec<Uuid> = images.iter().map(|i| i.generation_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let prompts: std::collections::HashMap<Uuid, String> = generation::Entity::find()
            .filter(generation::Column::Id.is_in(ids))
            .all(conn)
            .await
            .unexpected("reading training prompts")?
            .into_iter()
            .map(|g| (g.id, g.prompt))
            .collect();
        for img in images {
            out.push(TrainingImage {
                image_id: img.id,
                owner: person.id,
                prompt: prompts.get(&img.generation_id).cloned().unwrap_or_default(),
                original_path: img.original_path,
                created_at: img.created_at,
                consent_version: person.training_consent_version.clone().unwrap_or_default(),
            });
        }
    }
    Ok(out)
}
