//! Output checks (GEN-4): every generated image passes the
//! [`OutputModerator`]s before its owner sees it. A refused output ends the
//! job `refused` with its credits released (in the transaction of the status
//! change, as for a refused prompt), is kept sealed under
//! `users/<id>/review/` for staff only (no owner route serves it: it has no
//! `images` row), lands in the moderation queue as a flag with source
//! `output`, and is purged after the staff decision or after
//! [`REVIEW_DAYS`] by [`purge_pass`].
//!
//! The built-in check ([`BuiltinOutputCheck`]) is not an image classifier:
//! it cannot see what an image shows. It refuses an output when the prompt
//! that produced it contains one of the operator's blocked terms
//! (`UNI1_BLOCKED_TERMS`, checked again now: the list may have changed
//! while the job waited) or one of the terms whose outputs are held for
//! review (`UNI1_OUTPUT_BLOCKED_TERMS`: prompts that may run but whose
//! images a person must look at first). To judge the pixels, an operator
//! configures an HTTP moderation service (`UNI1_OUTPUT_MODERATION_URL`,
//! [`HttpOutputCheck`]), asked after the built-in check.

use std::sync::Arc;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, Set,
    TransactionTrait,
};
use uuid::Uuid;

use super::policy::ContentPolicy;
use super::service::Generations;
use super::{queue, status, user_prefix};
use crate::billing::credits;
use crate::entities::{generation, moderation_flag};
use crate::support::error::{ResultExt as _, Unexpected};

/// How long a refused output waits for a decision before it is purged.
pub const REVIEW_DAYS: i64 = 30;

/// How often [`purge_pass`] runs.
pub const PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// What the owner is told about a refused output.
pub const REFUSED_TEXT: &str =
    "This image did not pass the content check, so it is not shown. No credits were charged.";

/// What a check decided about one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Refused, with the reason staff see in the queue.
    Refused(String),
}

/// Why a check could not decide (the job is retried, then fails with its
/// credits released: an output is never shown unchecked).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct CheckError {
    pub retryable: bool,
    pub message: String,
}

/// A moderation check of generated images.
#[async_trait::async_trait]
pub trait OutputModerator: Send + Sync {
    async fn check(&self, image_png: &[u8], prompt: &str) -> Result<Verdict, CheckError>;
}

/// The built-in check: the prompt against the operator's term lists (see
/// the module documentation for what it cannot do).
#[derive(Clone, Default)]
pub struct BuiltinOutputCheck {
    blocked: ContentPolicy,
    held: ContentPolicy,
}

impl BuiltinOutputCheck {
    /// `blocked`: `UNI1_BLOCKED_TERMS`; `held`: `UNI1_OUTPUT_BLOCKED_TERMS`.
    pub fn new(blocked: Vec<String>, held: Vec<String>) -> Self {
        Self {
            blocked: ContentPolicy::new(blocked),
            held: ContentPolicy::new(held),
        }
    }
}

#[async_trait::async_trait]
impl OutputModerator for BuiltinOutputCheck {
    async fn check(&self, _image_png: &[u8], prompt: &str) -> Result<Verdict, CheckError> {
        if self.blocked.check(prompt, None).await.is_some() {
            return Ok(Verdict::Refused(
                "the prompt contains a blocked term (UNI1_BLOCKED_TERMS)".into(),
            ));
        }
        if self.held.check(prompt, None).await.is_some() {
            return Ok(Verdict::Refused(
                "the prompt contains a term whose outputs are held for review (UNI1_OUTPUT_BLOCKED_TERMS)"
                    .into(),
            ));
        }
        Ok(Verdict::Allowed)
    }
}

/// An operator's moderation service over HTTP.
#[derive(Debug, Clone)]
pub struct HttpOutputCheck(pub uni1_models::moderation::HttpModeration);

#[async_trait::async_trait]
impl OutputModerator for HttpOutputCheck {
    async fn check(&self, image_png: &[u8], prompt: &str) -> Result<Verdict, CheckError> {
        let answer = self
            .0
            .check(image_png, prompt)
            .await
            .map_err(|e| CheckError {
                retryable: e.retryable,
                message: e.message,
            })?;
        Ok(if answer.allowed {
            Verdict::Allowed
        } else {
            let reason = answer
                .reason
                .map(|r| r.chars().take(300).collect::<String>())
                .filter(|r| !r.trim().is_empty())
                .unwrap_or_else(|| "refused by the moderation service".into());
            Verdict::Refused(format!("moderation service: {reason}"))
        })
    }
}

/// The checks every output passes, in order; the first refusal wins.
#[derive(Clone, Default)]
pub struct OutputChecks {
    checks: Vec<Arc<dyn OutputModerator>>,
}

impl std::fmt::Debug for OutputChecks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OutputChecks({} checks)", self.checks.len())
    }
}

impl OutputChecks {
    pub fn new(checks: Vec<Arc<dyn OutputModerator>>) -> Self {
        Self { checks }
    }

    pub async fn check(&self, image_png: &[u8], prompt: &str) -> Result<Verdict, CheckError> {
        for c in &self.checks {
            if let Verdict::Refused(reason) = c.check(image_png, prompt).await? {
                return Ok(Verdict::Refused(reason));
            }
        }
        Ok(Verdict::Allowed)
    }
}

