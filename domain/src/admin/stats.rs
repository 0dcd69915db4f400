//! The staff dashboard's figures (ADM-1): one `daily_stats` row per UTC
//! day, filled by the background job "daily stats" ([`pass`]), read by
//! [`Admin::dashboard`] together with a live count of today.
//!
//! What a day counts (all by UTC day):
//! - sign-ups: accounts created that day;
//! - active people: distinct people who, that day, signed in (a session
//!   created), were seen on a session (its `last_seen_at`), or asked for a
//!   generation (`queued_at`). A session only keeps the last time it was
//!   seen, so "seen" is exact for the day the job computes as today or
//!   yesterday; once a day is older its row is not recomputed (only a
//!   missing day is backfilled, and then from sign-ins, generations and
//!   sessions last seen that day);
//! - generations by outcome: jobs that finished that day, by final status
//!   (succeeded, failed, refused, cancelled);
//! - credits sold: the credits of orders paid that day; credits spent:
//!   credits captured by generations that day (ledger `capture` entries);
//! - revenue: the amounts of orders paid that day, per currency;
//! - refunds: ledger `refund` entries that day (their number and the
//!   credits taken back or owed), and the money refunded per currency of
//!   orders whose last change that day left them (partly) refunded.
//!
//! The job recomputes today and yesterday on every pass and backfills the
//! days of the last [`DAYS`] that have no row. Each row is an upsert keyed
//! by the day, so a rerun, or two servers running the job at once, leave
//! the same rows.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use sea_orm::sea_query::{Alias, Expr, OnConflict, Query, SimpleExpr, UnionType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set,
};

use super::{Admin, AdminError, Staff};
use crate::entities::generation::{self, Status};
use crate::entities::{credit_ledger, daily_stat, order, session, user};
use crate::support::error::{ResultExt, Unexpected};

/// How many days the dashboard shows and the job backfills.
pub const DAYS: i64 = 30;

/// How often the job runs.
pub const INTERVAL: std::time::Duration = std::time::Duration::from_secs(300);

/// Generations that ended on a day, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcomes {
    pub succeeded: i64,
    pub failed: i64,
    pub refused: i64,
    pub cancelled: i64,
}

impl Outcomes {
    pub fn total(&self) -> i64 {
        self.succeeded + self.failed + self.refused + self.cancelled
    }
}

/// One day's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayFigures {
    pub day: NaiveDate,
    pub signups: i64,
    pub active_people: i64,
    pub generations: Outcomes,
    pub credits_sold: i64,
    pub credits_spent: i64,
    pub refunds: i64,
    pub credits_refunded: i64,
    /// Currency (ISO 4217, lower case) -> minor units.
    pub revenue: BTreeMap<String, i64>,
    pub refunded: BTreeMap<String, i64>,
}

/// What the dashboard shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dashboard {
    /// Today so far, counted now.
    pub today: DayFigures,
    /// The last [`DAYS`] days, oldest first, today (live) last; a day the
    /// job has not written yet is all zeros.
    pub days: Vec<DayFigures>,
    /// When the job last wrote a row (`None`: never).
    pub computed_at: Option<DateTime<Utc>>,
}

impl Dashboard {
    /// The sum of a figure over [`Dashboard::days`].
    pub fn total(&self, figure: impl Fn(&DayFigures) -> i64) -> i64 {
        self.days.iter().map(figure).sum()
    }

    /// Revenue (or refunds) per currency over the days.
    pub fn money(
        &self,
        which: impl Fn(&DayFigures) -> &BTreeMap<String, i64>,
    ) -> BTreeMap<String, i64> {
        let mut sum = BTreeMap::new();
        for d in &self.days {
            for (currency, amount) in which(d) {
                *sum.entry(currency.clone()).or_insert(0) += amount;
            }
        }
        sum
    }
}

fn bounds(day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let from = day.and_time(NaiveTime::MIN).and_utc();
    (from, from + Duration::days(1))
}

