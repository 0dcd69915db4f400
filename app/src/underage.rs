//! The "report an underage account" form's server function.

use leptos::prelude::*;

use crate::error::AppError;

/// Stores a report that an account may belong to someone under 18.
#[server(prefix = "/api", endpoint = "report_underage")]
pub async fn report_underage(
    reported_account: String,
    details: String,
    reporter_email: String,
) -> Result<(), AppError> {
    use uni1_domain::moderation::underage::{self, UnderageReport};
    let state = crate::state::app_state()?;
    let client = crate::session::client_info();
    state.limits.report(&client.ip).await?;
    let report = UnderageReport::parse(&reported_account, &details, &reporter_email)
        .map_err(|e| AppError::invalid(e.field(), e.to_string()).respond())?;
    let reporter = crate::session::current_user().map(|u| u.id);
    underage::submit(&state.db, report, reporter, &client).await?;
    leptos_axum::redirect("/report-underage?sent=1");
    Ok(())
}
