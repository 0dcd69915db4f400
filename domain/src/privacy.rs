//! The privacy center: the rights of the privacy policy's section 8 as
//! things a person does themselves (Settings -> Privacy).
//!
//! - [`requests`]: every exercise of a right is a `privacy_requests` row
//!   with its kind, state, times and due date (PRV-7);
//! - [`choices`]: objection and restriction (PRV-4), training consent
//!   (PRV-5), and the one check every processing path makes
//!   ([`ensure_may_process`]);
//! - [`overview`]: what is stored about the person right now (PRV-1);
//! - [`picture`]: the profile picture they upload (PRV-1);
//! - [`export`]: the ZIP of everything (PRV-2), built by a background pass;
//! - [`deletion`]: the account's deletion after a grace period (PRV-3).
//!
//! Export and deletion reach what [`crate::personal_data`] lists; a test
//! fills an account, deletes it and scans every table and object.

pub mod choices;
pub mod deletion;
pub mod export;
pub mod overview;
pub mod picture;
pub mod requests;

use chrono::Duration;
use sea_orm::DatabaseConnection;

use crate::accounts::{AccountError, Accounts};
use crate::billing::Billing;
use crate::mail::MailContext;
use crate::support::crypto::AppKey;
use crate::support::error::Unexpected;

pub use choices::{ensure_may_process, Choices, NotNow};
pub use requests::{RequestKind, RequestView};

/// The version of the privacy policy in force (its date): recorded with a
/// training consent and with the notice a person dismissed. Publishing a
/// new version of `/privacy` (`uni1_app::pages::legal::POLICY_VERSIONS`)
/// changes it; a test keeps the two equal.
pub const POLICY_VERSION: &str = "2026-12-07";

/// How long things last.
#[derive(Debug, Clone)]
pub struct PrivacyPolicy {
    /// Between asking for the account's deletion and the deletion.
    pub deletion_grace: Duration,
    /// How long a finished export can be downloaded.
    pub export_valid: Duration,
}

impl Default for PrivacyPolicy {
    fn default() -> Self {
        Self {
            deletion_grace: Duration::days(7),
            export_valid: Duration::days(7),
        }
    }
}

/// The privacy center's service.
#[derive(Clone)]
pub struct Privacy {
    db: DatabaseConnection,
    blobs: uni1_storage::Blobs,
    mail: MailContext,
    key: AppKey,
    accounts: Accounts,
    billing: Billing,
    policy: PrivacyPolicy,
    /// Fetches providers' pictures (`picture::provider_picture_client`).
    pictures: Option<uni1_models::outbound::Outbound>,
}

impl std::fmt::Debug for Privacy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Privacy")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Privacy {
    pub fn new(
        db: DatabaseConnection,
        blobs: uni1_storage::Blobs,
        mail: MailContext,
        key: AppKey,
        accounts: Accounts,
        billing: Billing,
        policy: PrivacyPolicy,
    ) -> Self {
        Self {
            db,
            blobs,
            mail,
            key,
            accounts,
            billing,
            policy,
            pictures: picture::provider_picture_client(),
        }
    }

    /// Fetches providers' pictures with `client` instead (tests: a
    /// picture server on loopback).
    pub fn with_picture_client(mut self, client: uni1_models::outbound::Outbound) -> Self {
        self.pictures = Some(client);
        self
    }

    pub fn policy(&self) -> &PrivacyPolicy {
        &self.policy
    }
}

/// Why a privacy action did not happen, in words a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error("An export is already being prepared. We will e-mail you when it is ready.")]
    ExportRunning,
    #[error("This export is not available (it expired, or it is not yours).")]
    ExportGone,
    #[error("Your account is not scheduled for deletion.")]
    NotScheduled,
    #[error("Your account is already scheduled for deletion.")]
    AlreadyScheduled,
    #[error("This image cannot be used: {0}.")]
    Picture(#[from] uni1_imaging::ImageError),
    #[error("Your sign-in provider gave no picture when you signed up.")]
    NoProviderPicture,
    #[error("We could not fetch the picture from your sign-in provider. Try again later, or upload one.")]
    ProviderPictureUnavailable,
    #[error(transparent)]
    NotNow(#[from] NotNow),
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}
