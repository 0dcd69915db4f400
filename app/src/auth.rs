//! Sign-up, sign-in, sign-out, address confirmation and password reset:
//! the server functions and the summary of the signed-in person that every
//! page can show.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The signed-in person, as the browser sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    pub display_name: String,
    pub email: String,
    pub email_confirmed: bool,
    /// When the account is to be deleted ("2026-12-14 10:00 UTC"), if asked.
    pub deletion_due: Option<String>,
    /// The privacy policy changed since the person last saw it.
    pub policy_changed: bool,
    /// Support or admin: the menu links the staff pages.
    pub staff: bool,
    /// The address of the person's profile picture, if they uploaded one.
    pub picture: Option<String>,
}

/// Which "Sign in with …" buttons to show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInOptions {
    pub google: bool,
    pub github: bool,
}

/// A sign-up a provider vouched for, waiting for the attestation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingInfo {
    pub provider: String,
    pub email: String,
    pub display_name: String,
}

/// The sentence for an error code a provider flow came back with.
pub fn provider_error_text(code: &str, provider: &str) -> &'static str {
    let google = provider == "google";
    match code {
        "cancelled" => "Sign-in was cancelled.",
        "expired" => "That sign-in attempt expired or was already used. Please try again.",
        "unverified" if google => "Google did not confirm an e-mail address for this account. Sign in with your password, then link Google from Settings.",
        "unverified" => "GitHub did not confirm an e-mail address for this account. Sign in with your password, then link GitHub from Settings.",
        "linked_elsewhere" if google => "This Google account is already linked to another uni1 account.",
        "linked_elsewhere" => "This GitHub account is already linked to another uni1 account.",
        "unavailable" => "That sign-in method is not available here.",
        "unconfirmed" => "Confirm your e-mail address first (see the link we sent you), then link it.",
        "existing_account" if google => "An account with this e-mail address already exists. Sign in to it first (with your password or the way you signed in before), then link Google from Settings > Security.",
        "existing_account" => "An account with this e-mail address already exists. Sign in to it first (with your password or the way you signed in before), then link GitHub from Settings > Security.",
        "disabled" => "This account has been disabled by uni1 staff. If you think this is a mistake, write to us through the contact page.",
        "internal" => "Something went wrong on our side. Please try again in a moment.",
        _ => "The sign-in provider's answer could not be verified. Please try again.",
    }
}

/// Percent-encodes `s` for use as one query-string value.
pub fn encode_component(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Where to go after signing in: a local path only, never another site.
pub fn safe_next(next: Option<&str>) -> String {
    // Browsers drop tabs and line breaks and read `\` as `/`, so "/\t/x"
    // would become "//x", another site: refuse anything but a plain path.
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(|c| c.is_control() || c.is_whitespace()) =>
        {
            n.to_owned()
        }
        _ => "/studio".to_owned(),
    }
}

#[server(prefix = "/api", endpoint = "me")]
pub async fn get_current_user() -> Result<Option<UserSummary>, AppError> {
    Ok(crate::session::current_user().map(|u| UserSummary {
        display_name: u.display_name,
        email: u.email,
        email_confirmed: u.email_confirmed,
        deletion_due: u.deletion_due.map(crate::dates::minute),
        policy_changed: u.policy_changed,
        staff: u.role != uni1_domain::accounts::Role::User,
        picture: u
            .picture
            .map(|p| crate::privacy::picture_url(&p.to_string())),
    }))
}

#[server(prefix = "/api", endpoint = "sign_in_options")]
pub async fn get_sign_in_options() -> Result<SignInOptions, AppError> {
    Ok(crate::state::app_state()?.providers)
}

#[server(prefix = "/api", endpoint = "pending_sign_up")]
pub async fn get_pending_sign_up(token: String) -> Result<PendingInfo, AppError> {
    let state = crate::state::app_state()?;
    let pending = state.accounts.pending_sign_up(&token).await?;
    Ok(PendingInfo {
        provider: pending.provider.label().to_owned(),
        email: pending.email,
        display_name: pending.display_name,
    })
}

