//! The data export (PRV-2): everything uni1 stores about a person, as one
//! ZIP they download from Settings -> Privacy.
//!
//! A request queues a `data_exports` row; a background pass on any server
//! or worker ([`export_pass`]) claims it, writes the ZIP and stores it
//! encrypted in parts of [`PART_SIZE`] under
//! `users/<id>/exports/<export id>/` (so neither building nor downloading
//! ever holds more than one part and one image in memory), mails the person
//! and marks the request done. Only the signed-in owner downloads it, for
//! [`super::PrivacyPolicy::export_valid`]; [`purge_pass`] then deletes it.
//!
//! The ZIP (ZIP64 where needed, so size and file count are unbounded):
//!
//! - `manifest.json`: `schema` ([`SCHEMA`]), `exported_at`, the person's
//!   id, and for each category its file, what it holds and its row count;
//! - one JSON file per category (below). Field names are stable; times are
//!   ISO 8601 in UTC; ids are UUIDs. `account.json` and `credits.json` are
//!   objects, every other file an array of objects;
//! - `images/<file>`: the original PNG of every image still in its download
//!   window, named as in `images.json` (`file`), which also holds each
//!   image's prompt and settings, so another service can import them;
//! - `uploads/<id>.png`: reference images not yet deleted;
//! - `picture.webp`: the profile picture, if any (`account.json`'s
//!   `picture` names it);
//! - `README.txt`: the above in words.

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, Set,
};
use serde_json::{json, Value};
use uuid::Uuid;

use super::requests::{self, status as request_status, RequestKind};
use super::{Privacy, PrivacyError};
use crate::accounts::CurrentUser;
use crate::entities::{
    audit_log, billing_customer, collection, collection_image, consent_record, contact_message,
    credit_balance, credit_ledger, data_export, email_token, generation, image, mail_outbox,
    moderation_flag, order, privacy_request, recovery_code, session, share_link, subscription,
    two_factor, underage_report, upload, user, user_identity,
};
use crate::library::archive::ZipStream;
use crate::support::error::{ResultExt, Unexpected};
use crate::support::tx;

/// The export's format version, in `manifest.json`.
pub const SCHEMA: &str = "uni1-export/1";
/// The stored ZIP is split into parts of this size (each sealed on its own).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// A builder holds an export this long; after that another may take over.
const LEASE: chrono::Duration = chrono::Duration::minutes(30);
/// Builds tried before an export is given up (and the person told).
const MAX_ATTEMPTS: i32 = 3;

/// Export states.
pub mod status {
    pub const QUEUED: &str = "queued";
    pub const BUILDING: &str = "building";
    pub const READY: &str = "ready";
    pub const FAILED: &str = "failed";
    pub const EXPIRED: &str = "expired";
}

/// An export as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportView {
    pub id: Uuid,
    pub status: String,
    pub size_bytes: i64,
    pub files: i32,
    pub created_at: DateTime<Utc>,
    pub ready_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<data_export::Model> for ExportView {
    fn from(e: data_export::Model) -> Self {
        Self {
            id: e.id,
            status: e.status,
            size_bytes: e.size_bytes,
            files: e.files,
            created_at: e.created_at,
            ready_at: e.ready_at,
            expires_at: e.expires_at,
        }
    }
}

/// Where an export's parts are stored.
fn prefix(user: Uuid, export: Uuid) -> String {
    format!("{}exports/{export}/", crate::generation::user_prefix(user))
}

fn part_path(user: Uuid, export: Uuid, n: i32) -> String {
    format!("{}{n:06}", prefix(user, export))
}

/// ISO 8601 in UTC, to the millisecond.
fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn iso_opt(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(iso(t)))
}

impl Privacy {
    /// Queues an export for `who` (one at a time) and opens its request.
    pub async fn request_export(&self, who: &CurrentUser) -> Result<ExportView, PrivacyError> {
        let txn = tx::begin(&self.db).await?;
        let running = data_export::Entity::find()
            .filter(data_export::Column::UserId.eq(who.id))
            .filter(data_export::Column::Status.is_in([status::QUEUED, status::BUILDING]))
            .count(&txn)
            .await
            .unexpected("reading exports")?;
        if running > 0 {
            return Err(PrivacyError::ExportRunning);
        }
        let request = requests::open(&txn, who.id, RequestKind::Export, None, None).await?;
        let row = data_export::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(who.id),
            request_id: Set(request),
            status: Set(status::QUEUED.to_owned()),
            attempts: Set(0),
            locked_until: Set(None),
            parts: Set(0),
            size_bytes: Set(0),
            files: Set(0),
            created_at: Set(Utc::now()),
            ready_at: Set(None),
            expires_at: Set(None),
            error: Set(None),
        }
        .insert(&txn)
        .await
        .unexpected("queueing an export")?;
        txn.commit().await.unexpected("queueing an export")?;
        Ok(row.into())
    }

    /// The person's exports, newest first.
    pub async fn exports(&self, user: Uuid) -> Result<Vec<ExportView>, Unexpected> {
        Ok(data_export::Entity::find()
            .filter(data_export::Column::UserId.eq(user))
            .order_by_desc(data_export::Column::CreatedAt)
            .all(&self.db)
            .await
            .unexpected("reading exports")?
            .into_iter()
            .map(ExportView::from)
            .collect())
    }

    /// Opens a ready export of `owner` for download (`ExportGone` when it
    /// is not theirs, not ready, or expired).
    pub async fn open_export(&self, owner: Uuid, id: Uuid) -> Result<ExportDownload, PrivacyError> {
        let row = data_export::Entity::find_by_id(id)
            .filter(data_export::Column::UserId.eq(owner))
            .filter(data_export::Column::Status.eq(status::READY))
            .filter(data_export::Column::ExpiresAt.gt(Utc::now()))
            .one(&self.db)
            .await
            .unexpected("reading an export")?
            .ok_or(PrivacyError::ExportGone)?;
        Ok(ExportDownload {
            blobs: self.blobs.clone(),
            user: owner,
            id,
            parts: row.parts,
            next: 0,
            size: u64::try_from(row.size_bytes).unwrap_or(0),
            created_at: row.created_at,
        })
    }
}

