//! Staff server functions about people (ADM-1): the search, one person's
//! page, and the actions on an account. Each starts with the one guard
//! (`staff(role)`); the domain (`uni1_domain::admin::users`) checks the
//! reasons and writes the audit rows.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One person in the search results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonRowDto {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub joined: String,
    /// "active", "disabled", "deletion on …" or "unconfirmed".
    pub status: String,
}

/// A page of people, and the cursor of the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeopleDto {
    pub rows: Vec<PersonRowDto>,
    pub next: Option<String>,
}

/// A line of a table on the person's page, preformatted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub cells: Vec<String>,
    /// A page about the row: its first cell links there.
    #[serde(default)]
    pub href: Option<String>,
}

/// Everything staff see about one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonDto {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub joined: String,
    pub status: String,
    pub confirmed: bool,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    pub two_factor: bool,
    /// "120 available, 10 held, 0 owed".
    pub balance: String,
    pub generations: Vec<Line>,
    pub sessions: Vec<Line>,
    pub history: Vec<Line>,
    pub ledger: Vec<Line>,
    pub orders: Vec<Line>,
    pub subscriptions: Vec<Line>,
    pub requests: Vec<Line>,
    pub open_flags: u64,
    /// Whether the asking staff member is an admin (credits, roles).
    pub viewer_admin: bool,
    /// Makes a repeated credit-adjustment form apply once.
    pub form_key: String,
}

#[cfg(feature = "ssr")]
fn status_of(
    disabled: bool,
    confirmed: bool,
    deletion: Option<chrono::DateTime<chrono::Utc>>,
) -> String {
    if disabled {
        "disabled".into()
    } else if let Some(d) = deletion {
        format!("deletion on {}", crate::dates::day(d))
    } else if !confirmed {
        "unconfirmed".into()
    } else {
        "active".into()
    }
}

#[cfg(feature = "ssr")]
fn line<const N: usize>(cells: [String; N]) -> Line {
    Line {
        cells: cells.into(),
        href: None,
    }
}

/// People matching the search, newest first, 50 at a time.
#[server(prefix = "/api", endpoint = "admin_people")]
pub async fn admin_people(
    #[server(default)] q: String,
    #[server(default)] role: String,
    #[server(default)] status: String,
    #[server(default)] plan: String,
    #[server(default)] two_factor: String,
    #[server(default)] after: String,
) -> Result<PeopleDto, AppError> {
    use uni1_domain::accounts::Role;
    use uni1_domain::admin::users::{Search, PAGE};
    let (admin, staff) = crate::admin::staff(Role::Support).await?;
    let yes_no = |v: &str| match v {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    };
    let after = after.split_once('.').and_then(|(ms, id)| {
        Some((
            chrono::DateTime::from_timestamp_micros(ms.parse().ok()?)?,
            uuid::Uuid::parse_str(id).ok()?,
        ))
    });
    let search = Search {
        text: Some(q).filter(|q| !q.trim().is_empty()),
        role: Role::parse(role.trim()),
        status: Some(status)
            .filter(|s| ["active", "disabled", "deleting", "unconfirmed"].contains(&s.as_str())),
        plan: yes_no(&plan),
        two_factor: yes_no(&two_factor),
        after,
    };
    let rows = admin.search_people(&staff, &search).await?;
    let next = (rows.len() as u64 == PAGE)
        .then(|| rows.last())
        .flatten()
        .map(|r| format!("{}.{}", r.created_at.timestamp_micros(), r.id));
    Ok(PeopleDto {
        rows: rows
            .into_iter()
            .map(|r| PersonRowDto {
                id: r.id.to_string(),
                status: status_of(r.disabled, r.confirmed, r.deletion_due),
                email: r.email,
                name: r.display_name,
                role: r.role,
                joined: crate::dates::day(r.created_at),
            })
            .collect(),
        next,
    })
}

