//! Personal-data breaches (SEC-3): record one, see the 72-hour clock from
//! its discovery on every staff page while people are not yet told, choose
//! who is affected, notify them by mail through the queue, and keep the
//! record the supervisory authority asks for.
//!
//! Notification is exactly once per person and incident, whatever stops
//! or repeats it: each person's `incident_notices` row and their mail are
//! written in one transaction, the row's key (incident, person) refuses a
//! second one, and a run continues with the people who have no row yet. A
//! run that stopped (a crash, a restart) is taken up again by the
//! background pass [`notify_pass`] of any server.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::audit::{self, Target};
use super::{Admin, AdminError, Staff};
use crate::entities::{incident, incident_notice, session, user};
use crate::mail::{self, templates};
use crate::support::error::{ResultExt, Unexpected};

/// How long after discovery people and the authority must be told.
pub const DEADLINE: Duration = Duration::hours(72);
/// People notified per database round.
const BATCH: u64 = 200;
/// How often stopped notification runs are looked for.
pub const PASS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// Who is affected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every account.
    Everyone,
    /// Accounts with a session active during the window.
    ActiveBetween {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    /// The accounts with these addresses (normalized).
    Accounts(Vec<String>),
}

impl Selection {
    fn name(&self) -> &'static str {
        match self {
            Self::Everyone => "everyone",
            Self::ActiveBetween { .. } => "active_between",
            Self::Accounts(_) => "accounts",
        }
    }

    fn detail(&self) -> Option<String> {
        match self {
            Self::Everyone => None,
            Self::ActiveBetween { from, to } => Some(format!(
                "{}/{}",
                from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )),
            Self::Accounts(list) => Some(list.join("\n")),
        }
    }

    fn stored(name: &str, detail: Option<&str>) -> Result<Self, Unexpected> {
        let bad = || {
            Unexpected::new(
                "reading an incident's selection",
                sea_orm::DbErr::Custom(format!("unknown selection {name}")),
            )
        };
        Ok(match name {
            "everyone" => Self::Everyone,
            "active_between" => {
                let (from, to) = detail.and_then(|d| d.split_once('/')).ok_or_else(bad)?;
                let parse =
                    |s: &str| DateTime::parse_from_rfc3339(s).map(|d| d.with_timezone(&Utc));
                Self::ActiveBetween {
                    from: parse(from).map_err(|_| bad())?,
                    to: parse(to).map_err(|_| bad())?,
                }
            }
            "accounts" => Self::Accounts(
                detail
                    .unwrap_or_default()
                    .lines()
                    .map(str::to_owned)
                    .collect(),
            ),
            _ => return Err(bad()),
        })
    }

    /// The condition on `users` that selects the affected accounts.
    fn condition(&self) -> Condition {
        match self {
            Self::Everyone => Condition::all(),
            Self::ActiveBetween { from, to } => Condition::all().add(
                user::Column::Id.in_subquery(
                    Query::select()
                        .column(session::Column::UserId)
                        .from(session::Entity)
                        .and_where(session::Column::CreatedAt.lte(*to))
                        .and_where(session::Column::LastSeenAt.gte(*from))
                        .to_owned(),
                ),
            ),
            Self::Accounts(list) => {
                Condition::all().add(user::Column::EmailKey.is_in(list.iter().cloned()))
            }
        }
    }
}

/// An incident as staff enter it, before it is checked.
#[derive(Debug, Clone, Default)]
pub struct IncidentForm {
    pub title: String,
    pub what_happened: String,
    pub what_we_do: String,
    pub what_to_do: String,
    pub severity: String,
    pub categories: String,
    /// `YYYY-MM-DDTHH:MM` (UTC, as a datetime-local field sends it) or RFC 3339.
    pub discovered_at: String,
    /// `everyone`, `active_between` or `accounts`.
    pub selection: String,
    pub active_from: String,
    pub active_to: String,
    /// One address per line.
    pub accounts: String,
}

/// A checked incident.
#[derive(Debug, Clone)]
pub struct NewIncident {
    title: String,
    what_happened: String,
    what_we_do: String,
    what_to_do: String,
    severity: &'static str,
    categories: String,
    discovered_at: DateTime<Utc>,
    selection: Selection,
}