/// A ready export, read part by part.
pub struct ExportDownload {
    blobs: uni1_storage::Blobs,
    user: Uuid,
    id: Uuid,
    parts: i32,
    next: i32,
    /// The ZIP's length in bytes.
    pub size: u64,
    pub created_at: DateTime<Utc>,
}

impl ExportDownload {
    /// The next part's bytes, or `None` after the last.
    pub async fn next_part(&mut self) -> Option<Result<Vec<u8>, uni1_storage::StorageError>> {
        if self.next >= self.parts {
            return None;
        }
        let path = part_path(self.user, self.id, self.next);
        self.next += 1;
        Some(self.blobs.get(&path).await)
    }

    /// A download name: `uni1-export-20261206-101500.zip`.
    pub fn file_name(&self) -> String {
        format!(
            "uni1-export-{}.zip",
            self.created_at.format("%Y%m%d-%H%M%S")
        )
    }
}

/// Writes the ZIP's bytes into sealed parts of [`PART_SIZE`].
struct Parts<'a> {
    blobs: &'a uni1_storage::Blobs,
    user: Uuid,
    export: Uuid,
    buf: Vec<u8>,
    count: i32,
    total: u64,
}

impl Parts<'_> {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), Unexpected> {
        self.buf.extend_from_slice(bytes);
        self.total += bytes.len() as u64;
        while self.buf.len() >= PART_SIZE {
            let rest = self.buf.split_off(PART_SIZE);
            let full = std::mem::replace(&mut self.buf, rest);
            self.put(&full).await?;
        }
        Ok(())
    }

    async fn put(&mut self, bytes: &[u8]) -> Result<(), Unexpected> {
        self.blobs
            .put(&part_path(self.user, self.export, self.count), bytes)
            .await
            .map_err(|e| Unexpected::new("storing an export part", e))?;
        self.count += 1;
        Ok(())
    }

    async fn finish(mut self) -> Result<(i32, u64), Unexpected> {
        if !self.buf.is_empty() || self.count == 0 {
            let last = std::mem::take(&mut self.buf);
            self.put(&last).await?;
        }
        Ok((self.count, self.total))
    }
}

/// The ZIP being written: its directory and where its bytes go.
struct Writer<'a> {
    zip: ZipStream,
    parts: Parts<'a>,
    files: i32,
    when: DateTime<Utc>,
}

impl Writer<'_> {
    async fn add(&mut self, name: &str, data: &[u8]) -> Result<(), Unexpected> {
        let header = self
            .zip
            .add(name, data, self.when)
            .map_err(|e| Unexpected::new("writing an export", e))?;
        self.parts.write(&header).await?;
        self.parts.write(data).await?;
        self.files += 1;
        Ok(())
    }

    async fn json(&mut self, name: &str, value: &Value) -> Result<(), Unexpected> {
        let bytes = serde_json::to_vec_pretty(value)
            .map_err(|e| Unexpected::new("writing an export's JSON", e))?;
        self.add(name, &bytes).await
    }
}

/// One category of the export: its file and what it holds.
pub struct Category {
    pub file: &'static str,
    pub holds: &'static str,
}

