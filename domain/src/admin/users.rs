//! People, as staff see and help them (ADM-1): search with filters, one
//! person's page (sessions and sign-ins, generations, credits, orders and
//! plans, privacy requests, flags), and the actions: disable and enable,
//! end sessions, resend the confirmation link (support); credit
//! adjustments and role changes (admin). Every action needs a reason where
//! it changes the person's access, data or money, and writes its audit row
//! in its own transaction (SEC-2).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Func, Query};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::audit::{self, Target};
use super::{Admin, AdminError, Staff};
use crate::accounts::{email_key, HistoryEntry, Role, SessionView};
use crate::billing::credits::{self, Adjusted, Balance};
use crate::entities::{
    credit_ledger, generation, moderation_flag, order, privacy_request, session, subscription,
    two_factor, user,
};
use crate::support::error::ResultExt;

/// People per page of the search.
pub const PAGE: u64 = 50;

/// Which people to list.
#[derive(Debug, Clone, Default)]
pub struct Search {
    /// Part of the e-mail address or display name (any case).
    pub text: Option<String>,
    pub role: Option<Role>,
    /// `active`, `disabled`, `deleting` or `unconfirmed`.
    pub status: Option<String>,
    /// Has a subscription that is not canceled.
    pub plan: Option<bool>,
    pub two_factor: Option<bool>,
    /// The last row of the previous page: (created_at, id).
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

/// One person in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRow {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub confirmed: bool,
    pub disabled: bool,
    pub deletion_due: Option<DateTime<Utc>>,
}

/// Everything staff see about one person.
#[derive(Debug, Clone)]
pub struct Person {
    pub account: user::Model,
    pub two_factor: bool,
    pub sessions: Vec<SessionView>,
    pub history: Vec<HistoryEntry>,
    /// (status, count).
    pub generations: Vec<(String, u64)>,
    pub balance: Balance,
    pub ledger: Vec<credit_ledger::Model>,
    pub orders: Vec<order::Model>,
    pub subscriptions: Vec<subscription::Model>,
    pub requests: Vec<privacy_request::Model>,
    pub open_flags: u64,
}

/// A search text: trimmed, at most 100 characters, `%` and `_` literal.
fn like_pattern(text: &str) -> Option<String> {
    let t: String = text.trim().to_lowercase().chars().take(100).collect();
    if t.is_empty() {
        return None;
    }
    let escaped = t
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    Some(format!("%{escaped}%"))
}

