//! Creating an account with e-mail and password.
//!
//! The answer is the same whether or not the address already has an
//! account: a new address gets a confirmation link, a known one gets a
//! notice that someone tried. Either way the person is told to check their
//! inbox, so the form cannot be used to find out who has an account.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, SqlErr};
use uuid::Uuid;

use super::password::{self, NewPassword};
use super::{email_key, AccountError, Accounts, ClientInfo, Role, TERMS_VERSION};
use crate::entities::user;
use crate::mail::{self, templates};
use crate::support::audit::{self, Action};
use crate::support::email::EmailAddress;
use crate::support::error::ResultExt;

/// Longest display name, in characters.
pub const NAME_MAX: usize = 100;

/// Every new account: the person says they are 18 or older and accepts
/// the terms and the privacy policy.
pub(crate) fn require_attestation(adult: bool, accepts_terms: bool) -> Result<(), AccountError> {
    if !adult {
        return Err(AccountError::invalid(
            "adult",
            "uni1 is only for adults. Confirm that you are 18 or older.",
        ));
    }
    if !accepts_terms {
        return Err(AccountError::invalid(
            "terms",
            "Accept the terms and the privacy policy to create an account.",
        ));
    }
    Ok(())
}

/// A new `users` row, attested and accepting the current terms now.
pub(crate) struct NewAccount<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
    pub password_hash: Option<String>,
    pub confirmed: bool,
    pub role: Role,
    pub avatar_url: Option<String>,
}

impl NewAccount<'_> {
    pub(crate) fn row(self, id: Uuid, now: chrono::DateTime<Utc>) -> user::ActiveModel {
        user::ActiveModel {
            id: Set(id),
            email: Set(self.email.to_owned()),
            email_key: Set(email_key(self.email)),
            email_confirmed_at: Set(self.confirmed.then_some(now)),
            password_hash: Set(self.password_hash),
            display_name: Set(self.display_name.to_owned()),
            avatar_url: Set(self.avatar_url),
            role: Set(self.role.as_str().to_owned()),
            adult_attested_at: Set(now),
            terms_version: Set(TERMS_VERSION.to_owned()),
            terms_accepted_at: Set(now),
            created_at: Set(now),
            updated_at: Set(now),
            expiry_reminders: Set(false),
            expiry_reminded_at: Set(None),
            objected_at: Set(None),
            restricted_at: Set(None),
            training_consent_at: Set(None),
            training_consent_version: Set(None),
            deletion_due_at: Set(None),
            policy_seen_version: Set(Some(crate::privacy::POLICY_VERSION.to_owned())),
            notify_generation_done: Set(false),
            service_updates: Set(true),
            marketing_consent_at: Set(None),
            marketing_consent_source: Set(None),
            progress_watched_until: Set(None),
            picture_id: Set(None),
            disabled_at: Set(None),
            disabled_reason: Set(None),
        }
    }
}

/// A sign-up form that passed validation.
#[derive(Debug)]
pub struct SignUp {
    email: EmailAddress,
    display_name: String,
    password: NewPassword,
}

/// A display name as typed: trimmed, 1 to [`NAME_MAX`] characters, no
/// control characters.
pub(crate) fn parse_display_name(name: &str) -> Result<String, AccountError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX || name.chars().any(char::is_control) {
        return Err(AccountError::invalid(
            "display_name",
            format!("Enter a name of 1 to {NAME_MAX} characters."),
        ));
    }
    Ok(name.to_owned())
}

impl SignUp {
    /// Validates the form. The person must say they are 18 or older and
    /// accept the terms and privacy policy.
    pub fn parse(
        email: &str,
        password: &str,
        display_name: &str,
        adult: bool,
        accepts_terms: bool,
    ) -> Result<Self, AccountError> {
        let email = EmailAddress::parse(email).map_err(|e| AccountError::invalid("email", e))?;
        let display_name = parse_display_name(display_name)?;
        let display_name = display_name.as_str();
        let password = NewPassword::parse(password, &[email.as_str(), display_name])
            .map_err(|e| AccountError::invalid("password", e))?;
        require_attestation(adult, accepts_terms)?;
        Ok(Self {
            email,
            display_name: display_name.to_owned(),
            password,
        })
    }
}

