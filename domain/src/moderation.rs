//! What staff review: refused prompts (GEN-4) and reports about published
//! images are kept as `moderation_flags` ([`flag`] is the one way to record
//! one, in the caller's transaction); reports of under-age users
//! ([`underage`]); messages sent through the contact form ([`contact`]).

pub mod contact;
pub mod underage;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, EntityTrait, Set};
use uuid::Uuid;

use crate::entities::moderation_flag;
use crate::support::error::{ResultExt as _, Unexpected};

/// Where a flag comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The operator's blocked terms refused the prompt at submission.
    Blocklist,
    /// The model's own safety filter refused the prompt.
    Backend,
    /// Someone reported a published image.
    Report,
    /// The output check refused a generated image (kept for review).
    Output,
}

impl Source {
    /// The value stored in `moderation_flags.source`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Blocklist => "blocklist",
            Source::Backend => "backend",
            Source::Report => "report",
            Source::Output => "output",
        }
    }
}

/// What a flag is about.
#[derive(Debug, Clone, Copy)]
pub struct Flag<'a> {
    /// The owner of the flagged prompt or image.
    pub owner: Uuid,
    pub generation: Option<Uuid>,
    /// The published image a report is about.
    pub image: Option<Uuid>,
    pub prompt: &'a str,
    pub reason: &'a str,
    pub source: Source,
}

/// Records `flag` for staff review.
pub async fn flag(
    db: &impl ConnectionTrait,
    flag: Flag<'_>,
    now: DateTime<Utc>,
) -> Result<(), Unexpected> {
    moderation_flag::Entity::insert(moderation_flag::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(flag.owner),
        generation_id: Set(flag.generation),
        image_id: Set(flag.image),
        prompt: Set(flag.prompt.to_owned()),
        reason: Set(flag.reason.to_owned()),
        source: Set(flag.source.as_str().to_owned()),
        created_at: Set(now),
        reviewed_at: Set(None),
        decision: Set(None),
        decision_note: Set(None),
        review_object: Set(None),
    })
    .exec_without_returning(db)
    .await
    .unexpected("recording a moderation flag")?;
    Ok(())
}
