//! The staff dashboard's server function (ADM-1): the last 30 days of
//! `daily_stats` and today counted live (`uni1_domain::admin::stats`),
//! as ready-to-show figures and chart series. The page is
//! `pages::admin_dashboard`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One period's figures (today, or the 30 days).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiguresDto {
    pub signups: i64,
    /// Today: people active today; 30 days: the average per day.
    pub active_people: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub refused: i64,
    pub cancelled: i64,
    pub credits_sold: i64,
    pub credits_spent: i64,
    pub refunds: i64,
    pub credits_refunded: i64,
    /// "€12.00", one per currency; empty: none.
    pub revenue: Vec<String>,
    pub refunded: Vec<String>,
}

/// One day of the charts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayDto {
    /// "2026-12-05".
    pub day: String,
    pub signups: i64,
    pub active_people: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub refused: i64,
    pub cancelled: i64,
    pub credits_sold: i64,
    pub credits_spent: i64,
    pub refunds: i64,
    /// Minor units per currency, in the order of [`DashboardDto::currencies`].
    pub revenue: Vec<i64>,
}

/// What the dashboard shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardDto {
    pub today: FiguresDto,
    pub month: FiguresDto,
    /// Oldest first; the last one is today.
    pub days: Vec<DayDto>,
    /// Currencies (lower case) with revenue in the period.
    pub currencies: Vec<String>,
    /// "2026-12-05 04:40 UTC", or "not yet".
    pub computed_at: String,
}

#[cfg(feature = "ssr")]
mod server {
    use std::collections::BTreeMap;

    use uni1_domain::admin::stats::{Dashboard, DayFigures};
    use uni1_domain::billing::catalog::price_label;

    use super::{DashboardDto, DayDto, FiguresDto};

    fn money(m: &BTreeMap<String, i64>) -> Vec<String> {
        m.iter()
            .filter(|(_, v)| **v != 0)
            .map(|(c, v)| price_label(*v, c))
            .collect()
    }

    fn figures(f: &DayFigures) -> FiguresDto {
        FiguresDto {
            signups: f.signups,
            active_people: f.active_people,
            succeeded: f.generations.succeeded,
            failed: f.generations.failed,
            refused: f.generations.refused,
            cancelled: f.generations.cancelled,
            credits_sold: f.credits_sold,
            credits_spent: f.credits_spent,
            refunds: f.refunds,
            credits_refunded: f.credits_refunded,
            revenue: money(&f.revenue),
            refunded: money(&f.refunded),
        }
    }

    pub fn dto(d: &Dashboard) -> DashboardDto {
        let revenue = d.money(|f| &f.revenue);
        let currencies: Vec<String> = revenue.keys().cloned().collect();
        let days = d.days.len().max(1) as i64;
        let month = FiguresDto {
            signups: d.total(|f| f.signups),
            active_people: d.total(|f| f.active_people) / days,
            succeeded: d.total(|f| f.generations.succeeded),
            failed: d.total(|f| f.generations.failed),
            refused: d.total(|f| f.generations.refused),
            cancelled: d.total(|f| f.generations.cancelled),
            credits_sold: d.total(|f| f.credits_sold),
            credits_spent: d.total(|f| f.credits_spent),
            refunds: d.total(|f| f.refunds),
            credits_refunded: d.total(|f| f.credits_refunded),
            revenue: money(&revenue),
            refunded: money(&d.money(|f| &f.refunded)),
        };
        DashboardDto {
            today: figures(&d.today),
            month,
            days: d
                .days
                .iter()
                .map(|f| DayDto {
                    day: f.day.format("%Y-%m-%d").to_string(),
                    signups: f.signups,
                    active_people: f.active_people,
                    succeeded: f.generations.succeeded,
                    failed: f.generations.failed,
                    refused: f.generations.refused,
                    cancelled: f.generations.cancelled,
                    credits_sold: f.credits_sold,
                    credits_spent: f.credits_spent,
                    refunds: f.refunds,
                    revenue: currencies
                        .iter()
                        .map(|c| f.revenue.get(c).copied().unwrap_or(0))
                        .collect(),
                })
                .collect(),
            currencies,
            computed_at: d
                .computed_at
                .map(crate::dates::minute)
                .unwrap_or_else(|| "not yet".to_owned()),
        }
    }
}

/// The dashboard's figures (staff).
#[server(prefix = "/api", endpoint = "admin_dashboard")]
pub async fn admin_dashboard() -> Result<DashboardDto, AppError> {
    use uni1_domain::accounts::Role;
    let (admin, staff) = crate::admin::staff(Role::Support).await?;
    let dashboard = admin.dashboard(&staff, chrono::Utc::now()).await?;
    Ok(server::dto(&dashboard))
}
