//! Staff server functions (ADM-1): the 72-hour clock of open incidents,
//! incidents (SEC-3), the staff audit log (SEC-2) and the service's health
//! (ANA-2). Every function starts
//! with [`staff`]: the one guard (role and two-factor) in
//! `uni1_domain::admin::Admin::require`. The pages are in
//! `pages::admin`, lazy routes the server does not even route for people
//! who are not staff.

// Server functions take one argument per form field (so forms work
// without JavaScript); the `#[server]` macro does not carry an `allow` on
// the function through to the code it generates.
#![allow(clippy::too_many_arguments)]

pub mod moderation;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

pub mod payments;
pub mod privacy_queue;
pub mod users;

/// An incident whose clock runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockDto {
    pub id: String,
    pub title: String,
    /// "2026-12-08 14:30 UTC".
    pub deadline: String,
    /// "41 h 12 min left", or "overdue by 3 h 5 min".
    pub remaining: String,
    pub overdue: bool,
}

/// What every staff page shows at its top.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffFrame {
    pub admin: bool,
    pub clocks: Vec<ClockDto>,
}

/// One incident on the incidents page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentDto {
    pub id: String,
    pub title: String,
    pub severity: String,
    pub categories: String,
    pub discovered: String,
    pub deadline: String,
    pub selection: String,
    pub affected: u64,
    pub notices: u64,
    /// "not started", "in progress" or "complete on …".
    pub notification: String,
    pub clock_running: bool,
    pub closed: Option<String>,
    pub measures: Option<String>,
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditDto {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub reason: String,
    pub request_id: String,
}

/// Jobs in one unfinished state on the Health page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueDto {
    pub status: String,
    pub jobs: u64,
    /// "3 min 20 s ago", or "—".
    pub oldest: String,
}

/// A worker seen through its leases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerDto {
    pub worker: String,
    pub running: u64,
    pub lease_until: String,
    pub alive: bool,
}

/// Outcomes and times in one window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowDto {
    pub succeeded: u64,
    pub failed: u64,
    pub refused: u64,
    pub cancelled: u64,
    /// "1.2 s", or "—".
    pub p50: String,
    pub p95: String,
    /// "4.0 %", or "—".
    pub error_rate: String,
}

/// One model (or all together) over the last hour and day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelHealthDto {
    pub model: String,
    pub hour: WindowDto,
    pub day: WindowDto,
}

/// A failed job with its operator-side detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDto {
    pub at: String,
    pub model: String,
    pub attempts: i32,
    pub detail: String,
}

/// Whether a dependency answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeDto {
    pub ok: bool,
    /// "12 ms".
    pub took: String,
}

/// The Health page (ANA-2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthDto {
    pub at: String,
    pub queue: Vec<QueueDto>,
    pub workers: Vec<WorkerDto>,
    pub overall: ModelHealthDto,
    pub models: Vec<ModelHealthDto>,
    pub sampled: bool,
    pub errors: Vec<ErrorDto>,
    pub mail_pending: u64,
    pub mail_due: u64,
    pub mail_oldest_due: String,
    pub mail_failed_day: u64,
    pub webhooks_applied: u64,
    pub webhooks_ignored: u64,
    pub webhooks_refused: u64,
    pub webhooks_last: String,
    pub webhooks_failing: u64,
    pub outbound_pending: u64,
    pub outbound_due: u64,
    pub outbound_failed_day: u64,
    pub database: ProbeDto,
    pub storage: ProbeDto,
}

#[cfg(feature = "ssr")]
mod server {
    use chrono::{DateTime, Utc};
    use uni1_domain::accounts::Role;
    use uni1_domain::admin::{Admin, Staff};

    use crate::error::AppError;

    /// The staff service, and the asking person as staff with at least `need`.
    pub async fn staff(need: Role) -> Result<(Admin, Staff), AppError> {
        let state = crate::state::app_state()?;
        let user = crate::session::current_user();
        let staff = state.admin.require(user.as_ref(), need).await?;
        Ok((state.admin, staff))
    }

