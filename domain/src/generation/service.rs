//! What the web layer calls: submit, list, cancel, and find an image for its
//! owner. Every read and write is scoped to the signed-in person, so an id
//! that belongs to someone else behaves exactly like one that does not exist.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr, TransactionError,
    TransactionTrait,
};
use tokio::sync::Notify;
use uuid::Uuid;

use super::catalog::Catalog;
use super::policy::ContentPolicy;
use super::request::{FieldError, Submission, SubmitInput};
use super::{status, QueuePolicy};
use crate::billing::credits::{self, CreditError, CreditPolicy};
use crate::entities::{credit_balance, generation, image, upload};
use crate::support::error::{ResultExt, Unexpected};

/// Everything generation needs, shared by the web layer and the workers.
#[derive(Clone)]
pub struct Generations {
    pub db: DatabaseConnection,
    pub catalog: Catalog,
    pub blobs: uni1_storage::Blobs,
    pub content: ContentPolicy,
    /// The checks every generated image passes before its owner sees it.
    pub output: super::output_check::OutputChecks,
    pub queue: QueuePolicy,
    pub credits: CreditPolicy,
    /// Wakes this process's workers when a job is queued here.
    pub wake: Arc<Notify>,
    /// Signs the preview-image URLs of share pages.
    pub signer: crate::library::sharing::LinkSigner,
    /// Per-person budgets: uploads, downloads (in memory, per process).
    pub limits: Arc<crate::support::rate_limit::PersonLimits>,
    /// The progress streams of this process.
    pub progress: super::progress::ProgressHub,
}

impl std::fmt::Debug for Generations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generations")
            .field(
                "models",
                &self
                    .catalog
                    .all()
                    .iter()
                    .map(|m| m.id.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

/// Why a submission was not queued.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("Confirm your e-mail address before generating images.")]
    EmailNotConfirmed,
    #[error("This needs {needed} credits and you have {available}.")]
    Insufficient { needed: i64, available: i64 },
    #[error("A refunded purchase left {owed} credits owed. Buy credits to settle it, then generate again.")]
    InDebt { owed: i64 },
    #[error("You already have {limit} generations waiting. Let one finish first.")]
    TooManyPending { limit: u64 },
    #[error("The reference image has expired. Upload it again.")]
    ReferenceGone,
    #[error(transparent)]
    NotNow(#[from] crate::privacy::NotNow),
    #[error("{limit} of your prompts were refused in the last hour. Try again later.")]
    TooManyRefused { limit: u64 },
    #[error("This API key reached its monthly cap of {cap} credits: it spent {spent} this month and this needs {needed}. Raise the cap with a new key under Settings → API keys, or wait for next month (UTC).")]
    KeyCapReached { cap: i64, spent: i64, needed: i64 },
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// One stored image, as its owner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageView {
    pub id: Uuid,
    pub width: i32,
    pub height: i32,
    pub expires_at: DateTime<Utc>,
    pub purged: bool,
}

/// A generation, as its owner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationView {
    pub id: Uuid,
    pub status: super::Status,
    pub model_id: String,
    pub backend: String,
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub aspect_ratio: String,
    pub count: i32,
    pub seed: Option<i64>,
    pub style: Option<String>,
    pub credits: i64,
    /// Plain words for the user when it did not succeed.
    pub error: Option<String>,
    /// 1 = next to run; only while queued.
    pub queue_position: Option<u64>,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub images: Vec<ImageView>,
}

/// The media variants the web layer may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Original,
    Preview,
    Thumb,
}

impl Variant {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "original" | "original.png" => Some(Variant::Original),
            "preview" | "preview.webp" => Some(Variant::Preview),
            "thumb" | "thumb.webp" => Some(Variant::Thumb),
            _ => None,
        }
    }
    pub fn content_type(self) -> &'static str {
        match self {
            Variant::Original => "image/png",
            Variant::Preview | Variant::Thumb => "image/webp",
        }
    }
    pub fn extension(self) -> &'static str {
        match self {
            Variant::Original => "png",
            Variant::Preview | Variant::Thumb => "webp",
        }
    }
}