/// Every category, in the order of the manifest.
pub const CATEGORIES: &[Category] = &[
    Category { file: "account.json", holds: "your account: address, name, picture, role, attestation and terms, choices (objection, restriction, training consent), mail preferences and marketing consent (with its time and source), a scheduled deletion and the privacy policy version you last saw" },
    Category { file: "sessions.json", holds: "devices signed in to your account, with IP address and browser" },
    Category { file: "sign_in_history.json", holds: "the security log of your account: sign-ins, sign-outs, changes" },
    Category { file: "sign_in_providers.json", holds: "linked Google or GitHub accounts" },
    Category { file: "two_factor.json", holds: "whether two-factor authentication is on (never its secret) and recovery codes left" },
    Category { file: "email_links.json", holds: "confirmation, reset and address-change links sent (never the token)" },
    Category { file: "generations.json", holds: "every generation: prompt, settings, model, seed, times, outcome, the API key it came through" },
    Category { file: "images.json", holds: "every image: size, times, download window, marks, its prompt and settings, its file in images/" },
    Category { file: "collections.json", holds: "your collections and the images in each" },
    Category { file: "share_links.json", holds: "share links you made (never the link's secret)" },
    Category { file: "webhooks.json", holds: "your webhook endpoints (never their signing secret) and the events sent to each, with their attempts; your predictions' own webhooks under the endpoint of kind \"predictions\"" },
    Category { file: "uploads.json", holds: "reference images not yet deleted, with their file in uploads/" },
    Category { file: "credits.json", holds: "your credit balance and every change to it" },
    Category { file: "orders.json", holds: "purchases: item, amount, status, refunds (no card data is ever stored)" },
    Category { file: "subscriptions.json", holds: "plans and their state at the payment provider" },
    Category { file: "payment_customers.json", holds: "your customer id at each payment provider" },
    Category { file: "moderation.json", holds: "prompts that were refused, and reports about your published images" },
    Category { file: "mail.json", holds: "mails sent to you: kind, subject, times (bodies are deleted once sent)" },
    Category { file: "privacy_requests.json", holds: "your privacy requests, their state and due dates" },
    Category { file: "cookie_choices.json", holds: "your cookie choices made while signed in: categories, Global Privacy Control, policy version, where and when" },
    Category { file: "exports.json", holds: "your data exports" },
    Category { file: "underage_reports.json", holds: "reports you filed about possibly underage users" },
    Category { file: "contact_messages.json", holds: "messages you sent through the contact form with your address" },
    Category { file: "api_keys.json", holds: "your API keys: name, scopes, first characters, created, last used, expiry, revocation and monthly credit cap (never the key)" },
    Category { file: "api_idempotency_keys.json", holds: "Idempotency-Keys your API requests sent in the last 24 hours, with the status of their answer" },
];

/// The profile picture's name in the ZIP.
const PICTURE_FILE: &str = "picture.webp";

