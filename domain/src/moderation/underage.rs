//! "Report an underage account": anyone can tell the operator that an
//! account may belong to someone under 18. Reports are stored for admins to
//! review (the admin pages list them); nothing is decided automatically.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, DatabaseConnection, Set};
use uuid::Uuid;

use crate::accounts::ClientInfo;
use crate::entities::underage_report;
use crate::support::audit::truncate;
use crate::support::email::{EmailAddress, EmailError};
use crate::support::error::{ResultExt, Unexpected};

/// What is wrong with a report, one reason per field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error(
        "Say which account you mean: its e-mail address, name or a link (at most 254 characters)."
    )]
    Account,
    #[error("Tell us briefly why you think so (10 to 2000 characters).")]
    Details,
    #[error(transparent)]
    ReporterEmail(#[from] EmailError),
}

impl ReportError {
    pub fn field(&self) -> &'static str {
        match self {
            ReportError::Account => "reported_account",
            ReportError::Details => "details",
            ReportError::ReporterEmail(_) => "reporter_email",
        }
    }
}

/// A report that passed validation.
#[derive(Debug, Clone)]
pub struct UnderageReport {
    reported_account: String,
    details: String,
    reporter_email: Option<EmailAddress>,
}

impl UnderageReport {
    /// Validates the form; the reporter's address is optional.
    pub fn parse(
        reported_account: &str,
        details: &str,
        reporter_email: &str,
    ) -> Result<Self, ReportError> {
        let reported_account = reported_account.trim();
        if reported_account.is_empty() || reported_account.chars().count() > 254 {
            return Err(ReportError::Account);
        }
        let details = details.trim();
        if !(10..=2000).contains(&details.chars().count()) {
            return Err(ReportError::Details);
        }
        let reporter_email = match reporter_email.trim() {
            "" => None,
            given => Some(EmailAddress::parse(given)?),
        };
        Ok(Self {
            reported_account: reported_account.to_owned(),
            details: details.to_owned(),
            reporter_email,
        })
    }
}

/// Stores a report for admin review.
pub async fn submit(
    db: &DatabaseConnection,
    report: UnderageReport,
    reporter_user_id: Option<Uuid>,
    client: &ClientInfo,
) -> Result<Uuid, Unexpected> {
    let id = Uuid::now_v7();
    underage_report::ActiveModel {
        id: Set(id),
        reported_account: Set(report.reported_account),
        details: Set(report.details),
        reporter_email: Set(report.reporter_email.map(|e| e.as_str().to_owned())),
        reporter_user_id: Set(reporter_user_id),
        ip: Set(truncate(&client.ip, 45)),
        status: Set("open".into()),
        created_at: Set(Utc::now()),
        reviewed_at: Set(None),
        outcome: Set(None),
    }
    .insert(db)
    .await
    .unexpected("storing an underage report")?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_checked_and_the_reporter_may_stay_anonymous() {
        assert!(
            UnderageReport::parse("kid@example.org", "Says they are 14 in their bio.", "").is_ok()
        );
        assert_eq!(
            UnderageReport::parse(" ", "Says they are 14.", "")
                .unwrap_err()
                .field(),
            "reported_account"
        );
        assert_eq!(
            UnderageReport::parse("kid", "short", "")
                .unwrap_err()
                .field(),
            "details"
        );
        assert_eq!(
            UnderageReport::parse("kid", "Says they are 14 in their bio.", "nope")
                .unwrap_err()
                .field(),
            "reporter_email"
        );
    }
}
