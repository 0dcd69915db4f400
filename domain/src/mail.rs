//! Transactional mail. Mail is written to the `mail_outbox` table in the same
//! transaction as the change it reports, and a background worker sends it
//! (see [`delivery`]), so a mail server that is down delays mail but loses
//! none.
//!
//! Mails carry live single-use links (confirmation, reset, address change),
//! so the queued bodies are sealed with the application key (AES-GCM, bound
//! to the row's id and part) and opened only by [`open_bodies`]: at
//! delivery, on the development outbox page and in tests. Delivery clears
//! them once sent, and old rows are purged (see [`delivery`]).
//!
//! Besides transactional mail (always sent), a person chooses what else
//! they get ([`preferences`]): a mail when a generation ends unwatched
//! ([`notices`]), expiry reminders, service updates and product news
//! ([`announcements`]). Each of those carries a signed one-click
//! unsubscribe link ([`unsubscribe`]).

pub mod announcements;
pub mod delivery;
pub mod notices;
pub mod preferences;
pub mod templates;
pub mod unsubscribe;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use uuid::Uuid;

use crate::entities::mail_outbox;
use crate::support::crypto::{AppKey, CryptoError};
use crate::support::error::{ResultExt, Unexpected};

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

/// Queues `message` to `to`, inside the caller's transaction when given one;
/// its bodies are stored sealed with `key`.
pub async fn enqueue(
    conn: &impl ConnectionTrait,
    key: &AppKey,
    user_id: Option<Uuid>,
    kind: &str,
    to: &str,
    message: Message,
) -> Result<Uuid, Unexpected> {
    enqueue_with(conn, key, user_id, kind, to, message, Extras::default()).await
}

/// What a non-transactional mail adds to a queued one.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// The `List-Unsubscribe` header value ([`unsubscribe::header`]).
    pub list_unsubscribe: Option<String>,
    /// Not sent before this time (announcements are paced); now if `None`.
    pub send_after: Option<chrono::DateTime<Utc>>,
}

/// [`enqueue`] with a `List-Unsubscribe` header or a later send time.
pub async fn enqueue_with(
    conn: &impl ConnectionTrait,
    key: &AppKey,
    user_id: Option<Uuid>,
    kind: &str,
    to: &str,
    message: Message,
    extras: Extras,
) -> Result<Uuid, Unexpected> {
    let id = Uuid::now_v7();
    row(id, key, user_id, kind, to, message, extras)
        .insert(conn)
        .await
        .unexpected("queueing a mail")?;
    Ok(id)
}

/// The outbox row of a mail, its bodies sealed, not yet inserted (for
/// inserting many at once).
pub fn outbox_row(
    key: &AppKey,
    user_id: Option<Uuid>,
    kind: &str,
    to: &str,
    message: Message,
    extras: Extras,
) -> mail_outbox::ActiveModel {
    row(Uuid::now_v7(), key, user_id, kind, to, message, extras)
}

fn row(
    id: Uuid,
    key: &AppKey,
    user_id: Option<Uuid>,
    kind: &str,
    to: &str,
    message: Message,
    extras: Extras,
) -> mail_outbox::ActiveModel {
    let now = Utc::now();
    mail_outbox::ActiveModel {
        id: Set(id),
        user_id: Set(user_id),
        kind: Set(kind.to_owned()),
        to_address: Set(to.to_owned()),
        subject: Set(message.subject),
        text_body: Set(key.seal(message.text.as_bytes(), &aad(id, Part::Text))),
        html_body: Set(key.seal(message.html.as_bytes(), &aad(id, Part::Html))),
        created_at: Set(now),
        send_after: Set(extras.send_after.unwrap_or(now)),
        attempts: Set(0),
        locked_until: Set(None),
        last_error: Set(None),
        sent_at: Set(None),
        failed_at: Set(None),
        list_unsubscribe: Set(extras.list_unsubscribe),
    }
}

/// The two bodies of a mail.
#[derive(Clone, Copy)]
enum Part {
    Text,
    Html,
}

/// Binds a sealed body to its row and part, so it opens nowhere else.
fn aad(id: Uuid, part: Part) -> Vec<u8> {
    let part = match part {
        Part::Text => "text",
        Part::Html => "html",
    };
    format!("mail_outbox {id} {part}").into_bytes()
}

/// A mail's bodies in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bodies {
    pub text: String,
    pub html: String,
}

/// One mail as the development outbox page lists it.
#[derive(Debug)]
pub struct OutboxEntry {
    pub subject: String,
    pub to: String,
    pub created_at: chrono::DateTime<Utc>,
    pub delivered: bool,
    /// The plain-text body; empty once delivery has cleared it.
    pub text: Result<String, CryptoError>,
}

/// The newest `limit` mails, queued or sent, with their text opened.
pub async fn recent(
    db: &impl ConnectionTrait,
    key: &AppKey,
    limit: u64,
) -> Result<Vec<OutboxEntry>, Unexpected> {
    use sea_orm::{EntityTrait, QueryOrder, QuerySelect};
    let mails = mail_outbox::Entity::find()
        .order_by_desc(mail_outbox::Column::CreatedAt)
        .limit(limit)
        .all(db)
        .await
        .unexpected("reading the outbox")?;
    Ok(mails
        .into_iter()
        .map(|m| OutboxEntry {
            text: open_bodies(key, &m).map(|bodies| bodies.text),
            subject: m.subject,
            to: m.to_address,
            created_at: m.created_at,
            delivered: m.sent_at.is_some(),
        })
        .collect())
}

/// Opens the bodies of an outbox row: the one way to read them. Bodies that
/// delivery has cleared open as empty strings.
pub fn open_bodies(key: &AppKey, mail: &mail_outbox::Model) -> Result<Bodies, CryptoError> {
    Ok(Bodies {
        text: open_part(key, mail.id, Part::Text, &mail.text_body)?,
        html: open_part(key, mail.id, Part::Html, &mail.html_body)?,
    })
}

fn open_part(key: &AppKey, id: Uuid, part: Part, stored: &str) -> Result<String, CryptoError> {
    if stored.is_empty() {
        return Ok(String::new());
    }
    let bytes = key.open(stored, &aad(id, part))?;
    String::from_utf8(bytes).map_err(|_| CryptoError::Malformed)
}
