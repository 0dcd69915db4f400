//! Replicate-style predictions (issue 17): a prediction is a normal
//! generation job whose studio idempotency key starts with [`KEY_PREFIX`]
//! (so the API lists and finds only the jobs made through it). Every read
//! is scoped to the owner: another person's prediction is `None`.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::entities::generation;
use crate::generation::{GenerationView, Generations};
use crate::support::error::{ResultExt, Unexpected};

/// The idempotency-key prefix of jobs made as predictions.
pub const KEY_PREFIX: &str = "rep-";
/// The largest page of a listing.
pub const MAX_PAGE: u64 = 100;

/// Where a page of the listing starts: after this (queued_at, id), newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub queued_at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    /// `"<nanoseconds>_<uuid>"` (the stored precision, whatever the database).
    pub fn encode(&self) -> String {
        let nanos = self
            .queued_at
            .timestamp_nanos_opt()
            .unwrap_or(self.queued_at.timestamp_micros().saturating_mul(1000));
        format!("{nanos}_{}", self.id.simple())
    }

    pub fn decode(s: &str) -> Option<Self> {
        let (nanos, id) = s.split_once('_')?;
        Some(Self {
            queued_at: DateTime::from_timestamp_nanos(nanos.parse().ok()?),
            id: Uuid::parse_str(id).ok()?,
        })
    }
}

/// The prediction `id` of `user`, or `None` (someone else's, or not made
/// as a prediction).
pub async fn get(
    gens: &Generations,
    user: Uuid,
    id: Uuid,
) -> Result<Option<GenerationView>, Unexpected> {
    let row = generation::Entity::find_by_id(id)
        .filter(generation::Column::UserId.eq(user))
        .filter(generation::Column::IdempotencyKey.starts_with(KEY_PREFIX))
        .one(&gens.db)
        .await
        .unexpected("reading a prediction")?;
    match row {
        Some(row) => Ok(gens.views(vec![row]).await?.pop()),
        None => Ok(None),
    }
}

/// A page of `user`'s predictions, newest first, after `cursor`; with the
/// cursor of the next page when there is one.
pub async fn page(
    gens: &Generations,
    user: Uuid,
    cursor: Option<Cursor>,
    size: u64,
) -> Result<(Vec<GenerationView>, Option<Cursor>), Unexpected> {
    let size = size.clamp(1, MAX_PAGE);
    let mut query = generation::Entity::find()
        .filter(generation::Column::UserId.eq(user))
        .filter(generation::Column::IdempotencyKey.starts_with(KEY_PREFIX));
    if let Some(c) = cursor {
        query = query.filter(
            Condition::any()
                .add(generation::Column::QueuedAt.lt(c.queued_at))
                .add(
                    Condition::all()
                        .add(generation::Column::QueuedAt.eq(c.queued_at))
                        .add(generation::Column::Id.lt(c.id)),
                ),
        );
    }
    let mut rows = query
        .order_by_desc(generation::Column::QueuedAt)
        .order_by_desc(generation::Column::Id)
        .limit(size + 1)
        .all(&gens.db)
        .await
        .unexpected("listing predictions")?;
    let next = if rows.len() as u64 > size {
        rows.truncate(size as usize);
        rows.last().map(|r| Cursor {
            queued_at: r.queued_at,
            id: r.id,
        })
    } else {
        None
    };
    Ok((gens.views(rows).await?, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = Cursor {
            queued_at: DateTime::from_timestamp_nanos(1_764_000_000_123_456_789),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in ["", "x_y", "12", "12_nope"] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
