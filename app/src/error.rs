//! The one error type every server function returns.
//!
//! Its `Display` text is safe to show anyone: it never carries database, I/O
//! or stack details. On the server, unexpected failures are logged with their
//! full cause chain where they are converted (see `From<Unexpected>`), and the
//! HTTP status is set to match the variant.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// An error a page can show as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// The input was wrong; `field` names the form field when there is one.
    #[error("{message}")]
    Invalid {
        field: Option<String>,
        message: String,
    },
    #[error("Please sign in to continue.")]
    Unauthenticated,
    #[error("You do not have access to that.")]
    Forbidden,
    /// Refused, with the reason and what to do about it.
    #[error("{message}")]
    ForbiddenBecause { message: String },
    #[error("We could not find that.")]
    NotFound,
    #[error("Too many attempts. Please wait {retry_after_secs} seconds and try again.")]
    RateLimited { retry_after_secs: u64 },
    #[error("Something went wrong on our side. Please try again in a moment.")]
    Internal,
    #[error("Could not reach the server. Check your connection and try again.")]
    Unreachable,
}

impl AppError {
    /// An input error for `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// The form field this error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => field.as_deref(),
            _ => None,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => Self::Unreachable,
            ServerFnErrorErr::Args(_)
            | ServerFnErrorErr::MissingArg(_)
            | ServerFnErrorErr::Deserialization(_) => Self::Invalid {
                field: None,
                message: "The form was incomplete. Reload the page and try again.".into(),
            },
            _ => Self::Internal,
        }
    }
}

#[cfg(feature = "ssr")]
mod server {
    use super::AppError;
    use http::StatusCode;
    use uni1_domain::accounts::AccountError;
    use uni1_domain::support::rate_limit::RetryAfter;
    use uni1_domain::Unexpected;

    impl AppError {
        /// The HTTP status that goes with this error.
        pub fn status(&self) -> StatusCode {
            match self {
                AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
                AppError::Forbidden | AppError::ForbiddenBecause { .. } => StatusCode::FORBIDDEN,
                AppError::NotFound => StatusCode::NOT_FOUND,
                AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                AppError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
                AppError::Unreachable => StatusCode::BAD_GATEWAY,
            }
        }