/// One person's page.
#[server(prefix = "/api", endpoint = "admin_person")]
pub async fn admin_person(id: String) -> Result<PersonDto, AppError> {
    use crate::dates::minute;
    use uni1_domain::accounts::Role;
    let (admin, staff) = crate::admin::staff(Role::Support).await?;
    let id = crate::params::id(&id)?;
    let p = admin.person(&staff, id).await?;
    let a = &p.account;
    let b = p.balance;
    Ok(PersonDto {
        id: a.id.to_string(),
        email: a.email.clone(),
        name: a.display_name.clone(),
        role: a.role.clone(),
        joined: minute(a.created_at),
        status: status_of(
            a.disabled_at.is_some(),
            a.email_confirmed_at.is_some(),
            a.deletion_due_at,
        ),
        confirmed: a.email_confirmed_at.is_some(),
        disabled: a.disabled_at.is_some(),
        disabled_reason: a.disabled_reason.clone(),
        two_factor: p.two_factor,
        balance: format!(
            "{} available, {} held, {} owed",
            b.available, b.held, b.debt
        ),
        generations: p
            .generations
            .into_iter()
            .map(|(s, n)| line([s, n.to_string()]))
            .collect(),
        sessions: p
            .sessions
            .into_iter()
            .map(|s| {
                line([
                    minute(s.started_at),
                    minute(s.last_seen_at),
                    match (s.ended_at, s.end_reason) {
                        (Some(t), r) => format!("ended {} ({})", minute(t), r.unwrap_or_default()),
                        (None, _) => "live".into(),
                    },
                    s.ip,
                    format!("{} on {}", s.browser, s.os),
                ])
            })
            .collect(),
        history: p
            .history
            .into_iter()
            .map(|h| line([minute(h.at), h.action, h.ip, h.browser]))
            .collect(),
        ledger: p
            .ledger
            .into_iter()
            .map(|e| {
                line([
                    minute(e.created_at),
                    e.kind,
                    format!("{:+}", e.amount),
                    e.balance_after.to_string(),
                    e.note.unwrap_or_default(),
                ])
            })
            .collect(),
        orders: p
            .orders
            .into_iter()
            .map(|o| {
                line([
                    minute(o.created_at),
                    o.item_name,
                    uni1_domain::billing::catalog::price_label(o.amount, &o.currency),
                    o.status,
                    o.provider,
                ])
            })
            .collect(),
        subscriptions: p
            .subscriptions
            .into_iter()
            .map(|s| {
                line([
                    s.plan,
                    s.status,
                    s.current_period_end.map(minute).unwrap_or_default(),
                    s.provider,
                ])
            })
            .collect(),
        requests: p
            .requests
            .into_iter()
            .map(|r| {
                line([
                    uni1_domain::privacy::RequestKind::label(&r.kind).to_owned(),
                    r.status,
                    minute(r.created_at),
                    crate::dates::day(r.due_at),
                ])
            })
            .collect(),
        open_flags: p.open_flags,
        viewer_admin: staff.is_admin(),
        form_key: uuid::Uuid::new_v4().simple().to_string(),
    })
}

/// Disables (`disabled` = "on") or enables an account, with a reason.
#[server(prefix = "/api", endpoint = "admin_set_disabled")]
pub async fn admin_set_disabled(
    id: String,
    disabled: String,
    #[server(default)] reason: String,
) -> Result<(), AppError> {
    use uni1_domain::accounts::Role;
    let (admin, staff) = crate::admin::staff(Role::Support).await?;
    let id = crate::params::id(&id)?;
    admin
        .set_disabled(
            &staff,
            id,
            disabled == "on",
            &reason,
            crate::admin::request_id().as_deref(),
        )
        .await?;
    Ok(())
}

/// Ends every session of an account, with a reason.
#[server(prefix = "/api", endpoint = "admin_end_sessions")]
pub async fn admin_end_sessions(
    id: String,
    #[server(default)] reason: String,
) -> Result<u64, AppError> {
    use uni1_domain::accounts::Role;
    let (admin, staff) = crate::admin::staff(Role::Support).await?;
    let id = crate::params::id(&id)?;
    Ok(admin
        .end_person_sessions(&staff, id, &reason, crate::admin::request_id().as_deref())
        .await?)
}

/// Gives or takes credits (admins), with a reason.
#[server(prefix = "/api", endpoint = "admin_adjust_credits")]
pub async fn admin_adjust_credits(
    id: String,
    amount: String,
    #[server(default)] reason: String,
    form_key: String,
) -> Result<String, AppError> {
    use uni1_domain::accounts::Role;
    use uni1_domain::billing::credits::Adjusted;
    let (admin, staff) = crate::admin::staff(Role::Admin).await?;
    let id = crate::params::id(&id)?;
    let amount: i64 = amount.trim().trim_start_matches('+').parse().map_err(|_| {
        AppError::invalid("amount", "Enter a whole number of credits, e.g. 50 or -20.").respond()
    })?;
    match admin
        .adjust_credits(
            &staff,
            id,
            amount,
            &reason,
            &form_key,
            crate::admin::request_id().as_deref(),
        )
        .await?
    {
        Adjusted::Done => Ok(format!("{amount:+} credits applied.")),
        Adjusted::AlreadyApplied => Ok("This adjustment was already applied.".into()),
        Adjusted::NotEnough { available } => Err(AppError::invalid(
            "amount",
            format!(
                "They have only {available} credits available; an adjustment cannot make a debt."
            ),
        )
        .respond()),
    }
}

/// Changes an account's role (admins), with a reason.
#[server(prefix = "/api", endpoint = "admin_change_role")]
pub async fn admin_change_role(
    id: String,
    role: String,
    #[server(default)] reason: String,
) -> Result<(), AppError> {
    use uni1_domain::accounts::Role;
    let (admin, staff) = crate::admin::staff(Role::Admin).await?;
    let id = crate::params::id(&id)?;
    let role = Role::parse(role.trim())
        .ok_or_else(|| AppError::invalid("role", "Choose user, support or admin.").respond())?;
    admin
        .change_role(
            &staff,
            id,
            role,
            &reason,
            crate::admin::request_id().as_deref(),
        )
        .await?;
    Ok(())
}

/// Mails a fresh confirmation link to an unconfirmed account.
#[server(prefix = "/api", endpoint = "admin_resend_confirmation")]
pub async fn admin_resend_confirmation(id: String) -> Result<(), AppError> {
    use uni1_domain::accounts::Role;
    let (admin, staff) = crate::admin::staff(Role::Support).await?;
    let id = crate::params::id(&id)?;
    admin
        .resend_confirmation(&staff, id, crate::admin::request_id().as_deref())
        .await?;
    Ok(())
}