/// An image object its owner may read.
#[derive(Debug, Clone)]
pub struct MediaObject {
    pub path: String,
    pub content_type: &'static str,
    /// Stable for the object's lifetime: objects are never rewritten in
    /// place with different pixels (a rebuilt preview has a new name, see
    /// [`super::variants`]), so the name makes the tag.
    pub etag: String,
    /// A download name without the prompt's characters that break headers.
    pub file_name: String,
}

impl MediaObject {
    /// The `variant` file of `img`.
    pub fn of(img: &image::Model, variant: Variant) -> Self {
        let path = match variant {
            Variant::Original => &img.original_path,
            Variant::Preview => &img.preview_path,
            Variant::Thumb => &img.thumb_path,
        };
        MediaObject {
            etag: format!(
                "\"{}-{}\"",
                img.id.simple(),
                path.rsplit('/').next().unwrap_or(variant.extension())
            ),
            content_type: variant.content_type(),
            file_name: format!(
                "uni1-{}-{}.{}",
                img.created_at.format("%Y%m%d-%H%M%S"),
                img.position + 1,
                variant.extension()
            ),
            path: path.clone(),
        }
    }
}

/// Refused prompts one person may send per hour: each one is stored with a
/// moderation flag, and refused prompts skip the pending-job cap.
pub const MAX_REFUSED_PER_HOUR: u64 = 10;

impl Generations {
    /// Queues a generation for `user` (whose address must be confirmed).
    /// A repeated idempotency key returns the job made the first time.
    pub async fn submit(
        &self,
        user: Uuid,
        email_confirmed: bool,
        input: SubmitInput,
    ) -> Result<GenerationView, SubmitError> {
        self.submit_as(user, email_confirmed, input, None).await
    }