#[server(prefix = "/api", endpoint = "complete_sign_up")]
pub async fn complete_sign_up(
    token: String,
    adult: Option<String>,
    terms: Option<String>,
) -> Result<(), AppError> {
    let state = crate::state::app_state()?;
    let client = crate::session::client_info();
    state.limits.sign_up(&client.ip).await?;
    let session = state
        .accounts
        .complete_provider_sign_up(&token, adult.is_some(), terms.is_some(), &client)
        .await?;
    crate::session::set_session_cookie(&state.cookie, &session);
    crate::session::count_event(uni1_domain::analytics::EventKind::SignUp, false).await;
    leptos_axum::redirect("/studio");
    Ok(())
}

#[server(prefix = "/api", endpoint = "sign_up")]
pub async fn sign_up(
    display_name: String,
    email: String,
    password: String,
    adult: Option<String>,
    terms: Option<String>,
) -> Result<(), AppError> {
    use uni1_domain::accounts::SignUp;
    let state = crate::state::app_state()?;
    let client = crate::session::client_info();
    state.limits.sign_up(&client.ip).await?;
    let form = SignUp::parse(
        &email,
        &password,
        &display_name,
        adult.is_some(),
        terms.is_some(),
    )?;
    // Every sign-up mails the address (a link or a notice): a budget per
    // recipient, whoever asks, so nobody can fill someone's inbox.
    state.limits.sign_up_recipient(&email).await?;
    state.accounts.sign_up(form, &client).await?;
    crate::session::count_event(uni1_domain::analytics::EventKind::SignUp, false).await;
    leptos_axum::redirect("/sign-up?done=1");
    Ok(())
}

#[server(prefix = "/api", endpoint = "sign_in")]
pub async fn sign_in(
    email: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    use uni1_domain::accounts::two_factor::SignInOutcome;
    use uni1_domain::accounts::AccountError;
    let state = crate::state::app_state()?;
    let client = crate::session::client_info();
    state.limits.sign_in(&client.ip, &email).await?;
    // A soft budget per account, whatever the address the guesses come from.
    state.limits.account_sign_in(&email)?;
    let next = safe_next(next.as_deref());
    let outcome = match state
        .accounts
        .sign_in(&email, &password, &next, &client)
        .await
    {
        Ok(outcome) => outcome,
        Err(e) => {
            if matches!(e, AccountError::InvalidCredentials) {
                state.limits.account_sign_in_failed(&email);
            }
            return Err(e.into());
        }
    };
    state.limits.account_sign_in_succeeded(&email);
    match outcome {
        SignInOutcome::Session(session) => {
            crate::session::set_session_cookie(&state.cookie, &session);
            leptos_axum::redirect(&next);
        }
        SignInOutcome::SecondFactor(challenge) => {
            crate::session::set_cookie_header(state.cookie.set_challenge(&challenge));
            leptos_axum::redirect("/sign-in/two-factor");
        }
    }
    Ok(())
}

/// The second step of a sign-in with two-factor on: a code from the
/// authenticator app, or a recovery code.
#[server(prefix = "/api", endpoint = "verify_second_factor")]
pub async fn verify_second_factor(code: String) -> Result<(), AppError> {
    let state = crate::state::app_state()?;
    let client = crate::session::client_info();
    let challenge = crate::session::challenge_cookie(&state.cookie).ok_or_else(|| {
        AppError::invalid("token", "This sign-in expired. Please sign in again.").respond()
    })?;
    // Limited per challenge (and address), not one budget for everyone
    // behind an address; wrong codes also count per person in the domain.
    state.limits.second_factor(&client.ip, &challenge).await?;
    let (session, next) = state
        .accounts
        .complete_second_factor(&challenge, &code, &client)
        .await?;
    crate::session::set_session_cookie(&state.cookie, &session);
    crate::session::set_cookie_header(state.cookie.clear_challenge());
    leptos_axum::redirect(&safe_next(Some(&next)));
    Ok(())
}

