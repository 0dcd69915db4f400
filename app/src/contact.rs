//! The contact form's server function.

use leptos::prelude::*;

use crate::error::AppError;

/// Stores a message to the operator. Validation errors name the field.
#[server(prefix = "/api", endpoint = "contact")]
pub async fn submit_contact(name: String, email: String, message: String) -> Result<(), AppError> {
    use uni1_domain::moderation::contact::{self, ContactMessage};

    let state = crate::state::app_state()?;
    let msg = ContactMessage::parse(&name, &email, &message)
        .map_err(|e| AppError::invalid(e.field(), e.to_string()).respond())?;
    // Only messages that would be stored count against the address's budget.
    state
        .limits
        .contact(&crate::session::client_info().ip)
        .await?;
    contact::submit(&state.db, msg).await?;
    Ok(())
}