    /// [`Self::submit`] through an API key (`via`): the job records the
    /// key, and the key's monthly credit cap is checked in the transaction
    /// that reserves the credits, after the person's balance is locked, so
    /// parallel requests cannot pass it together.
    pub async fn submit_as(
        &self,
        user: Uuid,
        email_confirmed: bool,
        input: SubmitInput,
        via: Option<crate::developer::KeyBudget>,
    ) -> Result<GenerationView, SubmitError> {
        if !email_confirmed {
            return Err(SubmitError::EmailNotConfirmed);
        }
        crate::privacy::ensure_may_process(&self.db, user).await??;
        let (sub, model) = Submission::parse(input, &self.catalog)?;
        if let Some(parent) = sub.parent_id {
            let owned = image::Entity::find_by_id(parent)
                .filter(image::Column::UserId.eq(user))
                .one(&self.db)
                .await
                .unexpected("reading a parent image")?;
            if owned.is_none() {
                return Err(FieldError {
                    field: "parent",
                    message: "The original image is no longer in your gallery.".into(),
                }
                .into());
            }
        }
        if let Some(existing) = self.find_by_key(user, &sub.idempotency_key).await? {
            return Ok(existing);
        }
        let refusal = self
            .content
            .check(&sub.prompt, sub.negative_prompt.as_deref())
            .await;
        let backend = model.model.backend().to_owned();
        let id = Uuid::now_v7();
        let queue = self.queue.clone();
        let credit_policy = self.credits;
        let sub2 = sub.clone();
        let result = self
            .db
            .transaction::<_, (), SubmitError>(move |txn| {
                Box::pin(async move {
                    // Reads (the upload, the balance) before it writes.
                    crate::support::tx::lock_for_write(txn).await?;
                    let now = Utc::now();
                    let reference_path = match sub2.reference_upload {
                        None => None,
                        Some(upload_id) => Some(
                            upload::Entity::find_by_id(upload_id)
                                .filter(upload::Column::UserId.eq(user))
                                .filter(upload::Column::ExpiresAt.gt(now))
                                .one(txn)
                                .await
                                .unexpected("reading an upload")?
                                .ok_or(SubmitError::ReferenceGone)?
                                .path,
                        ),
                    };
                    credits::ensure_account(txn, user, &credit_policy).await?;
                    // One submit of a person at a time from here to the
                    // commit, so the caps below hold under concurrency. On
                    // PostgreSQL (READ COMMITTED) the balance row is locked;
                    // SQLite runs one writing transaction at a time anyway.
                    if txn.get_database_backend() == DbBackend::Postgres {
                        credit_balance::Entity::find_by_id(user)
                            .lock_exclusive()
                            .one(txn)
                            .await
                            .unexpected("locking a credit balance")?;
                    }
                    let (status, credits, error) = match &refusal {
                        Some(reason) => (status::REFUSED, 0, Some(reason.clone())),
                        None => (status::QUEUED, sub2.credits, None),
                    };
                    if refusal.is_none() {
                        let pending = generation::Entity::find()
                            .filter(generation::Column::UserId.eq(user))
                            .filter(
                                generation::Column::Status.is_in([status::QUEUED, status::RUNNING]),
                            )
                            .count(txn)
                            .await
                            .unexpected("counting pending generations")?;
                        if pending >= queue.max_pending_per_user {
                            return Err(SubmitError::TooManyPending {
                                limit: queue.max_pending_per_user,
                            });
                        }
                        if let Some(crate::developer::KeyBudget {
                            key_id,
                            monthly_credit_cap: Some(cap),
                        }) = via
                        {
                            let spent =
                                crate::developer::keys::spent_this_month(txn, key_id, now).await?;
                            if spent.saturating_add(sub2.credits) > cap {
                                return Err(SubmitError::KeyCapReached {
                                    cap,
                                    spent,
                                    needed: sub2.credits,
                                });
                            }
                        }
                    } else {
                        let refused = generation::Entity::find()
                            .filter(generation::Column::UserId.eq(user))
                            .filter(generation::Column::Status.eq(status::REFUSED))
                            .filter(
                                generation::Column::QueuedAt.gt(now - chrono::Duration::hours(1)),
                            )
                            .count(txn)
                            .await
                            .unexpected("counting refused prompts")?;
                        if refused >= MAX_REFUSED_PER_HOUR {
                            return Err(SubmitError::TooManyRefused {
                                limit: MAX_REFUSED_PER_HOUR,
                            });
                        }
                    }
                    generation::Entity::insert(generation::ActiveModel {
                        id: Set(id),
                        user_id: Set(user),
                        idempotency_key: Set(sub2.idempotency_key.clone()),
                        model_id: Set(sub2.model_id.clone()),
                        backend: Set(backend),
                        prompt: Set(sub2.prompt.clone()),
                        negative_prompt: Set(sub2.negative_prompt.clone()),
                        aspect_ratio: Set(sub2.aspect_ratio.label().into()),
                        image_count: Set(i32::from(sub2.count)),
                        seed_requested: Set(sub2.seed.map(|s| s as i64)),
                        seed_used: Set(None),
                        style: Set(sub2.style.clone()),
                        reference_path: Set(reference_path),
                        reference_strength: Set(sub2.reference_strength.map(f64::from)),
                        credits: Set(credits),
                        status: Set(status),
                        attempts: Set(0),
                        max_attempts: Set(queue.max_attempts),
                        run_after: Set(now),
                        lease_owner: Set(None),
                        lease_expires_at: Set(None),
                        external_id: Set(None),
                        cancel_requested: Set(false),
                        error: Set(error),
                        error_detail: Set(None),
                        parent_id: Set(sub2.parent_id),
                        queued_at: Set(now),
                        started_at: Set(None),
                        finished_at: Set(refusal.as_ref().map(|_| now)),
                        done_notice: Set(None),
                        api_key_id: Set(via.map(|v| v.key_id)),
                    })
                    .exec_without_returning(txn)
                    .await
                    .map_err(|e| {
                        if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
                            // A concurrent submission with the same key won.
                            SubmitError::Unexpected(Unexpected::new("duplicate key", e))
                        } else {
                            SubmitError::Unexpected(Unexpected::new("queueing a generation", e))
                        }
                    })?;
                    if let Some(reason) = &refusal {
                        crate::moderation::flag(
                            txn,
                            crate::moderation::Flag {
                                owner: user,
                                generation: Some(id),
                                image: None,
                                prompt: &sub2.prompt,
                                reason,
                                source: crate::moderation::Source::Blocklist,
                            },
                            now,
                        )
                        .await?;
                        return Ok(());
                    }
                    credits::reserve(txn, user, id, sub2.credits)
                        .await
                        .map_err(|e| match e {
                            CreditError::Insufficient { needed, available } => {
                                SubmitError::Insufficient { needed, available }
                            }
                            CreditError::InDebt { owed } => SubmitError::InDebt { owed },
                            CreditError::Unexpected(u) => SubmitError::Unexpected(u),
                        })?;
                    // Delivered at commit: workers in every process wake.
                    super::notify::announce(txn, super::notify::Change::Queued, Some(user)).await?;
                    Ok(())
                })
            })
            .await;
        match result {
            Ok(()) => {}
            Err(TransactionError::Transaction(SubmitError::Unexpected(u)))
                if u.context() == "duplicate key" =>
            {
                if let Some(existing) = self.find_by_key(user, &sub.idempotency_key).await? {
                    return Ok(existing);
                }
                return Err(SubmitError::Unexpected(u));
            }
            Err(TransactionError::Transaction(e)) => return Err(e),
            Err(TransactionError::Connection(e)) => {
                return Err(Unexpected::new("queueing a generation", e).into())
            }
        }
        self.wake.notify_waiters();
        self.progress.wake(user);
        self.get(user, id).await?.ok_or_else(|| {
            Unexpected::new(
                "reading a new generation",
                sea_orm::DbErr::RecordNotFound(id.to_string()),
            )
            .into()
        })
    }

    async fn find_by_key(
        &self,
        user: Uuid,
        key: &str,
    ) -> Result<Option<GenerationView>, Unexpected> {
        self.one_of(user, generation::Column::IdempotencyKey.eq(key))
            .await
    }

    /// One generation of `user`, or `None` (also when it is someone else's).
    pub async fn get(&self, user: Uuid, id: Uuid) -> Result<Option<GenerationView>, Unexpected> {
        self.one_of(user, generation::Column::Id.eq(id)).await
    }

    async fn one_of(
        &self,
        user: Uuid,
        which: sea_orm::sea_query::SimpleExpr,
    ) -> Result<Option<GenerationView>, Unexpected> {
        let row = generation::Entity::find()
            .filter(generation::Column::UserId.eq(user))
            .filter(which)
            .one(&self.db)
            .await
            .unexpected("reading a generation")?;
        match row {
            Some(row) => Ok(self.views(vec![row]).await?.pop()),
            None => Ok(None),
        }
    }

    /// The newest `limit` generations of `user`, newest first.
    pub async fn recent(&self, user: Uuid, limit: u64) -> Result<Vec<GenerationView>, Unexpected> {
        let rows = generation::Entity::find()
            .filter(generation::Column::UserId.eq(user))
            .order_by_desc(generation::Column::QueuedAt)
            .order_by_desc(generation::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .unexpected("listing generations")?;
        self.views(rows).await
    }

    /// The generations of `user` that are queued or running, or finished
    /// after `since` (what a progress stream sends).
    pub async fn changed_since(
        &self,
        user: Uuid,
        since: DateTime<Utc>,
    ) -> Result<Vec<GenerationView>, Unexpected> {
        let rows = generation::Entity::find()
            .filter(generation::Column::UserId.eq(user))
            .filter(
                sea_orm::Condition::any()
                    .add(generation::Column::Status.is_in([status::QUEUED, status::RUNNING]))
                    .add(generation::Column::FinishedAt.gte(since)),
            )
            .order_by_desc(generation::Column::QueuedAt)
            .limit(50)
            .all(&self.db)
            .await
            .unexpected("listing generations")?;
        self.views(rows).await
    }

    /// The progress of every person of `users` at once, for the progress
    /// hub's one read per tick: for each, what [`Self::changed_since`]
    /// finds (at most 50 jobs, newest first) and their credit balance
    /// (the default when they have none, or when it cannot be read). A
    /// fixed number of statements whatever the number of people (per
    /// 1,000 of them): the jobs, their images, the queue positions of the
    /// queued ones (only when some are queued), the balances.
    pub async fn progress_of(
        &self,
        users: &[Uuid],
        since: DateTime<Utc>,
    ) -> Result<HashMap<Uuid, (Vec<GenerationView>, credits::Balance)>, Unexpected> {
        let mut rows = Vec::new();
        for chunk in users.chunks(1000) {
            rows.extend(
                generation::Entity::find()
                    .filter(generation::Column::UserId.is_in(chunk.iter().copied()))
                    .filter(
                        sea_orm::Condition::any()
                            .add(
                                generation::Column::Status.is_in([status::QUEUED, status::RUNNING]),
                            )
                            .add(generation::Column::FinishedAt.gte(since)),
                    )
                    .order_by_desc(generation::Column::QueuedAt)
                    .all(&self.db)
                    .await
                    .unexpected("listing generations")?,
            );
        }
        // At most 50 per person, newest first, as one person's read.
        let mut kept: HashMap<Uuid, usize> = HashMap::new();
        rows.retain(|r| {
            let n = kept.entry(r.user_id).or_default();
            *n += 1;
            *n <= 50
        });
        let owners: Vec<Uuid> = rows.iter().map(|r| r.user_id).collect();
        let views = self.views(rows).await?;
        let balances = credits::balances(&self.db, users)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = ?e, "progress: balances unreadable");
                HashMap::new()
            });
        let mut out: HashMap<Uuid, (Vec<GenerationView>, credits::Balance)> = users
            .iter()
            .map(|u| {
                (
                    *u,
                    (Vec::new(), balances.get(u).copied().unwrap_or_default()),
                )
            })
            .collect();
        for (owner, view) in owners.into_iter().zip(views) {
            if let Some((jobs, _)) = out.get_mut(&owner) {
                jobs.push(view);
            }
        }
        Ok(out)
    }

    /// Rows -> views with images and queue positions: one query for the
    /// images and, when some are queued, one for their positions (per
    /// 1,000 jobs), whatever the number of rows.
    pub(crate) async fn views(
        &self,
        rows: Vec<generation::Model>,
    ) -> Result<Vec<GenerationView>, Unexpected> {
        Self::views_in(&self.db, rows).await
    }

    /// [`Self::views`] on any connection (the webhook sender has no
    /// `Generations`).
    pub(crate) async fn views_in(
        db: &DatabaseConnection,
        rows: Vec<generation::Model>,
    ) -> Result<Vec<GenerationView>, Unexpected> {
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let mut images: HashMap<Uuid, Vec<image::Model>> = HashMap::new();
        for chunk in ids.chunks(1000) {
            let found = image::Entity::find()
                .filter(image::Column::GenerationId.is_in(chunk.iter().copied()))
                .order_by_asc(image::Column::Position)
                .all(db)
                .await
                .unexpected("listing images")?;
            for i in found {
                images.entry(i.generation_id).or_default().push(i);
            }
        }
        // Queue positions: for each queued job of these rows, how many
        // queued jobs are older (a correlated count on the status index),
        // never the whole queue.
        let queued: Vec<Uuid> = rows
            .iter()
            .filter(|r| r.status == status::QUEUED)
            .map(|r| r.id)
            .collect();
        let mut positions: HashMap<Uuid, u64> = HashMap::new();
        for chunk in queued.chunks(1000) {
            let ahead: Vec<(Uuid, i64)> = generation::Entity::find()
                .select_only()
                .column(generation::Column::Id)
                .column_as(
                    sea_orm::sea_query::Expr::cust(
                        "(SELECT COUNT(*) FROM generations q \
                         WHERE q.status = 'queued' AND q.queued_at < generations.queued_at)",
                    ),
                    "ahead",
                )
                .filter(generation::Column::Id.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(db)
                .await
                .unexpected("reading the queue")?;
            positions.extend(
                ahead
                    .into_iter()
                    .map(|(id, n)| (id, u64::try_from(n).unwrap_or(0) + 1)),
            );
        }
        Ok(rows
            .into_iter()
            .map(|r| {
                let queue_position = positions.get(&r.id).copied();
                GenerationView {
                    images: images
                        .remove(&r.id)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|i| ImageView {
                            id: i.id,
                            width: i.width,
                            height: i.height,
                            expires_at: i.expires_at,
                            purged: i.purged_at.is_some(),
                        })
                        .collect(),
                    id: r.id,
                    queue_position,
                    status: r.status,
                    model_id: r.model_id,
                    backend: r.backend,
                    prompt: r.prompt,
                    negative_prompt: r.negative_prompt,
                    aspect_ratio: r.aspect_ratio,
                    count: r.image_count,
                    seed: r.seed_used.or(r.seed_requested),
                    style: r.style,
                    credits: r.credits,
                    error: r.error,
                    queued_at: r.queued_at,
                    started_at: r.started_at,
                    finished_at: r.finished_at,
                }
            })
            .collect())
    }

    /// Cancels a generation of `user`: a queued one at once (credits back),
    /// a running one as soon as its worker notices. `None` if there is no
    /// such generation of theirs.
    pub async fn cancel(&self, user: Uuid, id: Uuid) -> Result<Option<GenerationView>, Unexpected> {
        let Some(row) = generation::Entity::find_by_id(id)
            .filter(generation::Column::UserId.eq(user))
            .one(&self.db)
            .await
            .unexpected("reading a generation")?
        else {
            return Ok(None);
        };
        match row.status {
            status::QUEUED => {
                super::queue::finish_without_images(
                    &self.db,
                    &row,
                    None,
                    status::CANCELLED,
                    Some("Cancelled. The credits were returned.".into()),
                    None,
                )
                .await?;
            }
            status::RUNNING => {
                generation::Entity::update_many()
                    .col_expr(
                        generation::Column::CancelRequested,
                        sea_orm::sea_query::Expr::value(true),
                    )
                    .filter(generation::Column::Id.eq(id))
                    .exec(&self.db)
                    .await
                    .unexpected("cancelling a generation")?;
            }
            _ => {}
        }
        self.progress.wake(user);
        self.get(user, id).await
    }

    /// The object for `variant` of image `image_id`, if `viewer` owns it and
    /// it has not been purged.
    pub async fn media_for_owner(
        &self,
        viewer: Uuid,
        image_id: Uuid,
        variant: Variant,
    ) -> Result<Option<MediaObject>, Unexpected> {
        let Some(img) = image::Entity::find_by_id(image_id)
            .filter(image::Column::UserId.eq(viewer))
            .filter(image::Column::PurgedAt.is_null())
            // Taken down by moderation: nobody but staff sees it.
            .filter(image::Column::TakenDownAt.is_null())
            .one(&self.db)
            .await
            .unexpected("reading an image")?
        else {
            return Ok(None);
        };
        Ok(Some(MediaObject::of(&img, variant)))
    }
}

