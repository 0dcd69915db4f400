//! Credits (PAY-3): an append-only ledger and a balance row per person.
//!
//! Every change is one ledger entry with a unique idempotency key, written in
//! the same transaction as the balance update it describes; a key that is
//! already in the ledger means the change was applied before and nothing
//! happens. The balance cannot go negative, even under concurrency: a reserve
//! is one conditional `UPDATE … SET available = available - n WHERE
//! available >= n` (atomic on PostgreSQL and SQLite alike), and a CHECK
//! constraint backs it up.
//!
//! A job's credits move: reserve (available → held) when it is queued, then
//! capture (held → spent) on success or release (held → available) on
//! failure, refusal, cancellation or timeout. Capture and release are keyed
//! by the generation, so at most one of them happens, once.
//!
//! A refund takes its credits back ([`claw_back`]); what is no longer there
//! (already spent) becomes a debt instead of a negative balance. Credits
//! that arrive while a debt is owed settle it first, and nothing can be
//! reserved while it is above zero.

use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
    TransactionTrait,
};
use uuid::Uuid;

use crate::entities::{credit_balance, credit_ledger};
use crate::support::error::{ResultExt, Unexpected};

/// Ledger entry kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Grant,
    Reserve,
    Capture,
    Release,
    Refund,
    Adjust,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Grant => "grant",
            Kind::Reserve => "reserve",
            Kind::Capture => "capture",
            Kind::Release => "release",
            Kind::Refund => "refund",
            Kind::Adjust => "adjust",
        }
    }
}

/// Why credits could not be reserved.
#[derive(Debug, thiserror::Error)]
pub enum CreditError {
    #[error("not enough credits: this needs {needed}, you have {available}")]
    Insufficient { needed: i64, available: i64 },
    #[error("{owed} credits are owed from a refunded purchase")]
    InDebt { owed: i64 },
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// What a person has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Balance {
    pub available: i64,
    pub held: i64,
    /// Owed after a refund of credits already spent.
    pub debt: i64,
}

/// Credit rules that come from configuration.
#[derive(Debug, Clone, Copy)]
pub struct CreditPolicy {
    /// Credits given once to every account.
    pub signup_grant: i64,
}

impl Default for CreditPolicy {
    fn default() -> Self {
        Self { signup_grant: 50 }
    }
}

/// Makes sure `user` has a balance row; the first time, grants the sign-up
/// credits with it (idempotent: the grant's key is per user).
///
/// The balance row and the grant are written in one transaction (a savepoint
/// inside the caller's), so no one ever sees the new balance without its
/// grant: a generation submitted while the studio's first page load is
/// still granting waits for it instead of finding 0 credits.
pub async fn ensure_account<C>(db: &C, user: Uuid, policy: &CreditPolicy) -> Result<(), Unexpected>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = crate::support::tx::begin(db).await?;
    ensure_in(&txn, user, policy).await?;
    txn.commit().await.unexpected("creating a credit balance")
}

