//! Password rules and hashing.
//!
//! Rules (NIST SP 800-63B): at least 8 characters, up to 128, any
//! characters, no composition rules; refused when it is a common password
//! (zxcvbn's list of the 30,000 most common passwords, also matched in
//! l33t and reversed spellings), when it is made of the person's own e-mail
//! or name, or when zxcvbn estimates fewer than a million guesses.
//!
//! Hashing: argon2id with the crate's default parameters (19 MiB, 2
//! passes), run on the blocking pool so it never stalls request handling.
//! Unknown accounts are checked against a dummy hash so that a sign-in takes
//! as long whether or not the address has an account.

use std::sync::OnceLock;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use zxcvbn::feedback::Warning;
use zxcvbn::Score;

use crate::support::error::Unexpected;

pub const MIN_CHARS: usize = 8;
pub const MAX_CHARS: usize = 128;

/// Why a new password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("Use at least {MIN_CHARS} characters.")]
    TooShort,
    #[error("Use at most {MAX_CHARS} characters.")]
    TooLong,
    #[error("This is one of the most common passwords. Choose another.")]
    Common,
    #[error("This password is too easy to guess. {hint}")]
    Guessable { hint: String },
}

/// A password that satisfies the rules; only hashing reads it.
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(..)")
    }
}

impl NewPassword {
    /// Checks `candidate`; `personal` are the person's own words (e-mail,
    /// name) that must not make up the password.
    pub fn parse(candidate: &str, personal: &[&str]) -> Result<Self, PasswordError> {
        let chars = candidate.chars().count();
        if chars < MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        if chars > MAX_CHARS {
            return Err(PasswordError::TooLong);
        }
        // The person's words, whole and in pieces: the address's local part,
        // and each word of it and of the name.
        let mut words: Vec<String> = Vec::new();
        for input in personal {
            let local = input.split('@').next().unwrap_or(input).to_lowercase();
            words.extend(
                local
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| w.len() >= 3)
                    .map(str::to_owned),
            );
            words.push(local);
        }
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let entropy = zxcvbn::zxcvbn(candidate, &words);
        // zxcvbn words these warnings only when the password is (a spelling
        // of) an entry of its common-password list.
        let warning = entropy.feedback().and_then(|f| f.warning());
        if matches!(
            warning,
            Some(
                Warning::ThisIsATop10Password
                    | Warning::ThisIsATop100Password
                    | Warning::ThisIsACommonPassword
                    | Warning::ThisIsSimilarToACommonlyUsedPassword
            )
        ) {
            return Err(PasswordError::Common);
        }
        if entropy.score() < Score::Two {
            let hint = entropy
                .feedback()
                .and_then(|f| f.warning().map(|w| w.to_string()))
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "Add another word or two; uncommon words are better.".into());
            return Err(PasswordError::Guessable { hint });
        }
        Ok(Self(candidate.to_owned()))
    }
}

/// Hashes a password with argon2id on the blocking pool.
pub async fn hash(password: NewPassword) -> Result<String, Unexpected> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.0.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Unexpected::new("hashing a password", HashError(e.to_string())))
    })
    .await
    .map_err(|e| Unexpected::new("joining the hashing task", e))?
}

/// True when `candidate` matches `stored`. With `stored = None` (no such
/// account, or no password set) it checks a dummy hash and returns false,
/// taking the same time.
pub async fn verify(stored: Option<String>, candidate: String) -> Result<bool, Unexpected> {
    tokio::task::spawn_blocking(move || {
        let (phc, real) = match stored {
            Some(phc) => (phc, true),
            None => (dummy_hash().to_owned(), false),
        };
        let parsed = PasswordHash::new(&phc).map_err(|e| {
            Unexpected::new("reading a stored password hash", HashError(e.to_string()))
        })?;
        let ok = Argon2::default()
            .verify_password(candidate.as_bytes(), &parsed)
            .is_ok();
        Ok(ok && real)
    })
    .await
    .map_err(|e| Unexpected::new("joining the hashing task", e))?
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"dummy password for unknown accounts", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct HashError(String);

impl super::Accounts {
    /// The signed-in person's own account row.
    pub(crate) async fn own_account(
        &self,
        who: &super::CurrentUser,
    ) -> Result<crate::entities::user::Model, super::AccountError> {
        use crate::support::error::ResultExt as _;
        use sea_orm::EntityTrait as _;
        crate::entities::user::Entity::find_by_id(who.id)
            .one(&self.db)
            .await
            .unexpected("reading an account")?
            .ok_or(super::AccountError::NotFound)
    }
}

/// Checks a password typed to confirm an action against the account's
/// hash: a wrong one is an error on the `password` field.
pub(crate) async fn check(hash: String, given: &str) -> Result<(), super::AccountError> {
    if verify(Some(hash), given.to_owned()).await? {
        Ok(())
    } else {
        Err(super::AccountError::invalid(
            "password",
            "That password is not right.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_bounds() {
        assert_eq!(
            NewPassword::parse("short", &[]).unwrap_err(),
            PasswordError::TooShort
        );
        assert_eq!(
            NewPassword::parse(&"x".repeat(129), &[]).unwrap_err(),
            PasswordError::TooLong
        );
        assert!(NewPassword::parse("correct horse battery staple", &[]).is_ok());
        assert!(NewPassword::parse(&"long passphrase with many words ".repeat(2), &[]).is_ok());
    }

    #[test]
    fn no_composition_rules() {
        assert!(NewPassword::parse("lowercase only but long and odd", &[]).is_ok());
        assert!(NewPassword::parse("ünïcödé pässwörd ëxämplë", &[]).is_ok());
    }

    #[test]
    fn common_passwords_are_refused_even_in_disguise() {
        for common in [
            "password",
            "password1",
            "12345678",
            "qwertyuiop",
            "iloveyou",
            "Passw0rd",
            "drowssap",
        ] {
            assert!(NewPassword::parse(common, &[]).is_err(), "{common}");
        }
        assert_eq!(
            NewPassword::parse("baseball", &[]).unwrap_err(),
            PasswordError::Common
        );
    }

    #[test]
    fn personal_words_are_refused() {
        assert!(NewPassword::parse(
            "ada.lovelace",
            &["ada.lovelace@example.org", "Ada Lovelace"]
        )
        .is_err());
    }

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let p = NewPassword::parse("correct horse battery staple", &[]).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_never_match() {
        let stored = hash(NewPassword::parse("correct horse battery staple", &[]).unwrap())
            .await
            .unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(
            verify(Some(stored.clone()), "correct horse battery staple".into())
                .await
                .unwrap()
        );
        assert!(!verify(Some(stored), "wrong horse battery staple".into())
            .await
            .unwrap());
        assert!(!verify(None, "dummy password for unknown accounts".into())
            .await
            .unwrap());
    }
}
