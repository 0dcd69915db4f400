//! The public contact form: anyone may write to the operator.
//!
//! Messages are personal data (name, address, free text) and are kept in
//! `contact_messages` until an operator deletes them or the sender's account
//! deletion reaches them by e-mail address.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, DatabaseConnection, Set};
use uuid::Uuid;

use crate::entities::contact_message;
use crate::support::email::{EmailAddress, EmailError};
use crate::support::error::{ResultExt, Unexpected};

/// Longest accepted name, in characters.
pub const NAME_MAX: usize = 100;
/// Shortest and longest accepted message, in characters.
pub const MESSAGE_MIN: usize = 10;
pub const MESSAGE_MAX: usize = 5000;

/// What is wrong with a contact form submission, one reason per field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    #[error("Enter your name (at most {NAME_MAX} characters).")]
    Name,
    #[error(transparent)]
    Email(#[from] EmailError),
    #[error("Write a message of {MESSAGE_MIN} to {MESSAGE_MAX} characters.")]
    Message,
}

impl ContactError {
    /// The form field the error belongs to.
    pub fn field(&self) -> &'static str {
        match self {
            ContactError::Name => "name",
            ContactError::Email(_) => "email",
            ContactError::Message => "message",
        }
    }
}

/// A contact form submission that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactMessage {
    name: String,
    email: EmailAddress,
    message: String,
}

impl ContactMessage {
    /// Validates the three fields; surrounding white space is ignored.
    pub fn parse(name: &str, email: &str, message: &str) -> Result<Self, ContactError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > NAME_MAX || name.chars().any(char::is_control)
        {
            return Err(ContactError::Name);
        }
        let email = EmailAddress::parse(email)?;
        let message = message.trim();
        let len = message.chars().count();
        if !(MESSAGE_MIN..=MESSAGE_MAX).contains(&len) {
            return Err(ContactError::Message);
        }
        Ok(Self {
            name: name.to_owned(),
            email,
            message: message.to_owned(),
        })
    }
}

/// Stores a validated message and returns its id.
pub async fn submit(db: &DatabaseConnection, msg: ContactMessage) -> Result<Uuid, Unexpected> {
    let id = Uuid::now_v7();
    contact_message::ActiveModel {
        id: Set(id),
        name: Set(msg.name),
        email: Set(msg.email.as_str().to_owned()),
        message: Set(msg.message),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await
    .unexpected("storing a contact message")?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_message_parses_trimmed() {
        let m = ContactMessage::parse(" Ada ", "ada@example.org", "  Hello there, operator!  ")
            .unwrap();
        assert_eq!(m.name, "Ada");
        assert_eq!(m.message, "Hello there, operator!");
    }

    #[test]
    fn each_field_is_checked() {
        assert_eq!(
            ContactMessage::parse("", "ada@example.org", "long enough text").unwrap_err(),
            ContactError::Name
        );
        assert_eq!(
            ContactMessage::parse(
                &"x".repeat(NAME_MAX + 1),
                "ada@example.org",
                "long enough text"
            )
            .unwrap_err()
            .field(),
            "name"
        );
        assert_eq!(
            ContactMessage::parse("Ada", "nope", "long enough text")
                .unwrap_err()
                .field(),
            "email"
        );
        assert_eq!(
            ContactMessage::parse("Ada", "ada@example.org", "short").unwrap_err(),
            ContactError::Message
        );
        assert_eq!(
            ContactMessage::parse("Ada", "ada@example.org", &"x".repeat(MESSAGE_MAX + 1))
                .unwrap_err(),
            ContactError::Message
        );
    }
}