/// Why a reference image was not stored.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error(transparent)]
    Image(#[from] uni1_imaging::ImageError),
    #[error("You have {limit} reference images waiting to be used. Use one, or wait for them to expire (an hour after upload).")]
    TooMany { limit: u64 },
    #[error("Too many uploads. Try again in {} seconds.", .0.seconds())]
    RateLimited(crate::support::rate_limit::RetryAfter),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// How long an unused reference upload is kept.
pub const UPLOAD_TTL_MINUTES: i64 = 60;

/// Unexpired reference uploads one person may have stored at once.
pub const MAX_LIVE_UPLOADS: u64 = 20;

impl Generations {
    /// Checks, re-encodes (no metadata) and stores a reference image of
    /// `user`, encrypted; it is deleted when the job that uses it ends, or by
    /// [`Generations::sweep_uploads`] if no job uses it within the hour.
    pub async fn store_reference(
        &self,
        user: Uuid,
        bytes: Vec<u8>,
    ) -> Result<upload::Model, UploadError> {
        self.limits
            .upload(user)
            .await
            .map_err(UploadError::RateLimited)?;
        let live = upload::Entity::find()
            .filter(upload::Column::UserId.eq(user))
            .filter(upload::Column::ExpiresAt.gt(Utc::now()))
            .count(&self.db)
            .await
            .unexpected("counting uploads")?;
        if live >= MAX_LIVE_UPLOADS {
            return Err(UploadError::TooMany {
                limit: MAX_LIVE_UPLOADS,
            });
        }
        let limits = uni1_imaging::Limits::UPLOAD;
        let png = super::decoding::DecodeGate::global()
            .run(move || uni1_imaging::reference_png(&bytes, &limits))
            .await
            .map_err(|e| Unexpected::new("encoding a reference image", e))??;
        let (width, height) = png_size(&png);
        let id = Uuid::now_v7();
        let path = format!("{}uploads/{id}.png", super::user_prefix(user));
        self.blobs
            .put(&path, &png)
            .await
            .map_err(|e| Unexpected::new("storing a reference image", e))?;
        let now = Utc::now();
        let row = upload::Model {
            id,
            user_id: user,
            path,
            width,
            height,
            created_at: now,
            expires_at: now + chrono::Duration::minutes(UPLOAD_TTL_MINUTES),
        };
        upload::Entity::insert(upload::ActiveModel::from(row.clone()))
            .exec_without_returning(&self.db)
            .await
            .unexpected("recording a reference image")?;
        Ok(row)
    }

    /// Deletes `user`'s reference uploads now (object, then row), except
    /// those a queued or running job still needs (PRV-3: "unused uploads
    /// now, not only after an hour"); returns how many went.
    pub async fn delete_unused_uploads(&self, user: Uuid) -> Result<usize, Unexpected> {
        let uploads = upload::Entity::find()
            .filter(upload::Column::UserId.eq(user))
            .all(&self.db)
            .await
            .unexpected("finding uploads")?;
        let mut n = 0;
        for u in uploads {
            n += usize::from(self.delete_upload_if_unused(u).await?);
        }
        Ok(n)
    }

    /// Deletes `user`'s reference upload `id` now (the studio's "Remove"),
    /// unless a queued or running job uses it; whether it went. Another
    /// person's upload, or one already gone: `false`.
    pub async fn delete_upload(&self, user: Uuid, id: Uuid) -> Result<bool, Unexpected> {
        let found = upload::Entity::find_by_id(id)
            .filter(upload::Column::UserId.eq(user))
            .one(&self.db)
            .await
            .unexpected("finding an upload")?;
        match found {
            Some(u) => self.delete_upload_if_unused(u).await,
            None => Ok(false),
        }
    }

    async fn delete_upload_if_unused(&self, u: upload::Model) -> Result<bool, Unexpected> {
        let in_use = generation::Entity::find()
            .filter(generation::Column::UserId.eq(u.user_id))
            .filter(generation::Column::ReferencePath.eq(u.path.as_str()))
            .filter(generation::Column::Status.is_in([status::QUEUED, status::RUNNING]))
            .count(&self.db)
            .await
            .unexpected("checking an upload's use")?;
        if in_use > 0 {
            return Ok(false);
        }
        self.blobs
            .delete(&u.path)
            .await
            .map_err(|e| Unexpected::new("deleting an upload", e))?;
        upload::Entity::delete_by_id(u.id)
            .exec(&self.db)
            .await
            .unexpected("deleting an upload")?;
        Ok(true)
    }

    /// Deletes reference uploads that expired unused (object and row).
    pub async fn sweep_uploads(&self) -> Result<usize, Unexpected> {
        let expired = upload::Entity::find()
            .filter(upload::Column::ExpiresAt.lt(Utc::now()))
            .all(&self.db)
            .await
            .unexpected("finding expired uploads")?;
        let mut n = 0;
        for u in expired {
            // A queued job may still point at it: keep those until the job ends.
            let in_use = generation::Entity::find()
                .filter(generation::Column::ReferencePath.eq(u.path.as_str()))
                .count(&self.db)
                .await
                .unexpected("checking an upload's use")?;
            if in_use > 0 {
                continue;
            }
            if let Err(e) = self.blobs.delete(&u.path).await {
                tracing::warn!(error = %e, "cannot delete an expired upload");
                continue;
            }
            upload::Entity::delete_by_id(u.id)
                .exec(&self.db)
                .await
                .unexpected("deleting an expired upload")?;
            n += 1;
        }
        Ok(n)
    }
}

/// Width and height from a PNG's IHDR (the encoder's own output).
fn png_size(png: &[u8]) -> (i32, i32) {
    let read = |at: usize| {
        png.get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(|b| i32::try_from(u32::from_be_bytes(b)).unwrap_or(0))
            .unwrap_or(0)
    };
    (read(16), read(20))
}