        /// Sets the response status for this error when called inside a
        /// server function or page render, and returns the error.
        pub fn respond(self) -> Self {
            if let Some(res) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
                res.set_status(self.status());
            }
            self
        }
    }

    /// The error and all its causes on one line, for the log.
    pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
        let mut out = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            out.push_str(": ");
            out.push_str(&cause.to_string());
            source = cause.source();
        }
        out
    }

    impl From<AccountError> for AppError {
        fn from(err: AccountError) -> Self {
            match err {
                AccountError::Invalid { field, message } => {
                    AppError::invalid(field, message).respond()
                }
                AccountError::InvalidCredentials
                | AccountError::ReauthRequired
                | AccountError::Disabled { .. } => AppError::Invalid {
                    field: None,
                    message: err.to_string(),
                }
                .respond(),
                AccountError::LinkInvalid => AppError::invalid("token", err.to_string()).respond(),
                AccountError::NotFound => AppError::NotFound.respond(),
                AccountError::ProviderEmailUnverified(_)
                | AccountError::ProviderLinkedElsewhere(_)
                | AccountError::LastSignInMethod(_)
                | AccountError::ProviderAddressHasAccount(_) => {
                    AppError::invalid("provider", err.to_string()).respond()
                }
                AccountError::Unexpected(e) => e.into(),
            }
        }
    }

    impl From<RetryAfter> for AppError {
        fn from(wait: RetryAfter) -> Self {
            let secs = wait.seconds();
            if let Some(res) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
                res.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
            }
            AppError::RateLimited {
                retry_after_secs: secs,
            }
            .respond()
        }
    }

    impl From<uni1_domain::library::collections::CollectionError> for AppError {
        fn from(err: uni1_domain::library::collections::CollectionError) -> Self {
            use uni1_domain::library::collections::CollectionError as E;
            match err {
                E::BadName | E::NameTaken | E::TooMany => {
                    AppError::invalid("name", err.to_string()).respond()
                }
                E::TooManyImages => AppError::invalid("ids", err.to_string()).respond(),
                E::NotFound => AppError::NotFound.respond(),
                E::Unexpected(e) => e.into(),
            }
        }
    }

    impl From<uni1_domain::library::publishing::PublishError> for AppError {
        fn from(err: uni1_domain::library::publishing::PublishError) -> Self {
            use uni1_domain::library::publishing::PublishError as E;
            match err {
                E::NotFound => AppError::NotFound.respond(),
                E::BadReport => AppError::invalid("reason", err.to_string()).respond(),
                E::Expired | E::Hidden | E::Refused(_) | E::NotNow(_) => AppError::Invalid {
                    field: None,
                    message: err.to_string(),
                }
                .respond(),
                E::Unexpected(e) => e.into(),
            }
        }
    }

    impl From<uni1_domain::webhooks::WebhookError> for AppError {
        fn from(err: uni1_domain::webhooks::WebhookError) -> Self {
            use uni1_domain::webhooks::WebhookError as E;
            match err {
                E::BadUrl | E::Refused(_) => AppError::invalid("url", err.to_string()).respond(),
                E::NoEvents => AppError::invalid("events", err.to_string()).respond(),
                E::TooMany | E::Disabled | E::InProgress => AppError::Invalid {
                    field: None,
                    message: err.to_string(),
                }
                .respond(),
                E::NotFound => AppError::NotFound.respond(),
                E::Unexpected(e) => e.into(),
            }
        }
    }

    impl From<uni1_domain::library::sharing::ShareError> for AppError {
        fn from(err: uni1_domain::library::sharing::ShareError) -> Self {
            use uni1_domain::library::sharing::ShareError as E;
            match err {
                E::BadExpiry => AppError::invalid("expires_in_days", err.to_string()).respond(),
                E::TooMany { .. } | E::NotNow(_) => AppError::Invalid {
                    field: None,
                    message: err.to_string(),
                }
                .respond(),
                E::NotFound => AppError::NotFound.respond(),
                E::Unexpected(e) => e.into(),
            }
        }
    }

    impl From<uni1_domain::generation::SubmitError> for AppError {
        fn from(err: uni1_domain::generation::SubmitError) -> Self {
            use uni1_domain::generation::SubmitError as E;
            let field = match &err {
                E::Invalid(e) => return AppError::invalid(e.field, e.message.clone()).respond(),
                E::Unexpected(_) => "",
                E::Insufficient { .. } | E::InDebt { .. } | E::KeyCapReached { .. } => "credits",
                E::TooManyPending { .. } | E::EmailNotConfirmed | E::NotNow(_) => "form",
                E::ReferenceGone => "reference",
                E::TooManyRefused { .. } => "prompt",
            };
            match err {
                E::Unexpected(e) => e.into(),
                err => AppError::invalid(field, err.to_string()).respond(),
            }
        }
    }

    impl From<uni1_domain::privacy::PrivacyError> for AppError {
        fn from(err: uni1_domain::privacy::PrivacyError) -> Self {
            use uni1_domain::privacy::PrivacyError as E;
            match err {
                E::Account(e) => e.into(),
                E::Unexpected(e) => e.into(),
                E::ExportGone => AppError::NotFound.respond(),
                err => AppError::Invalid {
                    field: None,
                    message: err.to_string(),
                }
                .respond(),
            }
        }
    }

    impl From<uni1_domain::billing::BillingError> for AppError {
        fn from(err: uni1_domain::billing::BillingError) -> Self {
            use uni1_domain::billing::BillingError as E;
            match err {
                E::Unexpected(e) => e.into(),
                err => AppError::invalid("pack", err.to_string()).respond(),
            }
        }
    }

    impl From<uni1_domain::admin::AdminError> for AppError {
        fn from(err: uni1_domain::admin::AdminError) -> Self {
            use uni1_domain::admin::AdminError as E;
            match err {
                E::Unauthenticated => AppError::Unauthenticated.respond(),
                E::Forbidden => AppError::Forbidden.respond(),
                E::NeedsTwoFactor => AppError::ForbiddenBecause {
                    message: err.to_string(),
                }
                .respond(),
                E::Invalid { field: "", message } => AppError::Invalid {
                    field: None,
                    message,
                }
                .respond(),
                E::Invalid { field, message } => AppError::invalid(field, message).respond(),
                E::NotFound => AppError::NotFound.respond(),
                E::Unexpected(e) => e.into(),
            }
        }
    }

    impl From<uni1_domain::developer::ApiKeyError> for AppError {
        fn from(err: uni1_domain::developer::ApiKeyError) -> Self {
            use uni1_domain::developer::ApiKeyError as E;
            match err {
                E::Invalid { field, message } => AppError::invalid(field, message).respond(),
                E::TooMany { .. } | E::NotNow(_) => AppError::Invalid {
                    field: None,
                    message: err.to_string(),
                }
                .respond(),
                E::Unexpected(e) => e.into(),
            }
        }
    }

    impl From<Unexpected> for AppError {
        fn from(err: Unexpected) -> Self {
            tracing::error!(error = %chain(&err), "request failed");
            AppError::Internal.respond()
        }
    }
}

#[cfg(feature = "ssr")]
pub use server::chain;
