//! Deleting an account (PRV-3).
//!
//! The person confirms it is them (password, two-factor code or a fresh
//! sign-in: [`crate::accounts::Accounts::require_recent_auth`]); the account
//! is then scheduled for deletion after a grace period
//! ([`super::PrivacyPolicy::deletion_grace`], 7 days by default). Until then
//! signing in shows the date and a cancel button, and the account is held
//! like a restricted one (no generating, sharing or buying). Once the date
//! has passed it can no longer be canceled, and [`deletion_pass`] (every
//! server) deletes it:
//!
//! 1. at the payment providers: running plans are canceled and the Stripe
//!    customer is deleted (a provider that cannot be reached leaves the
//!    account for the next pass: nothing is deleted half);
//! 2. every stored object under `users/<id>/` (images, uploads, exports);
//! 3. in one transaction: the security log and the reports the person filed
//!    lose their IP address, browser and address; contact messages,
//!    pending sign-ups and queued mail to the address go; the deletion
//!    request is closed; the `users` row is deleted, which deletes every
//!    row registered as `Cascade` in [`crate::personal_data`] and leaves the
//!    `Anonymized` ones (orders, subscriptions, requests) without the
//!    person; the goodbye mail is queued, and its row is erased once sent.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::requests::{self, status as request_status, RequestKind};
use super::{Privacy, PrivacyError};
use crate::accounts::{ClientInfo, CurrentUser};
use crate::entities::{
    audit_log, contact_message, mail_outbox, pending_signup, underage_report, user,
};
use crate::support::error::{ResultExt, Unexpected};
use crate::support::tx;

/// Accounts deleted per pass (the pass runs again soon).
const BATCH: u64 = 10;

impl Privacy {
    /// Schedules `who`'s account for deletion after the grace period, once
    /// they proved it is them; returns the date.
    pub async fn schedule_deletion(
        &self,
        who: &CurrentUser,
        password: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<DateTime<Utc>, PrivacyError> {
        self.accounts
            .require_recent_auth(who, password, code, client)
            .await?;
        let due = Utc::now() + self.policy.deletion_grace;
        let txn = tx::begin(&self.db).await?;
        let changed = user::Entity::update_many()
            .col_expr(user::Column::DeletionDueAt, Expr::value(due))
            .filter(user::Column::Id.eq(who.id))
            .filter(user::Column::DeletionDueAt.is_null())
            .exec(&txn)
            .await
            .unexpected("scheduling a deletion")?;
        if changed.rows_affected != 1 {
            return Err(PrivacyError::AlreadyScheduled);
        }
        let on = due.format("%-d %B %Y").to_string();
        requests::open(
            &txn,
            who.id,
            RequestKind::Deletion,
            Some(format!("scheduled for {on}")),
            Some(due),
        )
        .await?;
        crate::mail::enqueue(
            &txn,
            &self.key,
            Some(who.id),
            "deletion_scheduled",
            &who.email,
            crate::mail::templates::deletion_scheduled(&self.mail, &who.display_name, &on),
        )
        .await?;
        txn.commit().await.unexpected("scheduling a deletion")?;
        Ok(due)
    }

    /// Cancels a scheduled deletion whose date has not come.
    pub async fn cancel_deletion(&self, who: &CurrentUser) -> Result<(), PrivacyError> {
        let txn = tx::begin(&self.db).await?;
        let changed = user::Entity::update_many()
            .col_expr(
                user::Column::DeletionDueAt,
                Expr::value(None::<DateTime<Utc>>),
            )
            .filter(user::Column::Id.eq(who.id))
            .filter(user::Column::DeletionDueAt.gt(Utc::now()))
            .exec(&txn)
            .await
            .unexpected("canceling a deletion")?;
        if changed.rows_affected != 1 {
            return Err(PrivacyError::NotScheduled);
        }
        if let Some(open) = requests::open_of(&txn, who.id, RequestKind::Deletion).await? {
            requests::close(&txn, open.id, request_status::CANCELED).await?;
        }
        txn.commit().await.unexpected("canceling a deletion")?;
        Ok(())
    }
}

/// Deletes the accounts whose deletion date has passed; returns how many.
pub async fn deletion_pass(privacy: &Privacy) -> Result<usize, Unexpected> {
    let due: Vec<Uuid> = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::DeletionDueAt.lte(Utc::now()))
        .limit(BATCH)
        .into_tuple()
        .all(&privacy.db)
        .await
        .unexpected("finding accounts to delete")?;
    let mut deleted = 0;
    for id in due {
        match delete_account(privacy, id).await {
            Ok(()) => deleted += 1,
            Err(error) => {
                tracing::error!(?error, user = %id, "deleting an account failed; the next pass retries")
            }
        }
    }
    Ok(deleted)
}