/// The person's data, one JSON value per entry of [`CATEGORIES`], and the
/// images and uploads to add (ZIP name, object path).
pub struct Collected {
    pub values: Vec<(&'static str, Value, usize)>,
    pub images: Vec<(String, String)>,
    pub uploads: Vec<(String, String)>,
}

/// Reads everything stored about `user` (see [`CATEGORIES`]).
pub async fn collect(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Collected, Unexpected> {
    let u = user::Entity::find_by_id(user_id)
        .one(conn)
        .await
        .unexpected("exporting an account")?
        .ok_or_else(|| {
            Unexpected::new(
                "exporting an account",
                sea_orm::DbErr::RecordNotFound("the account".into()),
            )
        })?;
    let mut values: Vec<(&'static str, Value, usize)> = Vec::new();
    let mut uploads = Vec::new();
    let picture = u.picture_id.map(|p| {
        uploads.push((
            PICTURE_FILE.to_owned(),
            super::picture::picture_path(u.id, p),
        ));
        PICTURE_FILE
    });
    values.push((
        "account.json",
        json!({
            "id": u.id,
            "email": u.email,
            "email_confirmed_at": iso_opt(u.email_confirmed_at),
            "display_name": u.display_name,
            "avatar_url": u.avatar_url,
            "picture": picture,
            "has_password": u.password_hash.is_some(),
            "role": u.role,
            "adult_attested_at": iso(u.adult_attested_at),
            "terms_version": u.terms_version,
            "terms_accepted_at": iso(u.terms_accepted_at),
            "expiry_reminders": u.expiry_reminders,
            "mail_generation_done": u.notify_generation_done,
            "mail_service_updates": u.service_updates,
            "marketing_consent_at": iso_opt(u.marketing_consent_at),
            "marketing_consent_source": u.marketing_consent_source,
            "objected_at": iso_opt(u.objected_at),
            "restricted_at": iso_opt(u.restricted_at),
            "training_consent_at": iso_opt(u.training_consent_at),
            "training_consent_version": u.training_consent_version,
            "deletion_due_at": iso_opt(u.deletion_due_at),
            "policy_seen_version": u.policy_seen_version,
            "created_at": iso(u.created_at),
            "updated_at": iso(u.updated_at),
        }),
        1,
    ));
    let rows = session::Entity::find()
        .filter(session::Column::UserId.eq(user_id))
        .order_by_asc(session::Column::CreatedAt)
        .all(conn)
        .await
        .unexpected("exporting sessions")?;
    push(
        &mut values,
        "sessions.json",
        rows.iter().map(|s| {
            json!({
                "id": s.id,
                "created_at": iso(s.created_at),
                "last_seen_at": iso(s.last_seen_at),
                "expires_at": iso(s.expires_at),
                "ended_at": iso_opt(s.ended_at),
                "end_reason": s.end_reason,
                "ip": s.ip,
                "user_agent": s.user_agent,
                "browser": s.browser,
                "os": s.os,
                "device": s.device,
            })
        }),
    );
    let rows = audit_log::Entity::find()
        .filter(audit_log::Column::UserId.eq(user_id))
        .order_by_asc(audit_log::Column::CreatedAt)
        .all(conn)
        .await
        .unexpected("exporting the audit log")?;
    push(
        &mut values,
        "sign_in_history.json",
        rows.iter().map(|a| {
            json!({
                "id": a.id,
                "action": a.action,
                "ip": a.ip,
                "user_agent": a.user_agent,
                "detail": a.detail,
                "created_at": iso(a.created_at),
            })
        }),
    );
    let rows = user_identity::Entity::find()
        .filter(user_identity::Column::UserId.eq(user_id))
        .all(conn)
        .await
        .unexpected("exporting identities")?;
    push(
        &mut values,
        "sign_in_providers.json",
        rows.iter().map(|i| {
            json!({
                "id": i.id,
                "provider": i.provider,
                "subject": i.subject,
                "email": i.email,
                "created_at": iso(i.created_at),
                "last_used_at": iso(i.last_used_at),
            })
        }),
    );
    let tf = two_factor::Entity::find_by_id(user_id)
        .one(conn)
        .await
        .unexpected("exporting two-factor")?;
    let codes_left = recovery_code::Entity::find()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .filter(recovery_code::Column::UsedAt.is_null())
        .count(conn)
        .await
        .unexpected("exporting recovery codes")?;
    push(
        &mut values,
        "two_factor.json",
        tf.iter().map(|t| {
            json!({
                "enabled_at": iso_opt(t.enabled_at),
                "created_at": iso(t.created_at),
                "recovery_codes_left": codes_left,
            })
        }),
    );
    let rows = email_token::Entity::find()
        .filter(email_token::Column::UserId.eq(user_id))
        .order_by_asc(email_token::Column::CreatedAt)
        .all(conn)
        .await
        .unexpected("exporting mail links")?;
    push(
        &mut values,
        "email_links.json",
        rows.iter().map(|t| {
            json!({
                "id": t.id,
                "purpose": t.purpose,
                "email": t.email,
                "created_at": iso(t.created_at),
                "expires_at": iso(t.expires_at),
                "used_at": iso_opt(t.used_at),
            })
        }),
    );
    let gens = generation::Entity::find()
        .filter(generation::Column::UserId.eq(user_id))
        .order_by_asc(generation::Column::QueuedAt)
        .order_by_asc(generation::Column::Id)
        .all(conn)
        .await
        .unexpected("exporting generations")?;
    push(
        &mut values,
        "generations.json",
        gens.iter().map(generation_json),
    );
    let by_id: std::collections::HashMap<Uuid, &generation::Model> =
        gens.iter().map(|g| (g.id, g)).collect();
    let imgs = image::Entity::find()
        .filter(image::Column::UserId.eq(user_id))
        .order_by_asc(image::Column::CreatedAt)
        .order_by_asc(image::Column::Id)
        .all(conn)
        .await
        .unexpected("exporting images")?;
    let mut images = Vec::new();
    let mut image_values = Vec::with_capacity(imgs.len());
    for i in &imgs {
        let downloadable = i.purged_at.is_none() && i.expires_at > now;
        let file = downloadable.then(|| format!("images/{}.png", i.id));
        if let Some(f) = &file {
            images.push((f.clone(), i.original_path.clone()));
        }
        let g = by_id.get(&i.generation_id);
        image_values.push(json!({
            "id": i.id,
            "generation_id": i.generation_id,
            "position": i.position,
            "width": i.width,
            "height": i.height,
            "bytes": i.bytes,
            "created_at": iso(i.created_at),
            "downloadable_until": iso(i.expires_at),
            "deleted_files_at": iso_opt(i.purged_at),
            "favorite": i.favorite,
            "published_at": iso_opt(i.published_at),
            "hidden_at": iso_opt(i.hidden_at),
            "reminded_at": iso_opt(i.reminded_at),
            "file": file,
            "prompt": g.map(|g| g.prompt.clone()),
            "negative_prompt": g.and_then(|g| g.negative_prompt.clone()),
            "model_id": g.map(|g| g.model_id.clone()),
            "aspect_ratio": g.map(|g| g.aspect_ratio.clone()),
            "seed": g.and_then(|g| g.seed_used),
            "style": g.and_then(|g| g.style.clone()),
        }));
    }
    let n = image_values.len();
    values.push(("images.json", Value::Array(image_values), n));
    let cols = collection::Entity::find()
        .filter(collection::Column::UserId.eq(user_id))
        .order_by_asc(collection::Column::CreatedAt)
        .all(conn)
        .await
        .unexpected("exporting collections")?;
    let members = collection_image::Entity::find()
        .filter(collection_image::Column::UserId.eq(user_id))
        .order_by_asc(collection_image::Column::AddedAt)
        .all(conn)
        .await
        .unexpected("exporting collections")?;
    push(
        &mut values,
        "collections.json",
        cols.iter().map(|c| {
            json!({
                "id": c.id,
                "name": c.name,
                "created_at": iso(c.created_at),
                "updated_at": iso(c.updated_at),
                "images": members.iter().filter(|m| m.collection_id == c.id).map(|m| json!({
                    "image_id": m.image_id,
                    "added_at": iso(m.added_at),
                })).collect::<Vec<_>>(),
            })
        }),
    );
    let rows = share_link::Entity::find()
        .filter(share_link::Column::UserId.eq(user_id))
        .order_by_asc(share_link::Column::CreatedAt)
        .all(conn)
        .await
        .unexpected("exporting share links")?;
    push(
        &mut values,
        "share_links.json",
        rows.iter().map(|l| {
            json!({
                "id": l.id,
                "image_id": l.image_id,
                "collection_id": l.collection_id,
                "created_at": iso(l.created_at),
                "expires_at": iso_opt(l.expires_at),
                "revoked_at": iso_opt(l.revoked_at),
            })
        }),
    );
    let endpoints = crate::entities::webhook_endpoint::Entity::find()
        .filter(crate::entities::webhook_endpoint::Column::UserId.eq(user_id))
        .order_by_asc(crate::entities::webhook_endpoint::Column::CreatedAt)
        .all(conn)
        .await
        .unexpected("exporting webhook endpoints")?;
    let deliveries = crate::entities::webhook_delivery::Entity::find()
        .filter(crate::entities::webhook_delivery::Column::UserId.eq(user_id))
        .order_by_asc(crate::entities::webhook_delivery::Column::CreatedAt)
        .all(conn)
        .await
        .unexpected("exporting webhook deliveries")?;
    let prediction_hooks = crate::entities::prediction_webhook::Entity::find()
        .filter(crate::entities::prediction_webhook::Column::UserId.eq(user_id))
        .order_by_asc(crate::entities::prediction_webhook::Column::CreatedAt)
        .all(conn)
        .await
        .unexpected("exporting prediction webhooks")?;
    push(
        &mut values,
        "webhooks.json",
        endpoints.iter().map(|e| {
            json!({
                "id": e.id,
                // `predictions`: the signer of per-prediction webhooks,
                // whose deliveries each name their own URL.
                "kind": e.kind,
                "url": e.url,
                "events": e.events.split(',').filter(|x| !x.is_empty()).collect::<Vec<_>>(),
                "created_at": iso(e.created_at),
                "disabled_at": iso_opt(e.disabled_at),
                "disabled_reason": e.disabled_reason,
                // The predictions' own webhooks this signer signs for.
                "prediction_webhooks": prediction_hooks.iter().filter(|h| h.signer_id == e.id).map(|h| json!({
                    "id": h.id,
                    "url": h.url,
                    "events": h.events.split(',').filter(|x| !x.is_empty()).collect::<Vec<_>>(),
                    "made_on": h.origin,
                    "created_at": iso(h.created_at),
                })).collect::<Vec<_>>(),
                "deliveries": deliveries.iter().filter(|d| d.endpoint_id == e.id).map(|d| json!({
                    "id": d.id,
                    "event_type": d.event_type,
                    "url": d.url,
                    "generation_id": d.generation_id,
                    "created_at": iso(d.created_at),
                    "state": crate::webhooks::endpoints::state_of(d),
                    "attempts": d.attempts,
                    "last_status": d.last_status,
                    "payload": serde_json::from_str::<Value>(&d.payload).unwrap_or(Value::Null),
                })).collect::<Vec<_>>(),
            })
        }),
    );
    let rows = upload::Entity::find()
        .filter(upload::Column::UserId.eq(user_id))
        .order_by_asc(upload::Column::CreatedAt)
        .all(conn)
        .await
        .unexpected("exporting uploads")?;
    push(
        &mut values,
        "uploads.json",
        rows.iter().map(|up| {
            let file = format!("uploads/{}.png", up.id);
            uploads.push((file.clone(), up.path.clone()));
            json!({
                "id": up.id,
                "width": up.width,
                "height": up.height,
                "created_at": iso(up.created_at),
                "deleted_at": iso(up.expires_at),
                "file": file,
            })
        }),
    );
    let balance = credit_balance::Entity::find_by_id(user_id)
        .one(conn)
        .await
        .unexpected("exporting credits")?;
    let ledger = credit_ledger::Entity::find()
        .filter(credit_ledger::Column::UserId.eq(user_id))
        .order_by_asc(credit_ledger::Column::CreatedAt)
        .order_by_asc(credit_ledger::Column::Id)
        .all(conn)
        .await
        .unexpected("exporting the credit ledger")?;
    let n = ledger.len();
    values.push((
        "credits.json",
        json!({
            "balance": balance.map(|b| json!({
                "available": b.available,
                "held": b.held,
                "debt": b.debt,
                "expiring": b.expiring,
                "expiring_until": iso_opt(b.expiring_until),
                "updated_at": iso(b.updated_at),
            })),
            "ledger": ledger.iter().map(|e| json!({
                "id": e.id,
                "kind": e.kind,
                "amount": e.amount,
                "held_change": e.held_change,
                "debt_change": e.debt_change,
                "expiring_change": e.expiring_change,
                "balance_after": e.balance_after,
                "generation_id": e.generation_id,
                "note": e.note,
                "created_at": iso(e.created_at),
            })).collect::<Vec<_>>(),
        }),
        n,
    ));
    let rows = order::Entity::find()
        .filter(order::Column::UserId.eq(user_id))
        .order_by_asc(order::Column::CreatedAt)
        .all(conn)
        .await
        .unexpected("exporting orders")?;
    push(
        &mut values,
        "orders.json",
        rows.iter().map(|o| {
            json!({
                "id": o.id,
                "provider": o.provider,
                "kind": o.kind,
                "item": o.item,
                "item_name": o.item_name,
                "credits": o.credits,
                "amount_minor": o.amount,
                "currency": o.currency,
                "status": o.status,
                "refunded_amount_minor": o.refunded_amount,
                "refunded_credits": o.refunded_credits,
                "checkout_id": o.checkout_id,
                "payment_id": o.payment_id,
                "invoice_id": o.invoice_id,
                "subscription_id": o.subscription_id,
                "receipt_url": o.receipt_url,
                "created_at": iso(o.created_at),
                "paid_at": iso_opt(o.paid_at),
            })
        }),
    );
    let rows = subscription::Entity::find()
        .filter(subscription::Column::UserId.eq(user_id))
        .order_by_asc(subscription::Column::CreatedAt)
        .all(conn)
        .await
        .unexpected("exporting subscriptions")?;
    push(
        &mut values,
        "subscriptions.json",
        rows.iter().map(|s| {
            json!({
                "id": s.id,
                "provider": s.provider,
                "subscription_id": s.subscription_id,
                "customer_id": s.customer_id,
                "plan": s.plan,
                "status": s.status,
                "current_period_end": iso_opt(s.current_period_end),
                "cancel_at_period_end": s.cancel_at_period_end,
                "created_at": iso(s.created_at),
                "updated_at": iso(s.updated_at),
            })
        }),
    );
    let rows = billing_customer::Entity::find()
        .filter(billing_customer::Column::UserId.eq(user_id))
        .all(conn)
        .await
        .unexpected("exporting payment customers")?;
    push(
        &mut values,
        "payment_customers.json",
        rows.iter().map(|c| {
            json!({
                "provider": c.provider,
                "customer_id": c.customer_id,
                "created_at": iso(c.created_at),
            })
        }),
    );
    let rows = moderation_flag::Entity::find()
        .filter(moderation_flag::Column::UserId.eq(user_id))
        .order_by_asc(moderation_flag::Column::CreatedAt)
        .all(conn)
        .await
        .unexpected("exporting moderation flags")?;
    push(
        &mut values,
        "moderation.json",
        rows.iter().map(|f| {
            json!({
                "id": f.id,
                "generation_id": f.generation_id,
                "image_id": f.image_id,
                "prompt": f.prompt,
                "reason": f.reason,
                "source": f.source,
                "created_at": iso(f.created_at),
                "reviewed_at": iso_opt(f.reviewed_at),
            })
        }),
    );
    let rows = mail_outbox::Entity::find()
        .filter(
            Condition::any()
                .add(mail_outbox::Column::UserId.eq(user_id))
                .add(mail_outbox::Column::ToAddress.eq(u.email.clone())),
        )
        .order_by_asc(mail_outbox::Column::CreatedAt)
        .all(conn)
        .await
        .unexpected("exporting mail")?;
    push(
        &mut values,
        "mail.json",
        rows.iter().map(|m| {
            json!({
                "id": m.id,
                "kind": m.kind,
                "to": m.to_address,
                "subject": m.subject,
                "created_at": iso(m.created_at),
                "sent_at": iso_opt(m.sent_at),
                "failed_at": iso_opt(m.failed_at),
            })
        }),
    );
    let rows = privacy_request::Entity::find()
        .filter(privacy_request::Column::UserId.eq(user_id))
        .order_by_asc(privacy_request::Column::CreatedAt)
        .order_by_asc(privacy_request::Column::Id)
        .all(conn)
        .await
        .unexpected("exporting privacy requests")?;
    push(
        &mut values,
        "privacy_requests.json",
        rows.iter().map(|r| {
            json!({
                "id": r.id,
                "kind": r.kind,
                "status": r.status,
                "detail": r.detail,
                "created_at": iso(r.created_at),
                "due_at": iso(r.due_at),
                "completed_at": iso_opt(r.completed_at),
            })
        }),
    );
    let rows = consent_record::Entity::find()
        .filter(consent_record::Column::UserId.eq(user_id))
        .order_by_asc(consent_record::Column::CreatedAt)
        .order_by_asc(consent_record::Column::Id)
        .all(conn)
        .await
        .unexpected("exporting cookie choices")?;
    push(
        &mut values,
        "cookie_choices.json",
        rows.iter().map(|r| {
            json!({
                "preferences": r.preferences,
                "analytics": r.analytics,
                "global_privacy_control": r.gpc,
                "policy_version": r.policy_version,
                "source": r.source,
                "created_at": iso(r.created_at),
            })
        }),
    );
    let rows = data_export::Entity::find()
        .filter(data_export::Column::UserId.eq(user_id))
        .order_by_asc(data_export::Column::CreatedAt)
        .all(conn)
        .await
        .unexpected("exporting exports")?;
    push(
        &mut values,
        "exports.json",
        rows.iter().map(|e| {
            json!({
                "id": e.id,
                "status": e.status,
                "created_at": iso(e.created_at),
                "ready_at": iso_opt(e.ready_at),
                "expires_at": iso_opt(e.expires_at),
            })
        }),
    );
    let rows = underage_report::Entity::find()
        .filter(underage_report::Column::ReporterUserId.eq(user_id))
        .order_by_asc(underage_report::Column::CreatedAt)
        .all(conn)
        .await
        .unexpected("exporting reports")?;
    push(
        &mut values,
        "underage_reports.json",
        rows.iter().map(|r| {
            json!({
                "id": r.id,
                "reported_account": r.reported_account,
                "details": r.details,
                "reporter_email": r.reporter_email,
                "ip": r.ip,
                "status": r.status,
                "created_at": iso(r.created_at),
            })
        }),
    );
    let rows = contact_message::Entity::find()
        .filter(super::deletion::same_address(
            contact_message::Column::Email,
            &u.email_key,
        ))
        .order_by_asc(contact_message::Column::CreatedAt)
        .all(conn)
        .await
        .unexpected("exporting contact messages")?;
    push(
        &mut values,
        "contact_messages.json",
        rows.iter().map(|m| {
            json!({
                "id": m.id,
                "name": m.name,
                "email": m.email,
                "message": m.message,
                "created_at": iso(m.created_at),
            })
        }),
    );
    push(
        &mut values,
        "api_keys.json",
        crate::developer::keys::export_json(conn, user_id)
            .await?
            .into_iter(),
    );
    push(
        &mut values,
        "api_idempotency_keys.json",
        crate::developer::keys::export_idempotency_json(conn, user_id)
            .await?
            .into_iter(),
    );
    Ok(Collected {
        values,
        images,
        uploads,
    })
}

fn push(
    values: &mut Vec<(&'static str, Value, usize)>,
    file: &'static str,
    rows: impl Iterator<Item = Value>,
) {
    let rows: Vec<Value> = rows.collect();
    let n = rows.len();
    values.push((file, Value::Array(rows), n));
}

fn generation_json(g: &generation::Model) -> Value {
    json!({
        "id": g.id,
        "model_id": g.model_id,
        "backend": g.backend,
        "prompt": g.prompt,
        "negative_prompt": g.negative_prompt,
        "aspect_ratio": g.aspect_ratio,
        "image_count": g.image_count,
        "seed_requested": g.seed_requested,
        "seed_used": g.seed_used,
        "style": g.style,
        "reference_strength": g.reference_strength,
        "parent_id": g.parent_id,
        "credits": g.credits,
        "status": g.status.as_str(),
        "error": g.error,
        "queued_at": iso(g.queued_at),
        "started_at": iso_opt(g.started_at),
        "finished_at": iso_opt(g.finished_at),
        "api_key_id": g.api_key_id,
    })
}

const README: &str = "\
This is a copy of everything uni1 stores about you, made at your request.

manifest.json lists every file below, what it holds and how many entries it
has. Each .json file is UTF-8 JSON with stable field names; times are
ISO 8601 in UTC; ids are UUIDs. account.json and credits.json are objects,
every other file is an array of objects.

images/ holds the original PNG of every image still in its download window
(images.json names each file, with its prompt and settings). uploads/ holds
reference images not yet deleted, and picture.webp your profile picture, if
you uploaded one.

Never included: your password (only whether you have one), two-factor
secrets, the secrets of links, and card data (uni1 never receives it).
";

/// Claims one export that is due and builds it. Returns whether one was
/// built (so a caller may run it again at once).
pub async fn export_pass(privacy: &Privacy) -> Result<bool, Unexpected> {
    let now = Utc::now();
    let candidate = data_export::Entity::find()
        .filter(
            Condition::any()
                .add(data_export::Column::Status.eq(status::QUEUED))
                .add(
                    Condition::all()
                        .add(data_export::Column::Status.eq(status::BUILDING))
                        .add(data_export::Column::LockedUntil.lt(now)),
                ),
        )
        .filter(
            Condition::any()
                .add(data_export::Column::LockedUntil.is_null())
                .add(data_export::Column::LockedUntil.lt(now)),
        )
        .order_by_asc(data_export::Column::CreatedAt)
        .one(&privacy.db)
        .await
        .unexpected("finding an export to build")?;
    let Some(row) = candidate else {
        return Ok(false);
    };
    // Claim it: a conditional update on what was read, so one builder wins.
    let claimed = data_export::Entity::update_many()
        .col_expr(data_export::Column::Status, Expr::value(status::BUILDING))
        .col_expr(data_export::Column::LockedUntil, Expr::value(now + LEASE))
        .col_expr(data_export::Column::Attempts, Expr::value(row.attempts + 1))
        .filter(data_export::Column::Id.eq(row.id))
        .filter(data_export::Column::Status.eq(row.status.clone()))
        .filter(data_export::Column::Attempts.eq(row.attempts))
        .exec(&privacy.db)
        .await
        .unexpected("claiming an export")?;
    if claimed.rows_affected != 1 {
        return Ok(true);
    }
    match build(privacy, &row).await {
        Ok(()) => Ok(true),
        Err(error) => {
            tracing::error!(error = ?error, export = %row.id, "building an export failed");
            let _ = privacy
                .blobs
                .delete_prefix(&prefix(row.user_id, row.id))
                .await;
            let give_up = row.attempts + 1 >= MAX_ATTEMPTS;
            let txn = tx::begin(&privacy.db).await?;
            data_export::Entity::update_many()
                .col_expr(
                    data_export::Column::Status,
                    Expr::value(if give_up { status::FAILED } else { status::QUEUED }),
                )
                .col_expr(
                    data_export::Column::LockedUntil,
                    Expr::value(Utc::now() + chrono::Duration::minutes(2 * i64::from(row.attempts + 1))),
                )
                .col_expr(
                    data_export::Column::Error,
                    Expr::value(give_up.then(|| "The export could not be built. Please ask for a new one; we were told about the problem.".to_owned())),
                )
                .filter(data_export::Column::Id.eq(row.id))
                .exec(&txn)
                .await
                .unexpected("recording a failed export")?;
            if give_up {
                requests::close(&txn, row.request_id, request_status::FAILED).await?;
            }
            txn.commit().await.unexpected("recording a failed export")?;
            Ok(true)
        }
    }
}

/// Writes export `row`'s ZIP, then marks it ready, closes its request and
/// mails the person, in one transaction.
async fn build(privacy: &Privacy, row: &data_export::Model) -> Result<(), Unexpected> {
    let now = Utc::now();
    let collected = collect(&privacy.db, row.user_id, now).await?;
    let mut w = Writer {
        zip: ZipStream::new(),
        parts: Parts {
            blobs: &privacy.blobs,
            user: row.user_id,
            export: row.id,
            buf: Vec::with_capacity(PART_SIZE),
            count: 0,
            total: 0,
        },
        files: 0,
        when: now,
    };
    w.add("README.txt", README.as_bytes()).await?;
    let mut manifest = Vec::new();
    for (file, value, count) in &collected.values {
        w.json(file, value).await?;
        let holds = CATEGORIES
            .iter()
            .find(|c| c.file == *file)
            .map_or("", |c| c.holds);
        manifest.push(json!({"file": file, "holds": holds, "entries": count}));
    }
    let mut images = 0usize;
    for (name, path) in collected.images.iter().chain(collected.uploads.iter()) {
        match privacy.blobs.get(path).await {
            Ok(data) => {
                w.add(name, &data).await?;
                images += 1;
            }
            // Deleted since it was listed (a purge, the person): left out.
            Err(uni1_storage::StorageError::NotFound(_)) => {
                tracing::warn!(%path, "an exported file is gone");
            }
            Err(e) => return Err(Unexpected::new("reading a file to export", e)),
        }
    }
    w.json(
        "manifest.json",
        &json!({
            "schema": SCHEMA,
            "exported_at": iso(now),
            "user_id": row.user_id,
            "categories": manifest,
            "files": {"images": collected.images.len(), "uploads": collected.uploads.len(), "included": images},
        }),
    )
    .await?;
    let Writer {
        zip,
        mut parts,
        files,
        ..
    } = w;
    parts.write(&zip.finish()).await?;
    let (count, total) = parts.finish().await?;
    let ready = Utc::now();
    let expires = ready + privacy.policy.export_valid;
    let owner = user::Entity::find_by_id(row.user_id)
        .one(&privacy.db)
        .await
        .unexpected("reading an export's owner")?;
    let txn = tx::begin(&privacy.db).await?;
    data_export::Entity::update_many()
        .col_expr(data_export::Column::Status, Expr::value(status::READY))
        .col_expr(data_export::Column::Parts, Expr::value(count))
        .col_expr(
            data_export::Column::SizeBytes,
            Expr::value(i64::try_from(total).unwrap_or(i64::MAX)),
        )
        .col_expr(data_export::Column::Files, Expr::value(files))
        .col_expr(data_export::Column::ReadyAt, Expr::value(ready))
        .col_expr(data_export::Column::ExpiresAt, Expr::value(expires))
        .col_expr(
            data_export::Column::LockedUntil,
            Expr::value(None::<DateTime<Utc>>),
        )
        .filter(data_export::Column::Id.eq(row.id))
        .exec(&txn)
        .await
        .unexpected("marking an export ready")?;
    requests::close(&txn, row.request_id, request_status::DONE).await?;
    if let Some(owner) = owner {
        crate::mail::enqueue(
            &txn,
            &privacy.key,
            Some(owner.id),
            "export_ready",
            &owner.email,
            crate::mail::templates::export_ready(
                &privacy.mail,
                &owner.display_name,
                &expires.format("%-d %B %Y").to_string(),
            ),
        )
        .await?;
    }
    txn.commit().await.unexpected("marking an export ready")?;
    Ok(())
}

/// Deletes exports whose download window ended (their parts, then the
/// row's state), and parts of failed ones.
pub async fn purge_pass(privacy: &Privacy) -> Result<usize, Unexpected> {
    let now = Utc::now();
    let due = data_export::Entity::find()
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(data_export::Column::Status.eq(status::READY))
                        .add(data_export::Column::ExpiresAt.lte(now)),
                )
                .add(
                    data_export::Column::Status
                        .eq(status::FAILED)
                        .and(data_export::Column::Parts.gt(0)),
                ),
        )
        .all(&privacy.db)
        .await
        .unexpected("finding exports to purge")?;
    let mut purged = 0;
    for e in due {
        if let Err(error) = privacy.blobs.delete_prefix(&prefix(e.user_id, e.id)).await {
            tracing::warn!(%error, export = %e.id, "cannot delete an export's parts");
            continue;
        }
        data_export::Entity::update_many()
            .col_expr(
                data_export::Column::Status,
                Expr::value(if e.status == status::READY {
                    status::EXPIRED
                } else {
                    status::FAILED
                }),
            )
            .col_expr(data_export::Column::Parts, Expr::value(0))
            .filter(data_export::Column::Id.eq(e.id))
            .exec(&privacy.db)
            .await
            .unexpected("marking an export purged")?;
        purged += 1;
    }
    Ok(purged)
}