impl Admin {
    /// People matching `search`, newest first, [`PAGE`] at a time.
    pub async fn search_people(
        &self,
        _staff: &Staff,
        search: &Search,
    ) -> Result<Vec<PersonRow>, AdminError> {
        let mut q = user::Entity::find();
        if let Some(pattern) = search.text.as_deref().and_then(like_pattern) {
            q = q.filter(
                Condition::any()
                    .add(
                        Expr::col(user::Column::EmailKey)
                            .like(sea_orm::sea_query::LikeExpr::new(pattern.clone()).escape('\\')),
                    )
                    .add(
                        Expr::expr(Func::lower(Expr::col(user::Column::DisplayName)))
                            .like(sea_orm::sea_query::LikeExpr::new(pattern).escape('\\')),
                    ),
            );
        }
        if let Some(role) = search.role {
            q = q.filter(user::Column::Role.eq(role.as_str()));
        }
        match search.status.as_deref() {
            Some("disabled") => q = q.filter(user::Column::DisabledAt.is_not_null()),
            Some("deleting") => q = q.filter(user::Column::DeletionDueAt.is_not_null()),
            Some("unconfirmed") => q = q.filter(user::Column::EmailConfirmedAt.is_null()),
            Some("active") => {
                q = q
                    .filter(user::Column::DisabledAt.is_null())
                    .filter(user::Column::DeletionDueAt.is_null())
                    .filter(user::Column::EmailConfirmedAt.is_not_null())
            }
            _ => {}
        }
        if let Some(plan) = search.plan {
            let with_plan = Query::select()
                .column(subscription::Column::UserId)
                .from(subscription::Entity)
                .and_where(subscription::Column::UserId.is_not_null())
                .and_where(
                    subscription::Column::Status.is_not_in(["canceled", "incomplete_expired"]),
                )
                .to_owned();
            q = q.filter(if plan {
                user::Column::Id.in_subquery(with_plan)
            } else {
                user::Column::Id.not_in_subquery(with_plan)
            });
        }
        if let Some(on) = search.two_factor {
            let with_2fa = Query::select()
                .column(two_factor::Column::UserId)
                .from(two_factor::Entity)
                .and_where(two_factor::Column::EnabledAt.is_not_null())
                .to_owned();
            q = q.filter(if on {
                user::Column::Id.in_subquery(with_2fa)
            } else {
                user::Column::Id.not_in_subquery(with_2fa)
            });
        }
        if let Some((at, id)) = search.after {
            q = q.filter(
                Condition::any().add(user::Column::CreatedAt.lt(at)).add(
                    Condition::all()
                        .add(user::Column::CreatedAt.eq(at))
                        .add(user::Column::Id.lt(id)),
                ),
            );
        }
        let rows = q
            .order_by_desc(user::Column::CreatedAt)
            .order_by_desc(user::Column::Id)
            .limit(PAGE)
            .all(&self.db)
            .await
            .unexpected("searching people")?;
        Ok(rows
            .into_iter()
            .map(|u| PersonRow {
                id: u.id,
                email: u.email,
                display_name: u.display_name,
                role: u.role,
                created_at: u.created_at,
                confirmed: u.email_confirmed_at.is_some(),
                disabled: u.disabled_at.is_some(),
                deletion_due: u.deletion_due_at,
            })
            .collect())
    }

    /// One person's page.
    pub async fn person(&self, _staff: &Staff, id: Uuid) -> Result<Person, AdminError> {
        let account = user::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .unexpected("reading an account")?
            .ok_or(AdminError::NotFound)?;
        let generations: Vec<(String, i64)> = generation::Entity::find()
            .select_only()
            .column(generation::Column::Status)
            .column_as(generation::Column::Id.count(), "n")
            .filter(generation::Column::UserId.eq(id))
            .group_by(generation::Column::Status)
            .into_tuple()
            .all(&self.db)
            .await
            .unexpected("counting generations")?;
        Ok(Person {
            two_factor: self.accounts.two_factor_enabled(id).await?,
            sessions: self.accounts.sessions_of(id, None).await?,
            history: self.accounts.history_of(id).await?,
            generations: generations
                .into_iter()
                .map(|(s, n)| (s, u64::try_from(n).unwrap_or(0)))
                .collect(),
            balance: credits::balance(&self.db, id).await?,
            ledger: credit_ledger::Entity::find()
                .filter(credit_ledger::Column::UserId.eq(id))
                .order_by_desc(credit_ledger::Column::CreatedAt)
                .limit(30)
                .all(&self.db)
                .await
                .unexpected("reading a ledger")?,
            orders: order::Entity::find()
                .filter(order::Column::UserId.eq(id))
                .order_by_desc(order::Column::CreatedAt)
                .limit(30)
                .all(&self.db)
                .await
                .unexpected("reading orders")?,
            subscriptions: subscription::Entity::find()
                .filter(subscription::Column::UserId.eq(id))
                .order_by_desc(subscription::Column::CreatedAt)
                .all(&self.db)
                .await
                .unexpected("reading subscriptions")?,
            requests: privacy_request::Entity::find()
                .filter(privacy_request::Column::UserId.eq(id))
                .order_by_desc(privacy_request::Column::CreatedAt)
                .limit(30)
                .all(&self.db)
                .await
                .unexpected("reading privacy requests")?,
            open_flags: moderation_flag::Entity::find()
                .filter(moderation_flag::Column::UserId.eq(id))
                .filter(moderation_flag::Column::ReviewedAt.is_null())
                .count(&self.db)
                .await
                .unexpected("counting flags")?,
            account,
        })
    }