/// Deletes account `id` now (see the module comment for the steps).
pub async fn delete_account(privacy: &Privacy, id: Uuid) -> Result<(), Unexpected> {
    privacy.billing.end_for_deletion(id).await?;
    privacy
        .blobs
        .delete_prefix(&crate::generation::user_prefix(id))
        .await
        .map_err(|e| Unexpected::new("deleting an account's files", e))?;
    let txn = tx::begin(&privacy.db).await?;
    let Some(person) = user::Entity::find_by_id(id)
        .one(&txn)
        .await
        .unexpected("reading an account to delete")?
    else {
        return Ok(());
    };
    scrub(&txn, &person).await?;
    if let Some(open) = requests::open_of(&txn, id, RequestKind::Deletion).await? {
        requests::close(&txn, open.id, request_status::DONE).await?;
    }
    let gone = user::Entity::delete_by_id(id)
        .exec(&txn)
        .await
        .unexpected("deleting an account")?;
    if gone.rows_affected != 1 {
        // Another server deleted it first (and sent the mail).
        return Ok(());
    }
    crate::mail::enqueue(
        &txn,
        &privacy.key,
        None,
        "account_deleted",
        &person.email,
        crate::mail::templates::account_deleted(&privacy.mail),
    )
    .await?;
    txn.commit().await.unexpected("deleting an account")?;
    tracing::info!(user = %id, "account deleted");
    Ok(())
}

/// Removes what the account's row does not reach by a foreign key.
async fn scrub(conn: &impl ConnectionTrait, person: &user::Model) -> Result<(), Unexpected> {
    audit_log::Entity::update_many()
        .col_expr(audit_log::Column::Ip, Expr::value(""))
        .col_expr(audit_log::Column::UserAgent, Expr::value(""))
        .col_expr(audit_log::Column::Detail, Expr::value(""))
        .filter(audit_log::Column::UserId.eq(person.id))
        .exec(conn)
        .await
        .unexpected("clearing an account's security log")?;
    underage_report::Entity::update_many()
        .col_expr(
            underage_report::Column::ReporterEmail,
            Expr::value(None::<String>),
        )
        .col_expr(underage_report::Column::Ip, Expr::value(""))
        .filter(underage_report::Column::ReporterUserId.eq(person.id))
        .exec(conn)
        .await
        .unexpected("clearing an account's reports")?;
    contact_message::Entity::delete_many()
        .filter(same_address(
            contact_message::Column::Email,
            &person.email_key,
        ))
        .exec(conn)
        .await
        .unexpected("deleting an account's contact messages")?;
    pending_signup::Entity::delete_many()
        .filter(same_address(
            pending_signup::Column::Email,
            &person.email_key,
        ))
        .exec(conn)
        .await
        .unexpected("deleting an account's pending sign-ups")?;
    mail_outbox::Entity::delete_many()
        .filter(same_address(
            mail_outbox::Column::ToAddress,
            &person.email_key,
        ))
        .exec(conn)
        .await
        .unexpected("deleting an account's mail")?;
    Ok(())
}

/// `lower(col) = key`: addresses are compared lower-cased.
pub(super) fn same_address(
    col: impl sea_orm::sea_query::IntoColumnRef,
    key: &str,
) -> sea_orm::sea_query::SimpleExpr {
    Expr::expr(sea_orm::sea_query::Func::lower(Expr::col(col))).eq(key.to_owned())
}
