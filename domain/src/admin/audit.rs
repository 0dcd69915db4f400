//! The audit log of staff actions (SEC-2): written by every staff action
//! in its own transaction, browsable and filterable by staff, exportable
//! as CSV.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::{Admin, AdminError, Staff};
use crate::entities::{staff_action, user};
use crate::support::error::{ResultExt, Unexpected};

/// What an action concerned.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub user: Option<Uuid>,
    /// e.g. `incident:<id>`.
    pub other: Option<String>,
}

/// Writes one audit row for `staff`, inside the caller's transaction.
pub async fn record(
    conn: &impl ConnectionTrait,
    staff: &Staff,
    action: &str,
    target: Target,
    reason: Option<&str>,
    request_id: Option<&str>,
) -> Result<(), Unexpected> {
    staff_action::ActiveModel {
        id: Set(Uuid::now_v7()),
        actor_id: Set(Some(staff.id())),
        action: Set(action.chars().take(48).collect()),
        target_user_id: Set(target.user),
        target: Set(target.other.map(|t| t.chars().take(100).collect())),
        reason: Set(reason.map(|r| r.chars().take(500).collect())),
        request_id: Set(request_id.map(|r| r.chars().take(64).collect())),
        created_at: Set(Utc::now()),
    }
    .insert(conn)
    .await
    .unexpected("writing the staff audit log")?;
    Ok(())
}

/// Which entries to show.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// The actor's e-mail address (exact, any case).
    pub actor: Option<String>,
    /// The person concerned's e-mail address.
    pub target: Option<String>,
    /// An action name or its prefix (`incident.`).
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// One entry as staff see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub reason: String,
    pub request_id: String,
}

/// The most entries one page or export holds.
pub const LIMIT: u64 = 1000;

impl Admin {
    /// Audit entries matching `filter`, newest first (at most [`LIMIT`]).
    pub async fn audit_log(
        &self,
        _staff: &Staff,
        filter: &Filter,
    ) -> Result<Vec<Entry>, AdminError> {
        let by_email = |email: &Option<String>| {
            let email = email
                .as_ref()
                .map(|e| e.trim().to_lowercase())
                .filter(|e| !e.is_empty());
            let db = self.db.clone();
            async move {
                match email {
                    None => Ok(None),
                    Some(e) => user::Entity::find()
                        .filter(user::Column::EmailKey.eq(e))
                        .one(&db)
                        .await
                        .unexpected("finding an account for the audit log")
                        .map(|u| Some(u.map(|u| u.id))),
                }
            }
        };
        let mut cond = Condition::all();
        match by_email(&filter.actor).await? {
            Some(Some(id)) => cond = cond.add(staff_action::Column::ActorId.eq(id)),
            Some(None) => return Ok(Vec::new()),
            None => {}
        }
        match by_email(&filter.target).await? {
            Some(Some(id)) => cond = cond.add(staff_action::Column::TargetUserId.eq(id)),
            Some(None) => return Ok(Vec::new()),
            None => {}
        }
        if let Some(action) = filter
            .action
            .as_ref()
            .map(|a| a.trim())
            .filter(|a| !a.is_empty())
        {
            cond = cond.add(staff_action::Column::Action.starts_with(action));
        }
        if let Some(from) = filter.from {
            cond = cond.add(staff_action::Column::CreatedAt.gte(from));
        }
        if let Some(until) = filter.until {
            cond = cond.add(staff_action::Column::CreatedAt.lt(until));
        }
        let rows = staff_action::Entity::find()
            .filter(cond)
            .order_by_desc(staff_action::Column::CreatedAt)
            .order_by_desc(staff_action::Column::Id)
            .limit(LIMIT)
            .all(&self.db)
            .await
            .unexpected("reading the staff audit log")?;
        let mut ids: Vec<Uuid> = rows
            .iter()
            .flat_map(|r| [r.actor_id, r.target_user_id])
            .flatten()
            .collect();
        ids.sort();
        ids.dedup();
        let emails: std::collections::HashMap<Uuid, String> = if ids.is_empty() {
            Default::default()
        } else {
            user::Entity::find()
                .filter(user::Column::Id.is_in(ids))
                .all(&self.db)
                .await
                .unexpected("reading staff audit accounts")?
                .into_iter()
                .map(|u| (u.id, u.email))
                .collect()
        };
        let name = |id: Option<Uuid>| match id {
            None => String::new(),
            Some(id) => emails
                .get(&id)
                .cloned()
                .unwrap_or_else(|| "(deleted account)".to_owned()),
        };
        Ok(rows
            .into_iter()
            .map(|r| Entry {
                at: r.created_at,
                actor: name(r.actor_id),
                action: r.action,
                target: match (r.target_user_id, r.target) {
                    (Some(u), Some(t)) => format!("{} {t}", name(Some(u))),
                    (Some(u), None) => name(Some(u)),
                    (None, Some(t)) => t,
                    (None, None) => String::new(),
                },
                reason: r.reason.unwrap_or_default(),
                request_id: r.request_id.unwrap_or_default(),
            })
            .collect())
    }

    /// The same entries as CSV; the export itself is audited.
    pub async fn audit_csv(
        &self,
        staff: &Staff,
        filter: &Filter,
        request_id: Option<&str>,
    ) -> Result<String, AdminError> {
        let entries = self.audit_log(staff, filter).await?;
        record(
            &self.db,
            staff,
            "audit.export",
            Target::default(),
            None,
            request_id,
        )
        .await?;
        let mut out = String::from("time,actor,action,target,reason,request_id\r\n");
        for e in entries {
            let fields = [
                e.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                e.actor,
                e.action,
                e.target,
                e.reason,
                e.request_id,
            ];
            out.push_str(&fields.map(|f| crate::support::csv::field(&f)).join(","));
            out.push_str("\r\n");
        }
        Ok(out)
    }
}