fn time_field(field: &'static str, value: &str) -> Result<DateTime<Utc>, AdminError> {
    let v = value.trim();
    DateTime::parse_from_rfc3339(v)
        .map(|d| d.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M").map(|n| n.and_utc()))
        .or_else(|_| NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S").map(|n| n.and_utc()))
        .map_err(|_| {
            AdminError::invalid(field, "Give a date and time (UTC), e.g. 2026-12-05T14:30.")
        })
}

fn text_field(
    field: &'static str,
    value: &str,
    max: usize,
    what: &str,
) -> Result<String, AdminError> {
    super::text(field, value, max, &format!("Say {what}."))
}

impl IncidentForm {
    /// Checks the form; `now` bounds the discovery time.
    pub fn check(&self, now: DateTime<Utc>) -> Result<NewIncident, AdminError> {
        let title = text_field(
            "title",
            &self.title,
            200,
            "what the incident is, in a few words",
        )?;
        let what_happened =
            text_field("what_happened", &self.what_happened, 5000, "what happened")?;
        let what_we_do = text_field(
            "what_we_do",
            &self.what_we_do,
            5000,
            "what you are doing about it",
        )?;
        let what_to_do = text_field(
            "what_to_do",
            &self.what_to_do,
            5000,
            "what people should do",
        )?;
        let severity = match self.severity.trim() {
            "low" => "low",
            "medium" => "medium",
            "high" => "high",
            _ => {
                return Err(AdminError::invalid(
                    "severity",
                    "Choose low, medium or high.",
                ))
            }
        };
        let categories = text_field(
            "categories",
            &self.categories,
            300,
            "which kinds of personal data are concerned",
        )?;
        let discovered_at = time_field("discovered_at", &self.discovered_at)?;
        if discovered_at > now + Duration::minutes(5) {
            return Err(AdminError::invalid(
                "discovered_at",
                "The discovery cannot be in the future.",
            ));
        }
        let selection = match self.selection.trim() {
            "everyone" => Selection::Everyone,
            "active_between" => {
                let from = time_field("active_from", &self.active_from)?;
                let to = time_field("active_to", &self.active_to)?;
                if to <= from {
                    return Err(AdminError::invalid(
                        "active_to",
                        "The end of the window must come after its start.",
                    ));
                }
                Selection::ActiveBetween { from, to }
            }
            "accounts" => {
                let mut list = Vec::new();
                for (i, line) in self.accounts.lines().enumerate() {
                    let line = line.trim();
                    if line.is_empty() {
                        continue;
                    }
                    let email = crate::support::email::EmailAddress::parse(line).map_err(|_| {
                        AdminError::invalid(
                            "accounts",
                            format!("Line {} is not an e-mail address: {line}", i + 1),
                        )
                    })?;
                    list.push(crate::accounts::email_key(email.as_str()));
                }
                list.sort();
                list.dedup();
                if list.is_empty() {
                    return Err(AdminError::invalid(
                        "accounts",
                        "List the affected addresses, one per line.",
                    ));
                }
                if list.len() > 100_000 {
                    return Err(AdminError::invalid(
                        "accounts",
                        "At most 100,000 addresses; choose \"everyone\" instead.",
                    ));
                }
                Selection::Accounts(list)
            }
            _ => return Err(AdminError::invalid("selection", "Choose who is affected.")),
        };
        Ok(NewIncident {
            title,
            what_happened,
            what_we_do,
            what_to_do,
            severity,
            categories,
            discovered_at,
            selection,
        })
    }
}

/// An incident as the staff pages show it.
#[derive(Debug, Clone)]
pub struct IncidentView {
    pub id: Uuid,
    pub title: String,
    pub severity: String,
    pub categories: String,
    pub discovered_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub selection: String,
    pub notify_started_at: Option<DateTime<Utc>>,
    pub notified_at: Option<DateTime<Utc>>,
    /// People told so far (rows of `incident_notices`).
    pub notices: u64,
    /// People the selection reaches now.
    pub affected: u64,
    pub closed_at: Option<DateTime<Utc>>,
    pub measures: Option<String>,
}

impl IncidentView {
    /// Open and people not yet all told: the clock runs.
    pub fn clock_running(&self) -> bool {
        self.closed_at.is_none() && self.notified_at.is_none()
    }
}

/// What a notification run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotifyReport {
    /// Notices queued by this run.
    pub queued: u64,
    /// Everyone affected has been told.
    pub complete: bool,
}

impl Admin {
    /// Records an incident (admins only); the clock starts at its discovery.
    pub async fn record_incident(
        &self,
        staff: &Staff,
        form: &IncidentForm,
        request_id: Option<&str>,
    ) -> Result<Uuid, AdminError> {
        if !staff.is_admin() {
            return Err(AdminError::Forbidden);
        }
        let new = form.check(Utc::now())?;
        let id = Uuid::now_v7();
        let txn = crate::support::tx::begin(&self.db).await?;
        incident::ActiveModel {
            id: Set(id),
            title: Set(new.title),
            what_happened: Set(new.what_happened),
            what_we_do: Set(new.what_we_do),
            what_to_do: Set(new.what_to_do),
            severity: Set(new.severity.to_owned()),
            categories: Set(new.categories),
            discovered_at: Set(new.discovered_at),
            recorded_at: Set(Utc::now()),
            recorded_by: Set(Some(staff.id())),
            selection: Set(new.selection.name().to_owned()),
            selection_detail: Set(new.selection.detail()),
            notify_started_at: Set(None),
            notified_at: Set(None),
            notified_count: Set(0),
            closed_at: Set(None),
            measures: Set(None),
        }
        .insert(&txn)
        .await
        .unexpected("recording an incident")?;
        audit_incident(&txn, staff, "incident.record", id, request_id).await?;
        txn.commit().await.unexpected("recording an incident")?;
        Ok(id)
    }

    async fn view(&self, row: incident::Model) -> Result<IncidentView, Unexpected> {
        let notices = incident_notice::Entity::find()
            .filter(incident_notice::Column::IncidentId.eq(row.id))
            .count(&self.db)
            .await
            .unexpected("counting incident notices")?;
        let selection = Selection::stored(&row.selection, row.selection_detail.as_deref())?;
        let affected = user::Entity::find()
            .filter(selection.condition())
            .count(&self.db)
            .await
            .unexpected("counting affected accounts")?;
        Ok(IncidentView {
            id: row.id,
            title: row.title,
            severity: row.severity,
            categories: row.categories,
            deadline: row.discovered_at + DEADLINE,
            discovered_at: row.discovered_at,
            recorded_at: row.recorded_at,
            selection: match &selection {
                Selection::Everyone => "every account".to_owned(),
                Selection::ActiveBetween { from, to } => format!(
                    "accounts active between {} and {} UTC",
                    from.format("%Y-%m-%d %H:%M"),
                    to.format("%Y-%m-%d %H:%M")
                ),
                Selection::Accounts(list) => format!("{} listed addresses", list.len()),
            },
            notify_started_at: row.notify_started_at,
            notified_at: row.notified_at,
            notices,
            affected,
            closed_at: row.closed_at,
            measures: row.measures,
        })
    }

    /// Every incident, open ones first, newest first.
    pub async fn incidents(&self, _staff: &Staff) -> Result<Vec<IncidentView>, AdminError> {
        let rows = incident::Entity::find()
            .order_by_desc(incident::Column::DiscoveredAt)
            .all(&self.db)
            .await
            .unexpected("reading incidents")?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.view(row).await?);
        }
        out.sort_by_key(|v| v.closed_at.is_some());
        Ok(out)
    }

    /// The incidents whose clock runs, for the banner of every staff page.
    pub async fn running_clocks(
        &self,
        _staff: &Staff,
    ) -> Result<Vec<(Uuid, String, DateTime<Utc>)>, AdminError> {
        Ok(incident::Entity::find()
            .filter(incident::Column::ClosedAt.is_null())
            .filter(incident::Column::NotifiedAt.is_null())
            .order_by_asc(incident::Column::DiscoveredAt)
            .all(&self.db)
            .await
            .unexpected("reading open incidents")?
            .into_iter()
            .map(|r| (r.id, r.title, r.discovered_at + DEADLINE))
            .collect())
    }

    /// Starts notifying the people an incident affects (admins only) and
    /// queues up to `budget` notices now; the background pass finishes a
    /// larger run.
    pub async fn notify_incident(
        &self,
        staff: &Staff,
        id: Uuid,
        budget: u64,
        request_id: Option<&str>,
    ) -> Result<NotifyReport, AdminError> {
        if !staff.is_admin() {
            return Err(AdminError::Forbidden);
        }
        let row = incident::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .unexpected("reading an incident")?
            .ok_or(AdminError::NotFound)?;
        if row.closed_at.is_some() {
            return Err(AdminError::invalid("incident", "This incident is closed."));
        }
        if row.notify_started_at.is_none() {
            let txn = crate::support::tx::begin(&self.db).await?;
            incident::Entity::update_many()
                .col_expr(incident::Column::NotifyStartedAt, Expr::value(Utc::now()))
                .filter(incident::Column::Id.eq(id))
                .filter(incident::Column::NotifyStartedAt.is_null())
                .exec(&txn)
                .await
                .unexpected("starting notifications")?;
            audit_incident(&txn, staff, "incident.notify", id, request_id).await?;
            txn.commit().await.unexpected("starting notifications")?;
        }
        Ok(notify_run(&self.db, &self.mail, &self.key, id, budget).await?)
    }

    /// Closes an incident with the measures taken (admins only).
    pub async fn close_incident(
        &self,
        staff: &Staff,
        id: Uuid,
        measures: &str,
        request_id: Option<&str>,
    ) -> Result<(), AdminError> {
        if !staff.is_admin() {
            return Err(AdminError::Forbidden);
        }
        let measures = text_field("measures", measures, 5000, "what was done about it")?;
        let txn = crate::support::tx::begin(&self.db).await?;
        let closed = incident::Entity::update_many()
            .col_expr(incident::Column::ClosedAt, Expr::value(Utc::now()))
            .col_expr(incident::Column::Measures, Expr::value(measures))
            .filter(incident::Column::Id.eq(id))
            .filter(incident::Column::ClosedAt.is_null())
            .exec(&txn)
            .await
            .unexpected("closing an incident")?
            .rows_affected;
        if closed == 0 {
            return Err(AdminError::NotFound);
        }
        audit_incident(&txn, staff, "incident.close", id, request_id).await?;
        txn.commit().await.unexpected("closing an incident")?;
        Ok(())
    }

    /// The record for the supervisory authority (GDPR art. 33): what,
    /// when, how many, which data, the measures; plain text.
    pub async fn authority_record(
        &self,
        staff: &Staff,
        id: Uuid,
        request_id: Option<&str>,
    ) -> Result<String, AdminError> {
        let row = incident::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .unexpected("reading an incident")?
            .ok_or(AdminError::NotFound)?;
        let (what_happened, what_we_do, what_to_do) = (
            row.what_happened.clone(),
            row.what_we_do.clone(),
            row.what_to_do.clone(),
        );
        let v = self.view(row).await?;
        audit_incident(&self.db, staff, "incident.report", id, request_id).await?;
        let t = |d: DateTime<Utc>| d.format("%Y-%m-%d %H:%M UTC").to_string();
        let notified = match v.notified_at {
            Some(at) => format!(
                "{} people told by mail; all notices queued by {}{}",
                v.notices,
                t(at),
                if at <= v.deadline {
                    " (within 72 hours of discovery)"
                } else {
                    " (LATER than 72 hours after discovery)"
                }
            ),
            None => format!(
                "{} of {} people told so far; not complete",
                v.notices, v.affected
            ),
        };
        Ok(format!(
            "Personal data breach record\n\
             ===========================\n\n\
             Operator: {} <{}>\n\
             Incident: {} ({})\n\
             Severity: {}\n\
             Categories of personal data: {}\n\
             Discovered: {}\n\
             Recorded: {}\n\
             72-hour deadline: {}\n\
             People affected: {} ({})\n\
             Notification of the people: {}\n\
             Closed: {}\n\n\
             What happened\n-------------\n{}\n\n\
             What is being done\n------------------\n{}\n\n\
             What people were told to do\n---------------------------\n{}\n\n\
             Measures taken\n--------------\n{}\n",
            self.mail.operator_name,
            self.mail.operator_email,
            v.title,
            v.id,
            v.severity,
            v.categories,
            t(v.discovered_at),
            t(v.recorded_at),
            t(v.deadline),
            v.affected.max(v.notices),
            v.selection,
            notified,
            v.closed_at.map_or_else(|| "open".to_owned(), t),
            what_happened,
            what_we_do,
            what_to_do,
            v.measures
                .unwrap_or_else(|| "(not yet recorded)".to_owned()),
        ))
    }
}