/// Where a refused output of `owner` is kept for review.
pub fn review_path(owner: Uuid, flag: Uuid) -> String {
    format!("{}review/{flag}.png", user_prefix(owner))
}

/// Ends `job` refused because of its output: the image is stored sealed
/// for staff review, then one transaction sets the status, records the
/// flag (source `output`) and releases the credits, if `worker` still
/// holds the job. `false`: the lease was lost; nothing was written.
pub async fn refuse(
    gens: &Generations,
    job: &generation::Model,
    worker: &str,
    image_png: &[u8],
    reason: &str,
) -> Result<bool, Unexpected> {
    let flag_id = Uuid::now_v7();
    let path = review_path(job.user_id, flag_id);
    let kept = match gens.blobs.put(&path, image_png).await {
        Ok(_) => Some(path.clone()),
        Err(e) => {
            tracing::error!(error = %e, job = %job.id, "cannot keep a refused output for review");
            None
        }
    };
    let (job2, worker, reason, kept2) = (
        job.clone(),
        worker.to_owned(),
        reason.to_owned(),
        kept.clone(),
    );
    let done = gens
        .db
        .transaction::<_, bool, Unexpected>(move |txn| {
            Box::pin(async move {
                let job = job2;
                let now = Utc::now();
                let res = generation::Entity::update_many()
                    .col_expr(generation::Column::Status, Expr::value(status::REFUSED))
                    .col_expr(generation::Column::FinishedAt, Expr::value(now))
                    .col_expr(
                        generation::Column::LeaseOwner,
                        Expr::value(Option::<String>::None),
                    )
                    .col_expr(
                        generation::Column::ReferencePath,
                        Expr::value(Option::<String>::None),
                    )
                    .col_expr(generation::Column::Error, Expr::value(REFUSED_TEXT))
                    .col_expr(
                        generation::Column::ErrorDetail,
                        Expr::value(format!("output refused: {reason}")),
                    )
                    .filter(generation::Column::Id.eq(job.id))
                    .filter(generation::Column::LeaseOwner.eq(worker.as_str()))
                    .filter(generation::Column::Status.eq(status::RUNNING))
                    .exec(txn)
                    .await
                    .unexpected("refusing an output")?;
                if res.rows_affected != 1 {
                    return Ok(false);
                }
                moderation_flag::Entity::insert(moderation_flag::ActiveModel {
                    id: Set(flag_id),
                    user_id: Set(job.user_id),
                    generation_id: Set(Some(job.id)),
                    image_id: Set(None),
                    prompt: Set(job.prompt.clone()),
                    reason: Set(reason.chars().take(500).collect()),
                    source: Set(crate::moderation::Source::Output.as_str().to_owned()),
                    created_at: Set(now),
                    reviewed_at: Set(None),
                    decision: Set(None),
                    decision_note: Set(None),
                    review_object: Set(kept2),
                })
                .exec_without_returning(txn)
                .await
                .unexpected("flagging a refused output")?;
                queue::forget_reference(txn, &job).await?;
                credits::release(txn, job.user_id, job.id, job.credits).await?;
                crate::webhooks::events::job_ended(
                    txn,
                    &job,
                    status::REFUSED,
                    Some(REFUSED_TEXT),
                    &[],
                    now,
                )
                .await?;
                Ok(true)
            })
        })
        .await
        .map_err(|e| match e {
            sea_orm::TransactionError::Connection(e) => Unexpected::new("refusing an output", e),
            sea_orm::TransactionError::Transaction(e) => e,
        })?;
    if !done {
        if let Some(path) = kept {
            gens.blobs.delete(&path).await.ok();
        }
    }
    Ok(done)
}

/// One purge pass: refused outputs whose flag was decided, or that waited
/// [`REVIEW_DAYS`], are deleted and their flag forgets the path.
pub async fn purge_pass(gens: &Generations) {
    if let Err(e) = purge(&gens.db, &gens.blobs, Utc::now(), 100).await {
        tracing::error!(error = ?e, "purging refused outputs failed");
    }
}

/// Purges up to `limit` refused outputs due at `now`; returns how many.
pub async fn purge(
    db: &DatabaseConnection,
    blobs: &uni1_storage::Blobs,
    now: chrono::DateTime<Utc>,
    limit: u64,
) -> Result<usize, Unexpected> {
    let due: Vec<(Uuid, Option<String>)> = moderation_flag::Entity::find()
        .select_only()
        .columns([
            moderation_flag::Column::Id,
            moderation_flag::Column::ReviewObject,
        ])
        .filter(moderation_flag::Column::ReviewObject.is_not_null())
        .filter(
            Condition::any()
                .add(moderation_flag::Column::ReviewedAt.is_not_null())
                .add(
                    moderation_flag::Column::CreatedAt
                        .lt(now - chrono::Duration::days(REVIEW_DAYS)),
                ),
        )
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
        .unexpected("finding refused outputs to purge")?;
    let mut purged = 0;
    for (id, path) in due {
        let Some(path) = path else { continue };
        match blobs.delete(&path).await {
            Ok(()) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot delete a refused output; will retry");
                continue;
            }
        }
        moderation_flag::Entity::update_many()
            .col_expr(
                moderation_flag::Column::ReviewObject,
                Expr::value(Option::<String>::None),
            )
            .filter(moderation_flag::Column::Id.eq(id))
            .exec(db)
            .await
            .unexpected("forgetting a purged output")?;
        purged += 1;
    }
    Ok(purged)
}