fn day_key(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// `CAST(COALESCE(SUM(expr), 0) AS BIGINT)`: PostgreSQL's SUM of a
/// BIGINT is NUMERIC.
fn sum(expr: &str) -> SimpleExpr {
    Expr::cust(format!("CAST(COALESCE(SUM({expr}), 0) AS BIGINT)"))
}

async fn scalar(
    db: &impl ConnectionTrait,
    stmt: sea_orm::sea_query::SelectStatement,
    what: &'static str,
) -> Result<i64, Unexpected> {
    let row = db
        .query_one(db.get_database_backend().build(&stmt))
        .await
        .unexpected(what)?;
    Ok(match row {
        Some(row) => row.try_get::<i64>("", "n").unexpected(what)?,
        None => 0,
    })
}

/// Counts `day` from the source tables.
pub async fn compute(db: &impl ConnectionTrait, day: NaiveDate) -> Result<DayFigures, Unexpected> {
    let (from, to) = bounds(day);
    let signups = scalar(
        db,
        user::Entity::find()
            .select_only()
            .expr_as(Expr::cust("COUNT(*)"), "n")
            .filter(user::Column::CreatedAt.gte(from))
            .filter(user::Column::CreatedAt.lt(to))
            .into_query(),
        "counting sign-ups",
    )
    .await?;

    let mut people = session::Entity::find()
        .select_only()
        .column(session::Column::UserId)
        .filter(session::Column::CreatedAt.gte(from))
        .filter(session::Column::CreatedAt.lt(to))
        .into_query();
    people
        .union(
            UnionType::Distinct,
            session::Entity::find()
                .select_only()
                .column(session::Column::UserId)
                .filter(session::Column::LastSeenAt.gte(from))
                .filter(session::Column::LastSeenAt.lt(to))
                .into_query(),
        )
        .union(
            UnionType::Distinct,
            generation::Entity::find()
                .select_only()
                .column(generation::Column::UserId)
                .filter(generation::Column::QueuedAt.gte(from))
                .filter(generation::Column::QueuedAt.lt(to))
                .into_query(),
        );
    let active_people = scalar(
        db,
        Query::select()
            .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
            .from_subquery(people, Alias::new("active"))
            .to_owned(),
        "counting active people",
    )
    .await?;

    let by_status: Vec<(Status, i64)> = generation::Entity::find()
        .select_only()
        .column(generation::Column::Status)
        .expr(Expr::cust("COUNT(*)"))
        .filter(generation::Column::FinishedAt.gte(from))
        .filter(generation::Column::FinishedAt.lt(to))
        .group_by(generation::Column::Status)
        .into_tuple()
        .all(db)
        .await
        .unexpected("counting generations by outcome")?;
    let mut generations = Outcomes::default();
    for (status, n) in by_status {
        match status {
            Status::Succeeded => generations.succeeded += n,
            Status::Failed => generations.failed += n,
            Status::Refused => generations.refused += n,
            Status::Cancelled => generations.cancelled += n,
            Status::Queued | Status::Running => {}
        }
    }

    let sales: Vec<(String, i64, i64)> = order::Entity::find()
        .select_only()
        .column(order::Column::Currency)
        .expr(sum("amount"))
        .expr(sum("credits"))
        .filter(order::Column::PaidAt.gte(from))
        .filter(order::Column::PaidAt.lt(to))
        .group_by(order::Column::Currency)
        .into_tuple()
        .all(db)
        .await
        .unexpected("adding up the day's sales")?;
    let mut revenue = BTreeMap::new();
    let mut credits_sold = 0;
    for (currency, amount, credits) in sales {
        *revenue.entry(currency).or_insert(0) += amount;
        credits_sold += credits;
    }

    let credits_spent = scalar(
        db,
        credit_ledger::Entity::find()
            .select_only()
            .expr_as(sum("-held_change"), "n")
            .filter(credit_ledger::Column::Kind.eq("capture"))
            .filter(credit_ledger::Column::CreatedAt.gte(from))
            .filter(credit_ledger::Column::CreatedAt.lt(to))
            .into_query(),
        "adding up the credits spent",
    )
    .await?;
    let (refunds, credits_refunded): (i64, i64) = credit_ledger::Entity::find()
        .select_only()
        .expr(Expr::cust("COUNT(*)"))
        .expr(sum("debt_change - amount"))
        .filter(credit_ledger::Column::Kind.eq("refund"))
        .filter(credit_ledger::Column::CreatedAt.gte(from))
        .filter(credit_ledger::Column::CreatedAt.lt(to))
        .into_tuple()
        .one(db)
        .await
        .unexpected("counting refunds")?
        .unwrap_or_default();
    let refunded_money: Vec<(String, i64)> = order::Entity::find()
        .select_only()
        .column(order::Column::Currency)
        .expr(sum("refunded_amount"))
        .filter(order::Column::RefundedAmount.gt(0))
        .filter(order::Column::UpdatedAt.gte(from))
        .filter(order::Column::UpdatedAt.lt(to))
        .group_by(order::Column::Currency)
        .into_tuple()
        .all(db)
        .await
        .unexpected("adding up the day's refunds")?;

    Ok(DayFigures {
        day,
        signups,
        active_people,
        generations,
        credits_sold,
        credits_spent,
        refunds,
        credits_refunded,
        revenue,
        refunded: refunded_money.into_iter().collect(),
    })
}

fn money_json(m: &BTreeMap<String, i64>) -> String {
    serde_json::to_string(m).unwrap_or_else(|_| "{}".to_owned())
}

fn from_row(row: daily_stat::Model) -> Option<DayFigures> {
    Some(DayFigures {
        day: NaiveDate::parse_from_str(&row.day, "%Y-%m-%d").ok()?,
        signups: row.signups,
        active_people: row.active_people,
        generations: Outcomes {
            succeeded: row.generations_succeeded,
            failed: row.generations_failed,
            refused: row.generations_refused,
            cancelled: row.generations_cancelled,
        },
        credits_sold: row.credits_sold,
        credits_spent: row.credits_spent,
        refunds: row.refunds,
        credits_refunded: row.credits_refunded,
        revenue: serde_json::from_str(&row.revenue).unwrap_or_default(),
        refunded: serde_json::from_str(&row.refunded).unwrap_or_default(),
    })
}

/// Writes (or rewrites) the row of `f.day`.
pub async fn store(
    db: &impl ConnectionTrait,
    f: &DayFigures,
    now: DateTime<Utc>,
) -> Result<(), Unexpected> {
    use daily_stat::Column as C;
    daily_stat::Entity::insert(daily_stat::ActiveModel {
        day: Set(day_key(f.day)),
        signups: Set(f.signups),
        active_people: Set(f.active_people),
        generations_succeeded: Set(f.generations.succeeded),
        generations_failed: Set(f.generations.failed),
        generations_refused: Set(f.generations.refused),
        generations_cancelled: Set(f.generations.cancelled),
        credits_sold: Set(f.credits_sold),
        credits_spent: Set(f.credits_spent),
        refunds: Set(f.refunds),
        credits_refunded: Set(f.credits_refunded),
        revenue: Set(money_json(&f.revenue)),
        refunded: Set(money_json(&f.refunded)),
        computed_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(C::Day)
            .update_columns([
                C::Signups,
                C::ActivePeople,
                C::GenerationsSucceeded,
                C::GenerationsFailed,
                C::GenerationsRefused,
                C::GenerationsCancelled,
                C::CreditsSold,
                C::CreditsSpent,
                C::Refunds,
                C::CreditsRefunded,
                C::Revenue,
                C::Refunded,
                C::ComputedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .unexpected("writing a day's figures")?;
    Ok(())
}

/// One run of the job: recomputes today and yesterday, and every day of
/// the last [`DAYS`] without a row. Returns the days written.
pub async fn refresh(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<usize, Unexpected> {
    let today = now.date_naive();
    let first = today - Duration::days(DAYS - 1);
    let have: HashSet<String> = daily_stat::Entity::find()
        .select_only()
        .column(daily_stat::Column::Day)
        .filter(daily_stat::Column::Day.gte(day_key(first)))
        .into_tuple::<String>()
        .all(db)
        .await
        .unexpected("reading which days have figures")?
        .into_iter()
        .collect();
    let mut days: Vec<NaiveDate> = first
        .iter_days()
        .take_while(|d| *d <= today)
        .filter(|d| *d >= today - Duration::days(1) || !have.contains(&day_key(*d)))
        .collect();
    days.sort();
    for day in &days {
        let figures = compute(db, *day).await?;
        store(db, &figures, now).await?;
    }
    Ok(days.len())
}

/// The background job "daily stats": one [`refresh`], failures logged.
pub async fn pass(db: &DatabaseConnection) {
    match refresh(db, Utc::now()).await {
        Ok(n) => tracing::debug!(days = n, "daily stats written"),
        Err(e) => tracing::error!(error = ?e, "writing the daily stats failed"),
    }
}

impl Admin {
    /// The dashboard: the last [`DAYS`] days from `daily_stats`, today
    /// counted live.
    pub async fn dashboard(
        &self,
        _staff: &Staff,
        now: DateTime<Utc>,
    ) -> Result<Dashboard, AdminError> {
        let today_day = now.date_naive();
        let first = today_day - Duration::days(DAYS - 1);
        let rows = daily_stat::Entity::find()
            .filter(daily_stat::Column::Day.gte(day_key(first)))
            .filter(daily_stat::Column::Day.lt(day_key(today_day)))
            .order_by_asc(daily_stat::Column::Day)
            .all(&self.db)
            .await
            .unexpected("reading the daily stats")?;
        let computed_at = daily_stat::Entity::find()
            .order_by_desc(daily_stat::Column::ComputedAt)
            .one(&self.db)
            .await
            .unexpected("reading the daily stats")?
            .map(|r| r.computed_at);
        let mut stored: BTreeMap<NaiveDate, DayFigures> = rows
            .into_iter()
            .filter_map(from_row)
            .map(|f| (f.day, f))
            .collect();
        let today = compute(&self.db, today_day).await?;
        let days = first
            .iter_days()
            .take_while(|d| *d < today_day)
            .map(|day| {
                stored.remove(&day).unwrap_or(DayFigures {
                    day,
                    ..Default::default()
                })
            })
            .chain(std::iter::once(today.clone()))
            .collect();
        Ok(Dashboard {
            today,
            days,
            computed_at,
        })
    }
}
