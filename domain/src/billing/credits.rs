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
//!
//! A plan's credits for a period expire at its end ([`grant_expiring`]):
//! `expiring` is the part of `available` that goes at `expiring_until`.
//! Spending takes expiring credits first (the oldest-expiring first: pack
//! credits never expire), a job that fails gives them back to the same
//! lot, and [`expire_due`] writes an `expire` entry for what is left when
//! the period is over.

use chrono::{DateTime, Utc};
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
    Expire,
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
            Kind::Expire => "expire",
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
    /// The part of `available` that expires at `expiring_until`.
    pub expiring: i64,
    pub expiring_until: Option<DateTime<Utc>>,
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
        expiring: Set(0),
        expiring_until: Set(None),
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
            Change::incoming(Kind::Grant, policy.signup_grant),
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
            expiring: b.expiring,
            expiring_until: b.expiring_until,
        })
        .unwrap_or_default())
}

/// The balances of `users` (one statement per 1,000 people); a person
/// without a balance row is missing from the map (their balance is the
/// default, as with [`balance`]).
pub async fn balances(
    db: &impl ConnectionTrait,
    users: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Balance>, Unexpected> {
    let mut out = std::collections::HashMap::with_capacity(users.len());
    for chunk in users.chunks(1000) {
        let rows = credit_balance::Entity::find()
            .filter(credit_balance::Column::UserId.is_in(chunk.iter().copied()))
            .all(db)
            .await
            .unexpected("reading credit balances")?;
        out.extend(rows.into_iter().map(|b| {
            (
                b.user_id,
                Balance {
                    available: b.available,
                    held: b.held,
                    debt: b.debt,
                    expiring: b.expiring,
                    expiring_until: b.expiring_until,
                },
            )
        }));
    }
    Ok(out)
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
    apply(db, user, Change::incoming(Kind::Grant, amount), key, note).await
}

/// Grants `amount` credits that expire at `until` (a plan's credits for a
/// period), once per `key`. What is left of an earlier period that is over
/// expires first; a lot still running takes them in and keeps the later
/// of the two ends.
pub async fn grant_expiring(
    db: &impl ConnectionTrait,
    user: Uuid,
    amount: i64,
    until: DateTime<Utc>,
    key: &str,
    note: Option<&str>,
) -> Result<bool, Unexpected> {
    ensure_in(db, user, &CreditPolicy { signup_grant: 0 }).await?;
    if already_applied(db, key).await? {
        return Ok(false);
    }
    expire_due(db, user, Utc::now()).await?;
    let change = Change {
        expiring: amount,
        until: Some(until),
        ..Change::incoming(Kind::Grant, amount)
    };
    apply(db, user, change, key, note).await
}

/// Expires what is left of `user`'s expiring credits if their period ended
/// by `now` (an `expire` entry, once per period end). Returns the credits
/// that expired.
pub async fn expire_due(
    db: &impl ConnectionTrait,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<i64, Unexpected> {
    for _ in 0..RACE_RETRIES {
        let b = balance(db, user).await?;
        let Some(until) = b.expiring_until.filter(|u| *u <= now) else {
            return Ok(0);
        };
        let gone = b.expiring.clamp(0, b.available.max(0));
        let updated = credit_balance::Entity::update_many()
            .col_expr(
                credit_balance::Column::Available,
                Expr::col(credit_balance::Column::Available).sub(gone),
            )
            .col_expr(credit_balance::Column::Expiring, Expr::value(0i64))
            .col_expr(
                credit_balance::Column::ExpiringUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(credit_balance::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(credit_balance::Column::UserId.eq(user))
            .filter(credit_balance::Column::Expiring.eq(b.expiring))
            .filter(credit_balance::Column::ExpiringUntil.eq(until))
            .filter(credit_balance::Column::Available.eq(b.available))
            .exec(db)
            .await
            .unexpected("expiring credits")?;
        if updated.rows_affected == 0 {
            continue; // spent or granted meanwhile: read it again
        }
        if b.expiring != 0 {
            record(
                db,
                user,
                Entry {
                    kind: Kind::Expire,
                    amount: -gone,
                    held_change: 0,
                    debt_change: 0,
                    expiring_change: -b.expiring,
                    generation: None,
                    key: &format!("expire:{user}:{}", until.timestamp()),
                    note: Some("plan credits of a period that ended"),
                },
            )
            .await?;
        }
        return Ok(gone);
    }
    Err(Unexpected::new(
        "expiring credits",
        std::io::Error::other("the balance kept changing"),
    ))
}

/// How often servers look for plan credits whose period ended.
pub const EXPIRY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(300);

/// Expires the credits of every period that ended by `now`, each person in
/// a transaction of their own; returns how many people had some expire.
/// Run periodically by every server (the entry's key makes it once).
pub async fn expire_pass<C>(db: &C, now: DateTime<Utc>) -> Result<usize, Unexpected>
where
    C: ConnectionTrait + TransactionTrait,
{
    let due: Vec<Uuid> = credit_balance::Entity::find()
        .select_only()
        .column(credit_balance::Column::UserId)
        .filter(credit_balance::Column::ExpiringUntil.lte(now))
        .limit(500)
        .into_tuple()
        .all(db)
        .await
        .unexpected("finding credits to expire")?;
    let mut expired = 0;
    for user in due {
        let txn = crate::support::tx::begin(db).await?;
        if expire_due(&txn, user, now).await? > 0 {
            expired += 1;
        }
        txn.commit().await.unexpected("expiring credits")?;
    }
    Ok(expired)
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
    for _ in 0..RACE_RETRIES {
        let now = balance(db, user).await?;
        if now.debt > 0 {
            return Err(CreditError::InDebt { owed: now.debt });
        }
        if now.available < amount {
            return Err(CreditError::Insufficient {
                needed: amount,
                available: now.available,
            });
        }
        // Expiring credits go first.
        let from_expiring = amount.min(now.expiring).max(0);
        let updated = credit_balance::Entity::update_many()
            .col_expr(
                credit_balance::Column::Available,
                Expr::col(credit_balance::Column::Available).sub(amount),
            )
            .col_expr(
                credit_balance::Column::Held,
                Expr::col(credit_balance::Column::Held).add(amount),
            )
            .col_expr(
                credit_balance::Column::Expiring,
                Expr::value(now.expiring - from_expiring),
            )
            .col_expr(credit_balance::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(credit_balance::Column::UserId.eq(user))
            .filter(credit_balance::Column::Available.gte(amount))
            .filter(credit_balance::Column::Expiring.eq(now.expiring))
            .filter(credit_balance::Column::Debt.eq(0))
            .exec(db)
            .await
            .unexpected("reserving credits")?;
        if updated.rows_affected == 0 {
            continue; // the balance changed meanwhile: read it again
        }
        record(
            db,
            user,
            Entry {
                kind: Kind::Reserve,
                amount: -amount,
                held_change: amount,
                debt_change: 0,
                expiring_change: -from_expiring,
                generation: Some(generation),
                key: &key,
                note: None,
            },
        )
        .await?;
        return Ok(());
    }
    Err(CreditError::Unexpected(Unexpected::new(
        "reserving credits",
        std::io::Error::other("the balance kept changing"),
    )))
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
    let Some(reserved) = entry(db, &format!("reserve:{generation}")).await? else {
        return Ok(false);
    };
    if amount == 0 {
        return Ok(false);
    }
    let change = if kind == Kind::Release {
        // Expiring credits go back to their lot (if it is still running).
        Change {
            held_change: -amount,
            generation: Some(generation),
            expiring: -reserved.expiring_change,
            ..Change::incoming(kind, amount)
        }
    } else {
        Change {
            held_change: -amount,
            generation: Some(generation),
            ..Change::incoming(kind, 0)
        }
    };
    apply(db, user, change, &key, None).await
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
    expiring_change: i64,
    generation: Option<Uuid>,
    key: &'a str,
    note: Option<&'a str>,
}

/// A change [`apply`] makes.
#[derive(Debug, Clone, Copy)]
struct Change {
    kind: Kind,
    /// Credits coming in (>= 0), or spent.
    amount: i64,
    held_change: i64,
    generation: Option<Uuid>,
    /// How much of `amount` is expiring credits.
    expiring: i64,
    /// When a new lot of expiring credits ends (`None`: they join the
    /// running lot, or become lasting credits when there is none).
    until: Option<DateTime<Utc>>,
}

impl Change {
    fn incoming(kind: Kind, amount: i64) -> Self {
        Self {
            kind,
            amount,
            held_change: 0,
            generation: None,
            expiring: 0,
            until: None,
        }
    }
}

/// Attempts at a change that lost a race with another one (debt).
const RACE_RETRIES: usize = 8;

/// Applies a change to available and held, once per `key`. Credits coming
/// in (a grant, a release) settle a debt first (expiring ones first).
async fn apply(
    db: &impl ConnectionTrait,
    user: Uuid,
    change: Change,
    key: &str,
    note: Option<&str>,
) -> Result<bool, Unexpected> {
    if already_applied(db, key).await? {
        return Ok(false);
    }
    let Change {
        kind,
        amount,
        held_change,
        generation,
        ..
    } = change;
    for _ in 0..RACE_RETRIES {
        // Only credits coming in can settle a debt or join a lot: holds
        // and charges (every job) skip the read.
        let now = if amount > 0 {
            balance(db, user).await?
        } else {
            Balance::default()
        };
        let settle = amount.min(now.debt).max(0);
        // Expiring credits that arrive: the debt takes them first; with no
        // lot running and no new one, they last.
        let mut expiring_in = (change.expiring.min(amount) - settle).max(0);
        // A lot that ended but is not expired yet takes released credits
        // back; [`expire_due`] expires them with it.
        let until = match (change.until, now.expiring_until) {
            (Some(new), Some(old)) => Some(new.max(old)),
            (new, old) => new.or(old),
        };
        if until.is_none() {
            expiring_in = 0;
        }
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
                .filter(credit_balance::Column::Debt.eq(now.debt));
        }
        if expiring_in > 0 {
            // A new period's grant expires the old lot first
            // ([`grant_expiring`]), so lots only merge while both run.
            update = update
                .col_expr(
                    credit_balance::Column::Expiring,
                    Expr::value(now.expiring + expiring_in),
                )
                .col_expr(credit_balance::Column::ExpiringUntil, Expr::value(until))
                .filter(credit_balance::Column::Expiring.eq(now.expiring))
                .filter(match now.expiring_until {
                    Some(u) => credit_balance::Column::ExpiringUntil.eq(u),
                    None => credit_balance::Column::ExpiringUntil.is_null(),
                });
        }
        let updated = update
            .exec(db)
            .await
            .unexpected("updating a credit balance")?;
        if updated.rows_affected == 0 && (settle > 0 || expiring_in > 0) {
            continue; // the balance changed meanwhile: read it again
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
                expiring_change: expiring_in,
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
        let now = balance(db, user).await?;
        let available = now.available;
        let taken = credits.min(available.max(0));
        let owed = credits - taken;
        // Expiring credits are taken first, as in spending.
        let from_expiring = taken.min(now.expiring).max(0);
        let updated = credit_balance::Entity::update_many()
            .col_expr(
                credit_balance::Column::Available,
                Expr::col(credit_balance::Column::Available).sub(taken),
            )
            .col_expr(
                credit_balance::Column::Expiring,
                Expr::value(now.expiring - from_expiring),
            )
            .filter(credit_balance::Column::Expiring.eq(now.expiring))
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
                expiring_change: -from_expiring,
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

/// What a staff credit adjustment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adjusted {
    Done,
    /// The key was applied before (a repeated form).
    AlreadyApplied,
    /// Taking more than is available is refused: an adjustment never
    /// makes a debt.
    NotEnough {
        available: i64,
    },
}

/// A staff adjustment of `amount` credits (an `adjust` entry), once per
/// `key`: positive gives (settling a debt first, like any credit coming
/// in), negative takes from what is available (lasting credits first).
pub async fn adjust(
    db: &impl ConnectionTrait,
    user: Uuid,
    amount: i64,
    key: &str,
    note: Option<&str>,
) -> Result<Adjusted, Unexpected> {
    ensure_in(db, user, &CreditPolicy { signup_grant: 0 }).await?;
    if amount >= 0 {
        let applied = apply(db, user, Change::incoming(Kind::Adjust, amount), key, note).await?;
        return Ok(if applied {
            Adjusted::Done
        } else {
            Adjusted::AlreadyApplied
        });
    }
    if already_applied(db, key).await? {
        return Ok(Adjusted::AlreadyApplied);
    }
    let taking = -amount;
    for _ in 0..RACE_RETRIES {
        let now = balance(db, user).await?;
        if now.available < taking {
            return Ok(Adjusted::NotEnough {
                available: now.available,
            });
        }
        let from_expiring = (taking - (now.available - now.expiring)).max(0);
        let updated = credit_balance::Entity::update_many()
            .col_expr(
                credit_balance::Column::Available,
                Expr::col(credit_balance::Column::Available).sub(taking),
            )
            .col_expr(
                credit_balance::Column::Expiring,
                Expr::value(now.expiring - from_expiring),
            )
            .col_expr(credit_balance::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(credit_balance::Column::UserId.eq(user))
            .filter(credit_balance::Column::Available.eq(now.available))
            .filter(credit_balance::Column::Expiring.eq(now.expiring))
            .exec(db)
            .await
            .unexpected("adjusting credits")?;
        if updated.rows_affected == 0 {
            continue; // spent or credited meanwhile: read it again
        }
        record(
            db,
            user,
            Entry {
                kind: Kind::Adjust,
                amount: -taking,
                held_change: 0,
                debt_change: 0,
                expiring_change: -from_expiring,
                generation: None,
                key,
                note,
            },
        )
        .await?;
        return Ok(Adjusted::Done);
    }
    Err(Unexpected::new(
        "adjusting credits",
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
        expiring_change: Set(e.expiring_change),
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
    let expiring: i64 = entries.iter().map(|e| e.expiring_change).sum();
    let b = balance(db, user).await?;
    Ok(sum == b.available && held == b.held && debt == b.debt && expiring == b.expiring)
}
