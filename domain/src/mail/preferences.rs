//! Settings -> Notifications: which mails beyond the transactional ones a
//! person gets. All are off until the person turns them on, except service
//! updates (about the service they use; one click turns them off).
//! Marketing needs consent, recorded with its time and where it was given
//! (`users.marketing_consent_at`, `marketing_consent_source`); withdrawing
//! it clears both.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::unsubscribe::{self, Category};
use crate::entities::user;
use crate::support::error::{ResultExt, Unexpected};

/// Where marketing consent was given: the settings page.
pub const SOURCE_SETTINGS: &str = "settings";

/// A person's mail preferences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preferences {
    pub generation_done: bool,
    pub expiry_reminders: bool,
    pub service_updates: bool,
    /// When and where marketing consent was given; `None`: not given.
    pub marketing: Option<(DateTime<Utc>, String)>,
}

impl Preferences {
    fn of(u: &user::Model) -> Self {
        Self {
            generation_done: u.notify_generation_done,
            expiry_reminders: u.expiry_reminders,
            service_updates: u.service_updates,
            marketing: u
                .marketing_consent_at
                .map(|at| (at, u.marketing_consent_source.clone().unwrap_or_default())),
        }
    }
}

/// The preferences of `user_id` (`None`: no such account).
pub async fn get(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Option<Preferences>, Unexpected> {
    Ok(user::Entity::find_by_id(user_id)
        .one(db)
        .await
        .unexpected("reading mail preferences")?
        .as_ref()
        .map(Preferences::of))
}

/// Turns `category` on or off for `user_id`. Turning marketing on records
/// `now` and `source` (kept as they were when consent was already given).
pub async fn set(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    category: Category,
    on: bool,
    source: &str,
    now: DateTime<Utc>,
) -> Result<(), Unexpected> {
    if !on {
        unsubscribe::apply(db, user_id, category).await?;
        return Ok(());
    }
    let update = user::Entity::update_many().filter(user::Column::Id.eq(user_id));
    let update = match category {
        Category::GenerationDone => {
            update.col_expr(user::Column::NotifyGenerationDone, Expr::value(true))
        }
        Category::ExpiryReminders => {
            update.col_expr(user::Column::ExpiryReminders, Expr::value(true))
        }
        Category::ServiceUpdates => {
            update.col_expr(user::Column::ServiceUpdates, Expr::value(true))
        }
        Category::Marketing => update
            .col_expr(user::Column::MarketingConsentAt, Expr::value(now))
            .col_expr(
                user::Column::MarketingConsentSource,
                Expr::value(crate::support::audit::truncate(source, 32)),
            )
            .filter(user::Column::MarketingConsentAt.is_null()),
    };
    update
        .exec(db)
        .await
        .unexpected("saving a mail preference")?;
    Ok(())
}
