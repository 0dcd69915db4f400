//! The mail adapters behind the domain's [`Mailer`] port: an SMTP server
//! (lettre), or a local outbox folder of `.eml` files, the embedded default
//! when no SMTP server is configured.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use uni1_domain::mail::delivery::Mailer;

/// An SMTP server.
#[derive(Clone)]
pub struct SmtpMailer(AsyncSmtpTransport<Tokio1Executor>);

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: never printed.
        f.write_str("SmtpMailer")
    }
}

impl SmtpMailer {
    /// From a URL: `smtp://host:25` (no TLS),
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS) or
    /// `smtps://user:pass@host:465` (TLS).
    pub fn from_url(url: &str) -> Result<Self, lettre::transport::smtp::Error> {
        Ok(Self(
            AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?
                .timeout(Some(Duration::from_secs(20)))
                .build(),
        ))
    }
}

#[async_trait::async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: lettre::Message) -> Result<(), String> {
        self.0
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn clears_sent_bodies(&self) -> bool {
        true
    }
}

/// A folder of `.eml` files (owner-only: they hold live links).
#[derive(Debug, Clone)]
pub struct OutboxMailer(pub PathBuf);

#[async_trait::async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, message: lettre::Message) -> Result<(), String> {
        let dir = &self.0;
        let mut folder = tokio::fs::DirBuilder::new();
        folder.recursive(true);
        #[cfg(unix)]
        folder.mode(0o700);
        folder.create(dir).await.map_err(|e| e.to_string())?;
        let name = format!(
            "{}-{}.eml",
            Utc::now().format("%Y%m%dT%H%M%S%.6f"),
            uuid::Uuid::now_v7()
        );
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options
            .open(dir.join(name))
            .await
            .map_err(|e| e.to_string())?;
        use tokio::io::AsyncWriteExt as _;
        file.write_all(&message.formatted())
            .await
            .map_err(|e| e.to_string())?;
        file.flush().await.map_err(|e| e.to_string())
    }

    /// The sealed bodies stay until the purge, so `/dev/outbox` can show
    /// the links (the file holds the same text anyway).
    fn clears_sent_bodies(&self) -> bool {
        false
    }
}

/// The mailer the settings ask for: SMTP with `UNI1_SMTP_URL`, else the
/// outbox folder in the data folder.
pub fn from_settings(settings: &crate::config::Settings) -> anyhow::Result<Arc<dyn Mailer>> {
    use anyhow::Context as _;
    use secrecy::ExposeSecret as _;
    Ok(match &settings.smtp_url {
        Some(url) => {
            Arc::new(SmtpMailer::from_url(url.expose_secret()).context("invalid UNI1_SMTP_URL")?)
        }
        None => Arc::new(OutboxMailer(settings.data_dir.join("outbox"))),
    })
}