    /// The account with this e-mail address, for staff forms that name a
    /// person by address.
    pub async fn find_person(&self, email: &str) -> Result<Uuid, AdminError> {
        user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .filter(user::Column::EmailKey.eq(email_key(email.trim())))
            .into_tuple()
            .one(&self.db)
            .await
            .unexpected("looking up an account")?
            .ok_or_else(|| AdminError::invalid("email", "No account has this e-mail address."))
    }

    /// Disables (`true`) or enables the account: a disabled one cannot sign
    /// in, its sessions end now, and the reason is shown to the person.
    /// Staff cannot disable themselves; only admins disable staff.
    pub async fn set_disabled(
        &self,
        staff: &Staff,
        id: Uuid,
        disabled: bool,
        why: &str,
        request_id: Option<&str>,
    ) -> Result<(), AdminError> {
        let why = super::reason("reason", why)?;
        if id == staff.id() {
            return Err(AdminError::invalid(
                "reason",
                "You cannot disable or enable your own account.",
            ));
        }
        let txn = crate::support::tx::begin(&self.db).await?;
        let account = user::Entity::find_by_id(id)
            .one(&txn)
            .await
            .unexpected("reading an account")?
            .ok_or(AdminError::NotFound)?;
        if Role::from_stored(&account.role) != Role::User && !staff.is_admin() {
            return Err(AdminError::Forbidden);
        }
        let now = Utc::now();
        user::Entity::update_many()
            .col_expr(
                user::Column::DisabledAt,
                Expr::value(disabled.then_some(now)),
            )
            .col_expr(
                user::Column::DisabledReason,
                Expr::value(disabled.then(|| why.clone())),
            )
            .col_expr(user::Column::UpdatedAt, Expr::value(now))
            .filter(user::Column::Id.eq(id))
            .exec(&txn)
            .await
            .unexpected("disabling an account")?;
        if disabled {
            crate::accounts::sessions::end_sessions_on(
                &txn,
                session::Column::UserId.eq(id),
                "disabled",
            )
            .await?;
        }
        let action = if disabled {
            "user.disable"
        } else {
            "user.enable"
        };
        audit::record(&txn, staff, action, person(id), Some(&why), request_id).await?;
        txn.commit().await.unexpected("disabling an account")?;
        Ok(())
    }

    /// Ends every session of the account (it must sign in again);
    /// returns how many ended.
    pub async fn end_person_sessions(
        &self,
        staff: &Staff,
        id: Uuid,
        why: &str,
        request_id: Option<&str>,
    ) -> Result<u64, AdminError> {
        let why = super::reason("reason", why)?;
        let txn = crate::support::tx::begin(&self.db).await?;
        self.exists(&txn, id).await?;
        let n = crate::accounts::sessions::end_sessions_on(
            &txn,
            session::Column::UserId.eq(id),
            "ended_by_staff",
        )
        .await?;
        audit::record(
            &txn,
            staff,
            "user.end_sessions",
            person(id),
            Some(&why),
            request_id,
        )
        .await?;
        txn.commit().await.unexpected("ending sessions")?;
        Ok(n)
    }