/// Writes the audit row of a staff action on incident `id`.
async fn audit_incident(
    conn: &impl sea_orm::ConnectionTrait,
    staff: &Staff,
    action: &str,
    id: Uuid,
    request_id: Option<&str>,
) -> Result<(), Unexpected> {
    let target = Target {
        user: None,
        other: Some(format!("incident:{id}")),
    };
    audit::record(conn, staff, action, target, None, request_id).await
}

/// Queues notices for up to `budget` affected people who have none yet.
async fn notify_run(
    db: &DatabaseConnection,
    ctx: &crate::mail::MailContext,
    key: &crate::support::crypto::AppKey,
    id: Uuid,
    budget: u64,
) -> Result<NotifyReport, Unexpected> {
    let row = incident::Entity::find_by_id(id)
        .one(db)
        .await
        .unexpected("reading an incident")?;
    let Some(row) = row else {
        return Ok(NotifyReport::default());
    };
    let selection = Selection::stored(&row.selection, row.selection_detail.as_deref())?;
    let discovered = row.discovered_at.format("%Y-%m-%d %H:%M UTC").to_string();
    let mut report = NotifyReport::default();
    loop {
        if report.queued >= budget {
            return Ok(report);
        }
        let told = Query::select()
            .column(incident_notice::Column::UserId)
            .from(incident_notice::Entity)
            .and_where(incident_notice::Column::IncidentId.eq(id))
            .to_owned();
        let batch = user::Entity::find()
            .filter(selection.condition())
            .filter(user::Column::Id.not_in_subquery(told))
            .order_by_asc(user::Column::Id)
            .limit(BATCH.min(budget - report.queued))
            .all(db)
            .await
            .unexpected("finding people to notify")?;
        if batch.is_empty() {
            break;
        }
        for person in batch {
            let txn = crate::support::tx::begin(db).await?;
            let message = templates::incident_notice(
                ctx,
                &person.display_name,
                &row.title,
                &discovered,
                &row.what_happened,
                &row.what_we_do,
                &row.what_to_do,
            );
            let mail_id = mail::enqueue(
                &txn,
                key,
                Some(person.id),
                "incident",
                &person.email,
                message,
            )
            .await?;
            let inserted = incident_notice::Entity::insert(incident_notice::ActiveModel {
                incident_id: Set(id),
                user_id: Set(person.id),
                mail_id: Set(Some(mail_id)),
                queued_at: Set(Utc::now()),
            })
            .on_conflict(
                OnConflict::columns([
                    incident_notice::Column::IncidentId,
                    incident_notice::Column::UserId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(&txn)
            .await
            .unexpected("notifying a person")?;
            if inserted == 1 {
                txn.commit().await.unexpected("notifying a person")?;
                report.queued += 1;
            } else {
                // Another run told this person first: drop this mail.
                txn.rollback().await.unexpected("notifying a person")?;
            }
        }
    }
    let count = incident_notice::Entity::find()
        .filter(incident_notice::Column::IncidentId.eq(id))
        .count(db)
        .await
        .unexpected("counting incident notices")?;
    incident::Entity::update_many()
        .col_expr(incident::Column::NotifiedAt, Expr::value(Utc::now()))
        .col_expr(
            incident::Column::NotifiedCount,
            Expr::value(i32::try_from(count).unwrap_or(i32::MAX)),
        )
        .filter(incident::Column::Id.eq(id))
        .filter(incident::Column::NotifiedAt.is_null())
        .exec(db)
        .await
        .unexpected("finishing notifications")?;
    report.complete = true;
    Ok(report)
}

/// Continues every notification run that started and did not finish (a
/// server stopped midway). Safe on any number of servers at once.
pub async fn notify_pass(admin: &Admin) -> Result<u64, Unexpected> {
    let pending = incident::Entity::find()
        .filter(incident::Column::NotifyStartedAt.is_not_null())
        .filter(incident::Column::NotifiedAt.is_null())
        .filter(incident::Column::ClosedAt.is_null())
        .all(&admin.db)
        .await
        .unexpected("finding unfinished notifications")?;
    let mut queued = 0;
    for row in pending {
        queued += notify_run(&admin.db, &admin.mail, &admin.key, row.id, u64::MAX)
            .await?
            .queued;
    }
    Ok(queued)
}
