//! Two-factor authentication with TOTP (RFC 6238: SHA-1, 6 digits, 30 s).
//!
//! Enrolment seals a fresh 160-bit secret with the application key, shows it
//! as a QR code (SVG, rendered here) and as text, and turns it on once the
//! person types a valid code; then 10 single-use recovery codes are shown
//! once and stored as SHA-256. When it is on, every sign-in (password or
//! provider) stops after the first factor: a challenge (10 minutes, at most
//! 5 wrong codes) waits for a TOTP or a recovery code. A TOTP step once
//! accepted cannot be used again. Wrong codes also count per person across
//! challenges: after [`PAUSE_AFTER_FAILURES`] within [`PAUSE`], code checks
//! for that person pause and the owner gets a mail (their password is
//! known to someone). Turning it on needs a recent sign-in (see
//! `accounts::reauth`); turning it off needs the password, or a code for
//! accounts without one. Either change signs out the other sessions.

use chrono::Utc;
use rand::RngCore as _;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
};
use serde::{Deserialize, Serialize};
use totp_rs::{Algorithm, TOTP};
use uuid::Uuid;

use super::{password, token, AccountError, Accounts, ClientInfo, CurrentUser, NewSession};
use crate::entities::{audit_log, recovery_code, session, two_factor, two_factor_challenge, user};
use crate::mail::{self, templates};
use crate::support::audit::{self, truncate, Action};
use crate::support::error::{ResultExt, Unexpected};

const STEP_SECS: u64 = 30;
const CHALLENGE_VALID: chrono::Duration = chrono::Duration::minutes(10);
/// Wrong codes a challenge takes before it is spent.
pub const MAX_ATTEMPTS: i32 = 5;
const RECOVERY_CODES: usize = 10;
/// Wrong codes per person (across challenges) within [`PAUSE`] before code
/// checks pause.
pub const PAUSE_AFTER_FAILURES: u64 = 10;
/// How far back wrong codes count, and so how long a pause lasts at most.
pub const PAUSE: chrono::Duration = chrono::Duration::minutes(15);
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// What the set-up page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolment {
    /// The secret in base32, for typing into an app by hand.
    pub secret_base32: String,
    /// `otpauth://` URL (what the QR code holds).
    pub otpauth_url: String,
    /// The QR code as an SVG document.
    pub qr_svg: String,
}

/// How a first-factor sign-in continues.
#[derive(Debug)]
pub enum SignInOutcome {
    Session(NewSession),
    /// Two-factor is on: the challenge token for the second step.
    SecondFactor(String),
}

fn wrong_code() -> AccountError {
    AccountError::invalid(
        "code",
        "That code is not right. Check the time on your device and try again.",
    )
}

fn paused() -> AccountError {
    AccountError::invalid(
        "code",
        format!(
            "Too many wrong codes for this account. Two-factor codes are not accepted for up to {} minutes; try again later.",
            PAUSE.num_minutes()
        ),
    )
}

fn totp(secret: Vec<u8>, account: &str) -> Result<TOTP, Unexpected> {
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP_SECS,
        secret,
        Some("uni1".to_owned()),
        account.replace(':', ""),
    )
    .map_err(|e| Unexpected::new("building a TOTP generator", TotpError(format!("{e:?}"))))
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct TotpError(String);

/// Constant-time equality for short codes.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The step `code` is valid for (now, or one step either side), if any.
fn matching_step(generator: &TOTP, code: &str, now_secs: u64) -> Option<u64> {
    let code: String = code.chars().filter(char::is_ascii_digit).collect();
    if code.len() != 6 {
        return None;
    }
    let current = now_secs / STEP_SECS;
    [current.saturating_sub(1), current, current + 1]
        .into_iter()
        .find(|step| same(&generator.generate(step * STEP_SECS), &code))
}

fn now_secs() -> u64 {
    u64::try_from(Utc::now().timestamp()).unwrap_or_default()
}