impl Accounts {
    /// Creates the account (or, for a known address, notifies its owner).
    pub async fn sign_up(&self, form: SignUp, client: &ClientInfo) -> Result<(), AccountError> {
        let key = email_key(form.email.as_str());
        let existing = user::Entity::find()
            .filter(user::Column::EmailKey.eq(&key))
            .one(&self.db)
            .await
            .unexpected("looking up an account")?;
        // Hash even for known addresses so both paths take as long.
        let password_hash = password::hash(form.password).await?;
        if let Some(existing) = existing {
            return self.notify_existing(existing, client).await;
        }

        let now = Utc::now();
        let id = Uuid::now_v7();
        let txn = crate::support::tx::begin(&self.db).await?;
        let inserted = NewAccount {
            email: form.email.as_str(),
            display_name: &form.display_name,
            password_hash: Some(password_hash),
            confirmed: false,
            role: Role::User,
            avatar_url: None,
        }
        .row(id, now)
        .insert(&txn)
        .await;
        if let Err(e) = inserted {
            if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
                // Someone signed up with the same address a moment ago.
                drop(txn);
                let existing = user::Entity::find()
                    .filter(user::Column::EmailKey.eq(&key))
                    .one(&self.db)
                    .await
                    .unexpected("looking up an account")?
                    .ok_or_else(|| {
                        crate::Unexpected::new("finding the account that won a race", e)
                    })?;
                return self.notify_existing(existing, client).await;
            }
            return Err(crate::Unexpected::new("creating an account", e).into());
        }
        let token = self
            .issue_token(
                &txn,
                id,
                super::email_tokens::Purpose::ConfirmEmail,
                form.email.as_str(),
            )
            .await?;
        mail::enqueue(
            &txn,
            &self.key,
            Some(id),
            "confirm_email",
            form.email.as_str(),
            templates::confirm_email(&self.mail, &token),
        )
        .await?;
        audit::record(&txn, Some(id), Action::SignUp, client, "").await?;
        txn.commit().await.unexpected("committing a sign-up")?;
        Ok(())
    }

    async fn notify_existing(
        &self,
        existing: user::Model,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        let txn = crate::support::tx::begin(&self.db).await?;
        mail::enqueue(
            &txn,
            &self.key,
            Some(existing.id),
            "sign_up_attempt",
            &existing.email,
            templates::sign_up_attempt_on_existing(&self.mail),
        )
        .await?;
        audit::record(
            &txn,
            Some(existing.id),
            Action::SignUpExistingEmail,
            client,
            "",
        )
        .await?;
        txn.commit()
            .await
            .unexpected("committing a sign-up notice")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(r: Result<SignUp, AccountError>) -> &'static str {
        match r {
            Err(AccountError::Invalid { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn every_rule_names_its_field() {
        const PW: &str = "correct horse battery staple";
        assert!(SignUp::parse("ada@example.org", PW, "Ada", true, true).is_ok());
        assert_eq!(field(SignUp::parse("ada", PW, "Ada", true, true)), "email");
        assert_eq!(
            field(SignUp::parse("ada@example.org", PW, " ", true, true)),
            "display_name"
        );
        assert_eq!(
            field(SignUp::parse(
                "ada@example.org",
                "password",
                "Ada",
                true,
                true
            )),
            "password"
        );
        assert_eq!(
            field(SignUp::parse("ada@example.org", PW, "Ada", false, true)),
            "adult"
        );
        assert_eq!(
            field(SignUp::parse("ada@example.org", PW, "Ada", true, false)),
            "terms"
        );
    }
}
