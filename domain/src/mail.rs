//! Transactional mail. Mail is written to the `mail_outbox` table in the same
//! transaction as the change it reports, and a background worker sends it
//! (see [`delivery`]), so a mail server that is down delays mail but loses
//! none.

pub mod delivery;
pub mod templates;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use uuid::Uuid;

use crate::entities::mail_outbox;
use crate::error::{ResultExt, Unexpected};

/// What templates need to know about the site.
#[derive(Debug, Clone)]
pub struct MailContext {
    /// The public URL without a trailing slash, for links.
    pub base_url: String,
    pub operator_name: String,
    pub operator_email: String,
}

impl MailContext {
    /// An absolute link to `path_and_query` (which starts with `/`).
    pub fn link(&self, path_and_query: &str) -> String {
        format!("{}{}", self.base_url.trim_end_matches('/'), path_and_query)
    }
}

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Queues `message` to `to`, inside the caller's transaction when given one.
pub async fn enqueue(
    conn: &impl ConnectionTrait,
    user_id: Option<Uuid>,
    kind: &str,
    to: &str,
    message: Message,
) -> Result<Uuid, Unexpected> {
    let id = Uuid::now_v7();
    let now = Utc::now();
    mail_outbox::ActiveModel {
        id: Set(id),
        user_id: Set(user_id),
        kind: Set(kind.to_owned()),
        to_address: Set(to.to_owned()),
        subject: Set(message.subject),
        text_body: Set(message.text),
        html_body: Set(message.html),
        created_at: Set(now),
        send_after: Set(now),
        attempts: Set(0),
        locked_until: Set(None),
        last_error: Set(None),
        sent_at: Set(None),
        failed_at: Set(None),
    }
    .insert(conn)
    .await
    .unexpected("queueing a mail")?;
    Ok(id)
}