    /// Gives (positive) or takes (negative) credits with an `adjust` ledger
    /// entry; admin only. `form_key` makes a repeated form apply once.
    pub async fn adjust_credits(
        &self,
        staff: &Staff,
        id: Uuid,
        amount: i64,
        why: &str,
        form_key: &str,
        request_id: Option<&str>,
    ) -> Result<Adjusted, AdminError> {
        if !staff.is_admin() {
            return Err(AdminError::Forbidden);
        }
        let why = super::reason("reason", why)?;
        if amount == 0 || amount.abs() > 1_000_000 {
            return Err(AdminError::invalid(
                "amount",
                "Enter a number of credits between -1,000,000 and 1,000,000, not 0.",
            ));
        }
        let key: String = format!("adjust:{}", form_key.trim())
            .chars()
            .take(100)
            .collect();
        if form_key.trim().len() < 8 {
            return Err(AdminError::invalid(
                "amount",
                "Reload the page and try again.",
            ));
        }
        let txn = crate::support::tx::begin(&self.db).await?;
        self.exists(&txn, id).await?;
        let note = format!("staff: {why}");
        let outcome = credits::adjust(&txn, id, amount, &key, Some(&note)).await?;
        if outcome == Adjusted::Done {
            audit::record(
                &txn,
                staff,
                "user.adjust_credits",
                Target {
                    user: Some(id),
                    other: Some(format!("credits:{amount:+}")),
                },
                Some(&why),
                request_id,
            )
            .await?;
        }
        txn.commit().await.unexpected("adjusting credits")?;
        Ok(outcome)
    }

    /// Changes the account's role (admin only; not one's own). Its sessions
    /// end, so new privileges start with a new session.
    pub async fn change_role(
        &self,
        staff: &Staff,
        id: Uuid,
        role: Role,
        why: &str,
        request_id: Option<&str>,
    ) -> Result<(), AdminError> {
        if !staff.is_admin() {
            return Err(AdminError::Forbidden);
        }
        let why = super::reason("reason", why)?;
        if id == staff.id() {
            return Err(AdminError::invalid(
                "role",
                "You cannot change your own role; ask another admin.",
            ));
        }
        let txn = crate::support::tx::begin(&self.db).await?;
        let account = user::Entity::find_by_id(id)
            .one(&txn)
            .await
            .unexpected("reading an account")?
            .ok_or(AdminError::NotFound)?;
        if account.role == role.as_str() {
            return Ok(());
        }
        user::Entity::update_many()
            .col_expr(user::Column::Role, Expr::value(role.as_str()))
            .col_expr(user::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(user::Column::Id.eq(id))
            .exec(&txn)
            .await
            .unexpected("changing a role")?;
        crate::accounts::sessions::end_sessions_on(
            &txn,
            session::Column::UserId.eq(id),
            "role_changed",
        )
        .await?;
        audit::record(
            &txn,
            staff,
            "user.role",
            Target {
                user: Some(id),
                other: Some(format!("{} -> {}", account.role, role.as_str())),
            },
            Some(&why),
            request_id,
        )
        .await?;
        txn.commit().await.unexpected("changing a role")?;
        Ok(())
    }

    /// Mails a fresh confirmation link to an unconfirmed account.
    pub async fn resend_confirmation(
        &self,
        staff: &Staff,
        id: Uuid,
        request_id: Option<&str>,
    ) -> Result<(), AdminError> {
        let txn = crate::support::tx::begin(&self.db).await?;
        let account = user::Entity::find_by_id(id)
            .one(&txn)
            .await
            .unexpected("reading an account")?
            .ok_or(AdminError::NotFound)?;
        if account.email_confirmed_at.is_some() {
            return Err(AdminError::invalid(
                "email",
                "This address is already confirmed.",
            ));
        }
        self.accounts
            .queue_confirmation(&txn, id, &account.email)
            .await?;
        audit::record(
            &txn,
            staff,
            "user.resend_confirmation",
            person(id),
            None,
            request_id,
        )
        .await?;
        txn.commit().await.unexpected("resending a confirmation")?;
        Ok(())
    }

    async fn exists(
        &self,
        conn: &impl sea_orm::ConnectionTrait,
        id: Uuid,
    ) -> Result<(), AdminError> {
        let n = user::Entity::find_by_id(id)
            .count(conn)
            .await
            .unexpected("reading an account")?;
        if n == 0 {
            return Err(AdminError::NotFound);
        }
        Ok(())
    }
}

fn person(id: Uuid) -> Target {
    Target {
        user: Some(id),
        other: None,
    }
}