fn normalise_recovery(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn new_recovery_code() -> String {
    let mut bytes = [0u8; RECOVERY_CODES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let chars: String = bytes
        .iter()
        .map(|b| RECOVERY_ALPHABET[usize::from(*b) % RECOVERY_ALPHABET.len()] as char)
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

impl Accounts {
    async fn two_factor_row(
        &self,
        conn: &impl ConnectionTrait,
        user_id: Uuid,
    ) -> Result<Option<two_factor::Model>, Unexpected> {
        two_factor::Entity::find_by_id(user_id)
            .one(conn)
            .await
            .unexpected("reading two-factor settings")
    }

    /// True when two-factor authentication is on for `user_id`.
    pub async fn two_factor_enabled(&self, user_id: Uuid) -> Result<bool, Unexpected> {
        Ok(self
            .two_factor_row(&self.db, user_id)
            .await?
            .is_some_and(|r| r.enabled_at.is_some()))
    }

    fn generator(&self, row: &two_factor::Model, account: &str) -> Result<TOTP, Unexpected> {
        let secret = self
            .key
            .open(&row.secret_sealed, row.user_id.as_bytes())
            .map_err(|e| Unexpected::new("opening a TOTP secret", e))?;
        totp(secret, account)
    }

    /// Starts (or restarts) enrolment: a new secret, not yet active. Only
    /// for confirmed addresses (an unconfirmed account may belong to
    /// someone who set it up for another person's address), and after a
    /// recent sign-in or with the password (see `accounts::reauth`).
    pub async fn begin_two_factor(
        &self,
        who: &CurrentUser,
        password_given: &str,
        client: &ClientInfo,
    ) -> Result<Enrolment, AccountError> {
        if !who.email_confirmed {
            return Err(AccountError::invalid(
                "code",
                "Confirm your e-mail address first (see the link we sent you), then set up two-factor authentication.",
            ));
        }
        self.require_recent_auth(who, password_given, "", client)
            .await?;
        if self.two_factor_enabled(who.id).await? {
            return Err(AccountError::invalid(
                "code",
                "Two-factor authentication is already on.",
            ));
        }
        let mut secret = vec![0u8; 20];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let sealed = self.key.seal(&secret, who.id.as_bytes());
        let txn = crate::support::tx::begin(&self.db).await?;
        two_factor::Entity::delete_by_id(who.id)
            .exec(&txn)
            .await
            .unexpected("clearing an old enrolment")?;
        two_factor::ActiveModel {
            user_id: Set(who.id),
            secret_sealed: Set(sealed),
            enabled_at: Set(None),
            last_used_step: Set(None),
            created_at: Set(Utc::now()),
        }
        .insert(&txn)
        .await
        .unexpected("storing a TOTP secret")?;
        txn.commit().await.unexpected("committing an enrolment")?;
        let generator = totp(secret, &who.email)?;
        let otpauth_url = generator.get_url();
        let qr_svg = qrcode::QrCode::new(otpauth_url.as_bytes())
            .map(|qr| {
                qr.render::<qrcode::render::svg::Color>()
                    .min_dimensions(200, 200)
                    .quiet_zone(true)
                    .build()
            })
            .map_err(|e| Unexpected::new("drawing a QR code", TotpError(e.to_string())))?;
        Ok(Enrolment {
            secret_base32: generator.get_secret_base32(),
            otpauth_url,
            qr_svg,
        })
    }

    /// Turns two-factor on with a first valid code; returns the recovery
    /// codes, which are shown this once.
    pub async fn confirm_two_factor(
        &self,
        who: &CurrentUser,
        code: &str,
        client: &ClientInfo,
    ) -> Result<Vec<String>, AccountError> {
        let row = self
            .two_factor_row(&self.db, who.id)
            .await?
            .filter(|r| r.enabled_at.is_none())
            .ok_or_else(|| AccountError::invalid("code", "Start the set-up again."))?;
        let step = matching_step(&self.generator(&row, &who.email)?, code, now_secs())
            .ok_or_else(wrong_code)?;
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
        let txn = crate::support::tx::begin(&self.db).await?;
        two_factor::Entity::update_many()
            .col_expr(two_factor::Column::EnabledAt, Expr::value(Utc::now()))
            .col_expr(
                two_factor::Column::LastUsedStep,
                Expr::value(i64::try_from(step).unwrap_or(i64::MAX)),
            )
            .filter(two_factor::Column::UserId.eq(who.id))
            .exec(&txn)
            .await
            .unexpected("turning two-factor on")?;
        recovery_code::Entity::delete_many()
            .filter(recovery_code::Column::UserId.eq(who.id))
            .exec(&txn)
            .await
            .unexpected("clearing recovery codes")?;
        for code in &codes {
            recovery_code::ActiveModel {
                id: Set(Uuid::now_v7()),
                user_id: Set(who.id),
                code_hash: Set(token::hash(&normalise_recovery(code))),
                used_at: Set(None),
            }
            .insert(&txn)
            .await
            .unexpected("storing a recovery code")?;
        }
        end_other_sessions(&txn, who, "two_factor_changed").await?;
        audit::record(&txn, Some(who.id), Action::TwoFactorEnabled, client, "").await?;
        txn.commit().await.unexpected("committing two-factor")?;
        Ok(codes)
    }

    /// Turns two-factor off. Accounts with a password must give it;
    /// accounts without one give a current code or a recovery code.
    pub async fn disable_two_factor(
        &self,
        who: &CurrentUser,
        password_given: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        let account = self.own_account(who).await?;
        match account.password_hash.clone() {
            Some(hash) => password::check(hash, password_given).await?,
            None => self.second_factor_recheck(&account, code, client).await?,
        }
        let txn = crate::support::tx::begin(&self.db).await?;
        two_factor::Entity::delete_by_id(who.id)
            .exec(&txn)
            .await
            .unexpected("turning two-factor off")?;
        recovery_code::Entity::delete_many()
            .filter(recovery_code::Column::UserId.eq(who.id))
            .exec(&txn)
            .await
            .unexpected("clearing recovery codes")?;
        end_other_sessions(&txn, who, "two_factor_changed").await?;
        audit::record(&txn, Some(who.id), Action::TwoFactorDisabled, client, "").await?;
        txn.commit().await.unexpected("committing two-factor off")?;
        Ok(())
    }

    /// True while `user_id` has had too many wrong codes lately.
    async fn second_factor_paused(
        &self,
        conn: &impl ConnectionTrait,
        user_id: Uuid,
    ) -> Result<bool, Unexpected> {
        Ok(recent_failures(conn, user_id).await? >= PAUSE_AFTER_FAILURES)
    }

    /// Records a wrong code; the one that starts a pause mails the owner.
    async fn second_factor_failed(
        &self,
        conn: &impl ConnectionTrait,
        account: &user::Model,
        client: &ClientInfo,
        detail: &str,
    ) -> Result<(), Unexpected> {
        audit::record(
            conn,
            Some(account.id),
            Action::TwoFactorFailed,
            client,
            detail,
        )
        .await?;
        if recent_failures(conn, account.id).await? == PAUSE_AFTER_FAILURES {
            mail::enqueue(
                conn,
                &self.key,
                Some(account.id),
                "two_factor_paused",
                &account.email,
                templates::two_factor_paused(
                    &self.mail,
                    &account.display_name,
                    PAUSE.num_minutes(),
                ),
            )
            .await?;
            audit::record(
                conn,
                Some(account.id),
                Action::TwoFactorPaused,
                client,
                detail,
            )
            .await?;
        }
        Ok(())
    }

    /// Checks a code outside a sign-in (to confirm it is the owner), with
    /// the same per-person budget as sign-in.
    pub(crate) async fn second_factor_recheck(
        &self,
        account: &user::Model,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        if self.second_factor_paused(&self.db, account.id).await? {
            return Err(paused());
        }
        let txn = crate::support::tx::begin(&self.db).await?;
        let passed = self
            .check_second_factor(&txn, account.id, &account.email, code)
            .await?;
        if passed.is_none() {
            self.second_factor_failed(&txn, account, client, "recheck")
                .await?;
        }
        txn.commit().await.unexpected("committing a code check")?;
        passed.map(|_| ()).ok_or_else(wrong_code)
    }

    /// Checks a TOTP or recovery code and spends it. Returns how it passed.
    async fn check_second_factor(
        &self,
        conn: &impl ConnectionTrait,
        user_id: Uuid,
        account: &str,
        code: &str,
    ) -> Result<Option<&'static str>, Unexpected> {
        let Some(row) = self
            .two_factor_row(conn, user_id)
            .await?
            .filter(|r| r.enabled_at.is_some())
        else {
            return Ok(None);
        };
        if let Some(step) = matching_step(&self.generator(&row, account)?, code, now_secs()) {
            let step = i64::try_from(step).unwrap_or(i64::MAX);
            // Only a step later than the last one used: a code works once.
            let fresh = two_factor::Entity::update_many()
                .col_expr(two_factor::Column::LastUsedStep, Expr::value(step))
                .filter(two_factor::Column::UserId.eq(user_id))
                .filter(
                    two_factor::Column::LastUsedStep
                        .is_null()
                        .or(two_factor::Column::LastUsedStep.lt(step)),
                )
                .exec(conn)
                .await
                .unexpected("recording a used code")?;
            return Ok((fresh.rows_affected == 1).then_some("totp"));
        }
        let spent = recovery_code::Entity::update_many()
            .col_expr(recovery_code::Column::UsedAt, Expr::value(Utc::now()))
            .filter(recovery_code::Column::UserId.eq(user_id))
            .filter(recovery_code::Column::CodeHash.eq(token::hash(&normalise_recovery(code))))
            .filter(recovery_code::Column::UsedAt.is_null())
            .exec(conn)
            .await
            .unexpected("using a recovery code")?;
        Ok((spent.rows_affected == 1).then_some("recovery_code"))
    }

    /// After a first factor: a session, or a challenge when two-factor is on.
    pub(crate) async fn after_first_factor(
        &self,
        conn: &impl ConnectionTrait,
        user_id: Uuid,
        method: &str,
        next_path: &str,
        client: &ClientInfo,
    ) -> Result<SignInOutcome, AccountError> {
        super::ensure_enabled(conn, user_id).await?;
        if self
            .two_factor_row(conn, user_id)
            .await?
            .is_some_and(|r| r.enabled_at.is_some())
        {
            let (secret, hash) = token::generate();
            let now = Utc::now();
            two_factor_challenge::ActiveModel {
                id: Set(Uuid::now_v7()),
                user_id: Set(user_id),
                token_hash: Set(hash),
                method: Set(method.to_owned()),
                next_path: Set(truncate(next_path, 512)),
                attempts: Set(0),
                created_at: Set(now),
                expires_at: Set(now + CHALLENGE_VALID),
                used_at: Set(None),
            }
            .insert(conn)
            .await
            .unexpected("storing a sign-in challenge")?;
            return Ok(SignInOutcome::SecondFactor(secret));
        }
        let session = self.start_session(conn, user_id, client).await?;
        audit::record(conn, Some(user_id), Action::SignIn, client, method).await?;
        Ok(SignInOutcome::Session(session))
    }

    /// The second step of a sign-in: a TOTP or recovery code for the
    /// challenge. Returns the session and where to go next.
    pub async fn complete_second_factor(
        &self,
        challenge: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(NewSession, String), AccountError> {
        let now = Utc::now();
        let row = two_factor_challenge::Entity::find()
            .filter(two_factor_challenge::Column::TokenHash.eq(token::hash(challenge)))
            .filter(two_factor_challenge::Column::UsedAt.is_null())
            .filter(two_factor_challenge::Column::ExpiresAt.gt(now))
            .filter(two_factor_challenge::Column::Attempts.lt(MAX_ATTEMPTS))
            .one(&self.db)
            .await
            .unexpected("reading a sign-in challenge")?
            .ok_or(AccountError::LinkInvalid)?;
        let account = user::Entity::find_by_id(row.user_id)
            .one(&self.db)
            .await
            .unexpected("reading an account")?
            .ok_or(AccountError::LinkInvalid)?;
        if self.second_factor_paused(&self.db, row.user_id).await? {
            return Err(paused());
        }
        // Count this attempt before looking at the code, in one statement
        // that also checks the limit: concurrent guesses cannot overrun it.
        let counted = two_factor_challenge::Entity::update_many()
            .col_expr(
                two_factor_challenge::Column::Attempts,
                Expr::col(two_factor_challenge::Column::Attempts).add(1),
            )
            .filter(two_factor_challenge::Column::Id.eq(row.id))
            .filter(two_factor_challenge::Column::Attempts.lt(MAX_ATTEMPTS))
            .filter(two_factor_challenge::Column::UsedAt.is_null())
            .filter(two_factor_challenge::Column::ExpiresAt.gt(now))
            .exec(&self.db)
            .await
            .unexpected("counting an attempt")?;
        if counted.rows_affected != 1 {
            return Err(AccountError::LinkInvalid);
        }
        let txn = crate::support::tx::begin(&self.db).await?;
        let Some(how) = self
            .check_second_factor(&txn, row.user_id, &account.email, code)
            .await?
        else {
            self.second_factor_failed(&txn, &account, client, &row.method)
                .await?;
            txn.commit().await.unexpected("committing a wrong code")?;
            return Err(wrong_code());
        };
        let used = two_factor_challenge::Entity::update_many()
            .col_expr(two_factor_challenge::Column::UsedAt, Expr::value(now))
            .filter(two_factor_challenge::Column::Id.eq(row.id))
            .filter(two_factor_challenge::Column::UsedAt.is_null())
            .exec(&txn)
            .await
            .unexpected("using a sign-in challenge")?;
        if used.rows_affected != 1 {
            return Err(AccountError::LinkInvalid);
        }
        super::ensure_enabled(&txn, row.user_id).await?;
        let session = self.start_session(&txn, row.user_id, client).await?;
        audit::record(
            &txn,
            Some(row.user_id),
            Action::SignIn,
            client,
            &format!("{}+{how}", row.method),
        )
        .await?;
        txn.commit().await.unexpected("committing a sign-in")?;
        Ok((session, row.next_path))
    }
}

/// Wrong codes `user_id` entered within [`PAUSE`], over all challenges.
async fn recent_failures(conn: &impl ConnectionTrait, user_id: Uuid) -> Result<u64, Unexpected> {
    audit_log::Entity::find()
        .filter(audit_log::Column::UserId.eq(user_id))
        .filter(audit_log::Column::Action.eq(Action::TwoFactorFailed.as_str()))
        .filter(audit_log::Column::CreatedAt.gt(Utc::now() - PAUSE))
        .count(conn)
        .await
        .unexpected("counting wrong codes")
}

/// Ends every session of `who` but the current one (after a change of
/// factors, a session started without them should not go on).
async fn end_other_sessions(
    conn: &impl ConnectionTrait,
    who: &CurrentUser,
    reason: &str,
) -> Result<u64, Unexpected> {
    super::sessions::end_sessions_on(
        conn,
        session::Column::UserId
            .eq(who.id)
            .and(session::Column::Id.ne(who.session_id)),
        reason,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_their_step_and_neighbours_only() {
        let generator = totp(b"12345678901234567890".to_vec(), "ada@example.org").unwrap();
        // RFC 6238 test vector (SHA-1, T = 59 s): 94287082, whose last 6 digits are 287082.
        assert_eq!(generator.generate(59), "287082");
        let now = 59;
        assert_eq!(matching_step(&generator, "287082", now), Some(1));
        assert_eq!(
            matching_step(&generator, "287 082", now),
            Some(1),
            "spaces are ignored"
        );
        assert_eq!(
            matching_step(&generator, &generator.generate(89), now),
            Some(2),
            "next step is allowed"
        );
        assert_eq!(
            matching_step(&generator, &generator.generate(150), now),
            None,
            "far steps are not"
        );
        assert_eq!(matching_step(&generator, "12345", now), None);
    }

    #[test]
    fn recovery_codes_are_readable_and_normalised() {
        let code = new_recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(&code[5..6], "-");
        assert!(code
            .chars()
            .all(|c| c == '-' || RECOVERY_ALPHABET.contains(&(c as u8))));
        assert_eq!(normalise_recovery(" ABCDE-fghjk "), "abcdefghjk");
        assert_ne!(new_recovery_code(), new_recovery_code());
    }
}