/// Asks to move the account to a new address (confirmed by mail). Needs
/// the password, or (without one) a recent sign-in or a two-factor code.
#[server(prefix = "/api", endpoint = "request_email_change")]
pub async fn request_email_change(
    email: String,
    password: Option<String>,
    code: Option<String>,
) -> Result<(), AppError> {
    let state = crate::state::app_state()?;
    let user = crate::session::require_user()?;
    let client = crate::session::client_info();
    state.limits.reset(&client.ip, &user.email).await?;
    state
        .accounts
        .request_email_change(
            &user,
            &email,
            &password.unwrap_or_default(),
            &code.unwrap_or_default(),
            &client,
        )
        .await?;
    Ok(())
}

#[server(prefix = "/api", endpoint = "confirm_email_change")]
pub async fn confirm_email_change(token: String) -> Result<(), AppError> {
    let state = crate::state::app_state()?;
    let browser_session = crate::session::current_user().map(|u| u.session_id);
    state
        .accounts
        .confirm_email_change(&token, browser_session, &crate::session::client_info())
        .await?;
    leptos_axum::redirect("/confirm-email-change?done=1");
    Ok(())
}

#[server(prefix = "/api", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    let state = crate::state::app_state()?;
    if let Some(user) = crate::session::current_user() {
        state
            .accounts
            .sign_out(&user, &crate::session::client_info())
            .await?;
    }
    crate::session::clear_session_cookie(&state.cookie);
    leptos_axum::redirect("/");
    Ok(())
}

#[server(prefix = "/api", endpoint = "confirm_email")]
pub async fn confirm_email(token: String) -> Result<(), AppError> {
    let state = crate::state::app_state()?;
    // Confirming signs out every session of the account but this
    // browser's, if it is signed in to it (see accounts::reclaim).
    let browser_session = crate::session::current_user().map(|u| u.session_id);
    state
        .accounts
        .confirm_email(&token, browser_session, &crate::session::client_info())
        .await?;
    leptos_axum::redirect("/confirm-email?done=1");
    Ok(())
}

#[server(prefix = "/api", endpoint = "resend_confirmation")]
pub async fn resend_confirmation() -> Result<(), AppError> {
    let state = crate::state::app_state()?;
    let user = crate::session::require_user()?;
    state
        .limits
        .reset(&crate::session::client_info().ip, &user.email)
        .await?;
    state.accounts.resend_confirmation(&user).await?;
    Ok(())
}

#[server(prefix = "/api", endpoint = "request_password_reset")]
pub async fn request_password_reset(email: String) -> Result<(), AppError> {
    let state = crate::state::app_state()?;
    let client = crate::session::client_info();
    uni1_domain::support::email::EmailAddress::parse(&email)
        .map_err(|e| AppError::invalid("email", e.to_string()).respond())?;
    state.limits.reset(&client.ip, &email).await?;
    state
        .accounts
        .request_password_reset(&email, &client)
        .await?;
    leptos_axum::redirect("/reset-password?sent=1");
    Ok(())
}

#[server(prefix = "/api", endpoint = "reset_password")]
pub async fn reset_password(token: String, password: String) -> Result<(), AppError> {
    let state = crate::state::app_state()?;
    let client = crate::session::client_info();
    state.limits.sign_in(&client.ip, "password-reset").await?;
    state
        .accounts
        .reset_password(&token, &password, &client)
        .await?;
    crate::session::clear_session_cookie(&state.cookie);
    leptos_axum::redirect("/sign-in?reset=done");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn query_values_cannot_add_parameters() {
        assert_eq!(
            super::encode_component("/x&link=1#y z"),
            "/x%26link%3D1%23y%20z"
        );
    }

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/settings/security")), "/settings/security");
        assert_eq!(safe_next(Some("https://evil.example")), "/studio");
        assert_eq!(safe_next(Some("//evil.example")), "/studio");
        assert_eq!(safe_next(Some("/\\evil.example")), "/studio");
        assert_eq!(safe_next(Some("/\t/evil.example")), "/studio");
        assert_eq!(safe_next(Some("/\n/evil.example")), "/studio");
        assert_eq!(safe_next(Some("/ /evil.example")), "/studio");
        assert_eq!(safe_next(None), "/studio");
    }
}
