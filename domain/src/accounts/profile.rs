//! The person corrects their own profile (PRV-1): the display name. Each
//! change is recorded as a done `correction` request. And the privacy
//! policy notice they dismissed (POL-1).

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::signup::parse_display_name;
use super::{AccountError, Accounts, CurrentUser};
use crate::entities::user;
use crate::privacy::RequestKind;
use crate::support::error::ResultExt;
use crate::support::tx;

impl Accounts {
    /// Changes `who`'s display name; returns it as stored.
    pub async fn set_display_name(
        &self,
        who: &CurrentUser,
        name: &str,
    ) -> Result<String, AccountError> {
        let name = parse_display_name(name)?;
        if name == who.display_name {
            return Ok(name);
        }
        let txn = tx::begin(&self.db).await?;
        user::Entity::update_many()
            .col_expr(user::Column::DisplayName, Expr::value(name.clone()))
            .col_expr(user::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(user::Column::Id.eq(who.id))
            .exec(&txn)
            .await
            .unexpected("changing a display name")?;
        crate::privacy::requests::done_now(
            &txn,
            who.id,
            RequestKind::Correction,
            "display name changed",
        )
        .await?;
        txn.commit().await.unexpected("changing a display name")?;
        Ok(name)
    }
}

impl Accounts {
    /// Records that `who` saw the notice of the current privacy policy.
    pub async fn policy_seen(&self, who: &CurrentUser) -> Result<(), AccountError> {
        user::Entity::update_many()
            .col_expr(
                user::Column::PolicySeenVersion,
                Expr::value(crate::privacy::POLICY_VERSION),
            )
            .filter(user::Column::Id.eq(who.id))
            .exec(&self.db)
            .await
            .unexpected("recording a policy notice as seen")?;
        Ok(())
    }
}