async fn ensure_in(
    db: &impl ConnectionTrait,
    user: Uuid,
    policy: &CreditPolicy,
) -> Result<(), Unexpected> {
    let inserted = credit_balance::Entity::insert(credit_balance::ActiveModel {
        user_id: Set(user),
        available: Set(0),
        held: Set(0),
        debt: Set(0),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(credit_balance::Column::UserId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .unexpected("creating a credit balance")?;
    if inserted == 1 && policy.signup_grant > 0 {
        apply(
            db,
            user,
            Kind::Grant,
            policy.signup_grant,
            0,
            None,
            &format!("signup-grant:{user}"),
            Some("welcome credits"),
        )
        .await?;
    }
    Ok(())
}

/// The balance of `user` (zero if they have none yet).
pub async fn balance(db: &impl ConnectionTrait, user: Uuid) -> Result<Balance, Unexpected> {
    Ok(credit_balance::Entity::find_by_id(user)
        .one(db)
        .await
        .unexpected("reading a credit balance")?
        .map(|b| Balance {
            available: b.available,
            held: b.held,
            debt: b.debt,
        })
        .unwrap_or_default())
}

/// Grants `amount` credits once per `key` (purchases, support adjustments).
pub async fn grant(
    db: &impl ConnectionTrait,
    user: Uuid,
    amount: i64,
    key: &str,
    note: Option<&str>,
) -> Result<bool, Unexpected> {
    ensure_in(db, user, &CreditPolicy { signup_grant: 0 }).await?;
    apply(db, user, Kind::Grant, amount, 0, None, key, note).await
}

/// Moves `amount` from available to held for `generation`. Call inside the
/// transaction that queues the job.
pub async fn reserve(
    db: &impl ConnectionTrait,
    user: Uuid,
    generation: Uuid,
    amount: i64,
) -> Result<(), CreditError> {
    let key = format!("reserve:{generation}");
    if already_applied(db, &key).await? {
        return Ok(());
    }
    let updated = credit_balance::Entity::update_many()
        .col_expr(
            credit_balance::Column::Available,
            Expr::col(credit_balance::Column::Available).sub(amount),
        )
        .col_expr(
            credit_balance::Column::Held,
            Expr::col(credit_balance::Column::Held).add(amount),
        )
        .col_expr(credit_balance::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(credit_balance::Column::UserId.eq(user))
        .filter(credit_balance::Column::Available.gte(amount))
        .filter(credit_balance::Column::Debt.eq(0))
        .exec(db)
        .await
        .unexpected("reserving credits")?;
    if updated.rows_affected == 0 {
        let now = balance(db, user).await?;
        if now.debt > 0 {
            return Err(CreditError::InDebt { owed: now.debt });
        }
        return Err(CreditError::Insufficient {
            needed: amount,
            available: now.available,
        });
    }
    record(
        db,
        user,
        Entry {
            kind: Kind::Reserve,
            amount: -amount,
            held_change: amount,
            debt_change: 0,
            generation: Some(generation),
            key: &key,
            note: None,
        },
    )
    .await?;
    Ok(())
}

/// Spends the credits held for `generation` (success). Returns whether this
/// call did it (false: it was captured or released before).
pub async fn capture(
    db: &impl ConnectionTrait,
    user: Uuid,
    generation: Uuid,
    amount: i64,
) -> Result<bool, Unexpected> {
    settle(db, user, generation, amount, Kind::Capture).await
}

/// Gives back the credits held for `generation` (failure, refusal, cancel,
/// timeout). Returns whether this call did it.
pub async fn release(
    db: &impl ConnectionTrait,
    user: Uuid,
    generation: Uuid,
    amount: i64,
) -> Result<bool, Unexpected> {
    settle(db, user, generation, amount, Kind::Release).await
}

async fn settle(
    db: &impl ConnectionTrait,
    user: Uuid,
    generation: Uuid,
    amount: i64,
    kind: Kind,
) -> Result<bool, Unexpected> {
    // One settlement per generation, whichever kind: the key does not name it.
    let key = format!("settle:{generation}");
    if amount == 0 || !already_applied(db, &format!("reserve:{generation}")).await? {
        return Ok(false);
    }
    let back = if kind == Kind::Release { amount } else { 0 };
    apply(db, user, kind, back, -amount, Some(generation), &key, None).await
}

/// The ledger entry written under `key`, if any.
pub async fn entry(
    db: &impl ConnectionTrait,
    key: &str,
) -> Result<Option<credit_ledger::Model>, Unexpected> {
    credit_ledger::Entity::find()
        .filter(credit_ledger::Column::IdempotencyKey.eq(key))
        .one(db)
        .await
        .unexpected("reading the credit ledger")
}

async fn already_applied(db: &impl ConnectionTrait, key: &str) -> Result<bool, Unexpected> {
    Ok(credit_ledger::Entity::find()
        .select_only()
        .column(credit_ledger::Column::Id)
        .filter(credit_ledger::Column::IdempotencyKey.eq(key))
        .into_tuple::<Uuid>()
        .one(db)
        .await
        .unexpected("reading the credit ledger")?
        .is_some())
}

/// One ledger entry.
struct Entry<'a> {
    kind: Kind,
    /// Change to `available`.
    amount: i64,
    held_change: i64,
    debt_change: i64,
    generation: Option<Uuid>,
    key: &'a str,
    note: Option<&'a str>,
}

/// Attempts at a change that lost a race with another one (debt).
const RACE_RETRIES: usize = 8;

/// Applies a change to available and held, once per `key`. Credits coming
/// in (a grant, a release) settle a debt first.
#[allow(clippy::too_many_arguments)]
async fn apply(
    db: &impl ConnectionTrait,
    user: Uuid,
    kind: Kind,
    amount: i64,
    held_change: i64,
    generation: Option<Uuid>,
    key: &str,
    note: Option<&str>,
) -> Result<bool, Unexpected> {
    if already_applied(db, key).await? {
        return Ok(false);
    }
    for _ in 0..RACE_RETRIES {
        // Only credits coming in can settle a debt: holds and charges (every
        // job) skip the read.
        let debt = if amount > 0 {
            balance(db, user).await?.debt
        } else {
            0
        };
        let settle = amount.min(debt).max(0);
        let mut update = credit_balance::Entity::update_many()
            .col_expr(
                credit_balance::Column::Available,
                Expr::col(credit_balance::Column::Available).add(amount - settle),
            )
            .col_expr(
                credit_balance::Column::Held,
                Expr::col(credit_balance::Column::Held).add(held_change),
            )
            .col_expr(credit_balance::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(credit_balance::Column::UserId.eq(user));
        if settle > 0 {
            update = update
                .col_expr(
                    credit_balance::Column::Debt,
                    Expr::col(credit_balance::Column::Debt).sub(settle),
                )
                .filter(credit_balance::Column::Debt.eq(debt));
        }
        let updated = update
            .exec(db)
            .await
            .unexpected("updating a credit balance")?;
        if updated.rows_affected == 0 && settle > 0 {
            continue; // the debt changed meanwhile: read it again
        }
        let settled_note = (settle > 0).then(|| {
            format!(
                "{}{settle} settled a debt",
                note.map(|n| format!("{n}; ")).unwrap_or_default()
            )
        });
        record(
            db,
            user,
            Entry {
                kind,
                amount: amount - settle,
                held_change,
                debt_change: -settle,
                generation,
                key,
                note: settled_note.as_deref().or(note),
            },
        )
        .await?;
        return Ok(true);
    }
    Err(Unexpected::new(
        "settling a debt",
        std::io::Error::other("the balance kept changing"),
    ))
}

/// Takes `credits` back (a refund), once per `key`: from what is available,
/// and what is no longer there becomes a debt. Returns (taken, owed), or
/// `None` when `key` was applied before.
pub async fn claw_back(
    db: &impl ConnectionTrait,
    user: Uuid,
    credits: i64,
    key: &str,
    note: Option<&str>,
) -> Result<Option<(i64, i64)>, Unexpected> {
    if credits <= 0 || already_applied(db, key).await? {
        return Ok(None);
    }
    ensure_in(db, user, &CreditPolicy { signup_grant: 0 }).await?;
    for _ in 0..RACE_RETRIES {
        let available = balance(db, user).await?.available;
        let taken = credits.min(available.max(0));
        let owed = credits - taken;
        let updated = credit_balance::Entity::update_many()
            .col_expr(
                credit_balance::Column::Available,
                Expr::col(credit_balance::Column::Available).sub(taken),
            )
            .col_expr(
                credit_balance::Column::Debt,
                Expr::col(credit_balance::Column::Debt).add(owed),
            )
            .col_expr(credit_balance::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(credit_balance::Column::UserId.eq(user))
            .filter(credit_balance::Column::Available.eq(available))
            .exec(db)
            .await
            .unexpected("taking credits back")?;
        if updated.rows_affected == 0 {
            continue; // spent or credited meanwhile: read it again
        }
        record(
            db,
            user,
            Entry {
                kind: Kind::Refund,
                amount: -taken,
                held_change: 0,
                debt_change: owed,
                generation: None,
                key,
                note,
            },
        )
        .await?;
        return Ok(Some((taken, owed)));
    }
    Err(Unexpected::new(
        "taking credits back",
        std::io::Error::other("the balance kept changing"),
    ))
}

async fn record(db: &impl ConnectionTrait, user: Uuid, e: Entry<'_>) -> Result<(), Unexpected> {
    let after = balance(db, user).await?.available;
    credit_ledger::Entity::insert(credit_ledger::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user),
        kind: Set(e.kind.as_str().into()),
        amount: Set(e.amount),
        held_change: Set(e.held_change),
        debt_change: Set(e.debt_change),
        balance_after: Set(after),
        generation_id: Set(e.generation),
        idempotency_key: Set(e.key.into()),
        note: Set(e.note.map(Into::into)),
        created_at: Set(Utc::now()),
    })
    .exec_without_returning(db)
    .await
    .unexpected("writing the credit ledger")?;
    Ok(())
}

/// Checks the ledger against the balance of `user`: the sums of the entries
/// must equal `available` and `held`. For tests and an admin health check.
pub async fn audit(db: &impl ConnectionTrait, user: Uuid) -> Result<bool, Unexpected> {
    let entries = credit_ledger::Entity::find()
        .filter(credit_ledger::Column::UserId.eq(user))
        .all(db)
        .await
        .unexpected("reading the credit ledger")?;
    let sum: i64 = entries.iter().map(|e| e.amount).sum();
    let held: i64 = entries.iter().map(|e| e.held_change).sum();
    let debt: i64 = entries.iter().map(|e| e.debt_change).sum();
    let b = balance(db, user).await?;
    Ok(sum == b.available && held == b.held && debt == b.debt)
}