    /// This request's id, for the audit log.
    pub fn request_id() -> Option<String> {
        leptos::prelude::use_context::<http::request::Parts>().and_then(|p| {
            p.headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
    }

    pub fn when(t: DateTime<Utc>) -> String {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    }

    /// "2 h 5 min ago", "3 min 20 s ago", "4 s ago"; "—" for none.
    pub fn ago(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
        let Some(t) = t else {
            return "—".to_owned();
        };
        let s = (now - t).num_seconds().max(0);
        match s {
            0..60 => format!("{s} s ago"),
            60..3600 => format!("{} min {} s ago", s / 60, s % 60),
            _ => format!("{} h {} min ago", s / 3600, s % 3600 / 60),
        }
    }

    /// "850 ms", "12.4 s"; "—" for none.
    pub fn took(d: Option<std::time::Duration>) -> String {
        match d {
            None => "—".to_owned(),
            Some(d) if d.as_millis() < 1000 => format!("{} ms", d.as_millis()),
            Some(d) => format!("{:.1} s", d.as_secs_f64()),
        }
    }

    pub fn window(w: &uni1_domain::admin::health::Window) -> crate::admin::WindowDto {
        crate::admin::WindowDto {
            succeeded: w.succeeded,
            failed: w.failed,
            refused: w.refused,
            cancelled: w.cancelled,
            p50: took(w.p50),
            p95: took(w.p95),
            error_rate: w
                .error_rate()
                .map_or_else(|| "—".to_owned(), |r| format!("{:.1} %", r * 100.0)),
        }
    }

    pub fn model_line(m: &uni1_domain::admin::health::ModelLine) -> crate::admin::ModelHealthDto {
        crate::admin::ModelHealthDto {
            model: m.model.clone(),
            hour: window(&m.hour),
            day: window(&m.day),
        }
    }

    /// "41 h 12 min left" / "overdue by 3 h 5 min".
    pub fn remaining(deadline: DateTime<Utc>, now: DateTime<Utc>) -> (String, bool) {
        let secs = (deadline - now).num_seconds();
        let m = secs.unsigned_abs() / 60;
        let text = format!("{} h {} min", m / 60, m % 60);
        if secs >= 0 {
            (format!("{text} left"), false)
        } else {
            (format!("overdue by {text}"), true)
        }
    }
}

#[cfg(feature = "ssr")]
pub use server::{remaining, request_id, staff, when};

/// The frame of every staff page: the asking person's role and the clocks.
#[server(prefix = "/api", endpoint = "admin_frame")]
pub async fn admin_frame() -> Result<StaffFrame, AppError> {
    use uni1_domain::accounts::Role;
    let (admin, staff) = staff(Role::Support).await?;
    let now = chrono::Utc::now();
    let clocks = admin
        .running_clocks(&staff)
        .await?
        .into_iter()
        .map(|(id, title, deadline)| {
            let (remaining, overdue) = remaining(deadline, now);
            ClockDto {
                id: id.to_string(),
                title,
                deadline: server::when(deadline),
                remaining,
                overdue,
            }
        })
        .collect();
    Ok(StaffFrame {
        admin: staff.is_admin(),
        clocks,
    })
}

/// The service's health (ANA-2): queue, workers, generation times and
/// errors, mail and webhook backlogs, database and storage. Reading it
/// changes nothing, so it is not audited.
#[server(prefix = "/api", endpoint = "admin_health")]
pub async fn admin_health() -> Result<HealthDto, AppError> {
    use uni1_domain::accounts::Role;
    let (admin, staff) = staff(Role::Support).await?;
    let blobs = crate::state::app_state()?.generations.blobs;
    let now = chrono::Utc::now();
    let h = admin.health(&staff, &blobs, now).await?;
    let probe = |p: &uni1_domain::admin::health::Probe| ProbeDto {
        ok: p.ok,
        took: server::took(Some(p.took)),
    };
    Ok(HealthDto {
        at: server::when(h.at),
        queue: h
            .queue
            .iter()
            .map(|q| QueueDto {
                status: q.status.to_owned(),
                jobs: q.jobs,
                oldest: server::ago(q.oldest, now),
            })
            .collect(),
        workers: h
            .workers
            .iter()
            .map(|w| WorkerDto {
                worker: w.worker.clone(),
                running: w.running,
                lease_until: server::when(w.lease_until),
                alive: w.alive,
            })
            .collect(),
        overall: server::model_line(&h.overall),
        models: h.models.iter().map(server::model_line).collect(),
        sampled: h.sampled,
        errors: h
            .errors
            .iter()
            .map(|e| ErrorDto {
                at: server::when(e.at),
                model: e.model.clone(),
                attempts: e.attempts,
                detail: e.detail.clone(),
            })
            .collect(),
        mail_pending: h.mail.pending,
        mail_due: h.mail.due,
        mail_oldest_due: server::ago(h.mail.oldest_due, now),
        mail_failed_day: h.mail.failed_day,
        webhooks_applied: h.webhooks.applied,
        webhooks_ignored: h.webhooks.ignored,
        webhooks_refused: h.webhooks.refused,
        webhooks_last: h
            .webhooks
            .last_received
            .map_or_else(|| "—".to_owned(), server::when),
        webhooks_failing: h.webhooks.failing,
        outbound_pending: h.webhooks.outbound_pending,
        outbound_due: h.webhooks.outbound_due,
        outbound_failed_day: h.webhooks.outbound_failed_day,
        database: probe(&h.database),
        storage: probe(&h.storage),
    })
}

/// Every incident, open first.
#[server(prefix = "/api", endpoint = "admin_incidents")]
pub async fn admin_incidents() -> Result<Vec<IncidentDto>, AppError> {
    use uni1_domain::accounts::Role;
    let (admin, staff) = staff(Role::Support).await?;
    Ok(admin
        .incidents(&staff)
        .await?
        .into_iter()
        .map(|v| IncidentDto {
            id: v.id.to_string(),
            clock_running: v.clock_running(),
            title: v.title,
            severity: v.severity,
            categories: v.categories,
            discovered: server::when(v.discovered_at),
            deadline: server::when(v.deadline),
            selection: v.selection,
            affected: v.affected,
            notices: v.notices,
            notification: match (v.notify_started_at, v.notified_at) {
                (_, Some(at)) => format!("complete on {}", server::when(at)),
                (Some(_), None) => "in progress".to_owned(),
                (None, None) => "not started".to_owned(),
            },
            closed: v.closed_at.map(server::when),
            measures: v.measures,
        })
        .collect())
}

/// Records an incident (admins).
#[server(prefix = "/api", endpoint = "admin_record_incident")]
pub async fn record_incident(
    title: String,
    what_happened: String,
    what_we_do: String,
    what_to_do: String,
    severity: String,
    categories: String,
    discovered_at: String,
    selection: String,
    #[server(default)] active_from: String,
    #[server(default)] active_to: String,
    #[server(default)] accounts: String,
) -> Result<String, AppError> {
    use uni1_domain::accounts::Role;
    use uni1_domain::admin::incidents::IncidentForm;
    let (admin, staff) = staff(Role::Admin).await?;
    let form = IncidentForm {
        title,
        what_happened,
        what_we_do,
        what_to_do,
        severity,
        categories,
        discovered_at,
        selection,
        active_from,
        active_to,
        accounts,
    };
    let id = admin
        .record_incident(&staff, &form, server::request_id().as_deref())
        .await?;
    Ok(id.to_string())
}

/// Notifies the people an incident affects (admins): queues up to 500 now;
/// the background pass queues the rest.
#[server(prefix = "/api", endpoint = "admin_notify_incident")]
pub async fn notify_incident(id: String) -> Result<u64, AppError> {
    use uni1_domain::accounts::Role;
    let (admin, staff) = staff(Role::Admin).await?;
    let id = uuid::Uuid::parse_str(id.trim()).map_err(|_| AppError::NotFound.respond())?;
    let report = admin
        .notify_incident(&staff, id, 500, server::request_id().as_deref())
        .await?;
    Ok(report.queued)
}

/// Closes an incident with the measures taken (admins).
#[server(prefix = "/api", endpoint = "admin_close_incident")]
pub async fn close_incident(id: String, measures: String) -> Result<(), AppError> {
    use uni1_domain::accounts::Role;
    let (admin, staff) = staff(Role::Admin).await?;
    let id = uuid::Uuid::parse_str(id.trim()).map_err(|_| AppError::NotFound.respond())?;
    admin
        .close_incident(&staff, id, &measures, server::request_id().as_deref())
        .await?;
    Ok(())
}

/// The staff audit log, filtered.
#[server(prefix = "/api", endpoint = "admin_audit")]
pub async fn admin_audit(
    #[server(default)] actor: String,
    #[server(default)] target: String,
    #[server(default)] action: String,
    #[server(default)] from: String,
    #[server(default)] until: String,
) -> Result<Vec<AuditDto>, AppError> {
    use uni1_domain::accounts::Role;
    let (admin, staff) = staff(Role::Support).await?;
    let filter = audit_filter(&actor, &target, &action, &from, &until)?;
    Ok(admin
        .audit_log(&staff, &filter)
        .await?
        .into_iter()
        .map(|e| AuditDto {
            at: server::when(e.at),
            actor: e.actor,
            action: e.action,
            target: e.target,
            reason: e.reason,
            request_id: e.request_id,
        })
        .collect())
}

/// The audit filter from form fields (dates as `YYYY-MM-DD`, UTC).
#[cfg(feature = "ssr")]
pub fn audit_filter(
    actor: &str,
    target: &str,
    action: &str,
    from: &str,
    until: &str,
) -> Result<uni1_domain::admin::audit::Filter, AppError> {
    let day = |field: &str, v: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>, AppError> {
        let v = v.trim();
        if v.is_empty() {
            return Ok(None);
        }
        chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(|d| Some(d.and_time(chrono::NaiveTime::MIN).and_utc()))
            .map_err(|_| AppError::invalid(field, "Give a date as YYYY-MM-DD.").respond())
    };
    let some = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    Ok(uni1_domain::admin::audit::Filter {
        actor: some(actor),
        target: some(target),
        action: some(action),
        from: day("from", from)?,
        // "until" is inclusive: up to the end of that day.
        until: day("until", until)?.map(|d| d + chrono::Duration::days(1)),
    })
}
