//! Keyset pagination, newest first, on a (time, id) pair: one cursor type
//! and one query shape for every list (the gallery, a collection, the
//! public gallery, and the admin lists to come). A page asks for one row
//! more than it shows, so it knows whether there is a next page without a
//! count.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

/// Where the next page starts: just after the row ordered at `created_at`
/// with id `id`. Opaque to clients (URL-safe base64).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    created_at: DateTime<Utc>,
    id: Uuid,
}

/// A page link whose cursor was changed or cut short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("This page link is not valid. Go back to the first page.")]
pub struct BadCursor;

const CURSOR_VERSION: u8 = 1;

impl Cursor {
    /// The cursor just after the row ordered by `at` with id `id`.
    pub fn at(at: DateTime<Utc>, id: Uuid) -> Self {
        Self { created_at: at, id }
    }

    /// Version byte, seconds (i64), nanoseconds (u32), id (16 bytes): exact
    /// to the nanosecond, because SQLite keeps whatever precision was written.
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(29);
        bytes.push(CURSOR_VERSION);
        bytes.extend_from_slice(&self.created_at.timestamp().to_be_bytes());
        bytes.extend_from_slice(&self.created_at.timestamp_subsec_nanos().to_be_bytes());
        bytes.extend_from_slice(self.id.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn parse(s: &str) -> Result<Self, BadCursor> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim())
            .map_err(|_| BadCursor)?;
        if bytes.len() != 29 || bytes[0] != CURSOR_VERSION {
            return Err(BadCursor);
        }
        let secs = i64::from_be_bytes(bytes[1..9].try_into().map_err(|_| BadCursor)?);
        let nanos = u32::from_be_bytes(bytes[9..13].try_into().map_err(|_| BadCursor)?);
        let id = Uuid::from_slice(&bytes[13..29]).map_err(|_| BadCursor)?;
        if nanos >= 1_000_000_000 {
            return Err(BadCursor);
        }
        let created_at = DateTime::from_timestamp(secs, nanos).ok_or(BadCursor)?;
        Ok(Self { created_at, id })
    }
}

/// `select` ordered newest first by (`at`, `id`), starting after `cursor`,
/// with one row more than `limit` (see [`split`]).
pub fn newest_first<S, C>(select: S, at: C, id: C, cursor: Option<Cursor>, limit: u64) -> S
where
    S: QueryFilter + QueryOrder + QuerySelect,
    C: ColumnTrait + Copy,
{
    let mut select = select;
    if let Some(c) = cursor {
        select = select.filter(
            Condition::any()
                .add(at.lt(c.created_at))
                .add(Condition::all().add(at.eq(c.created_at)).add(id.lt(c.id))),
        );
    }
    select
        .order_by_desc(at)
        .order_by_desc(id)
        .limit(limit.saturating_add(1))
}

/// The page of `rows` fetched by [`newest_first`], and whether there is
/// more after it.
pub fn split<T>(mut rows: Vec<T>, limit: u64) -> (Vec<T>, bool) {
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    (rows, more)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_to_the_nanosecond() {
        let c = Cursor {
            created_at: DateTime::from_timestamp(1_795_000_000, 123_456_789).unwrap(),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::parse(&c.encode()), Ok(c));
    }

    #[test]
    fn bad_cursors_are_refused() {
        let good = Cursor {
            created_at: Utc::now(),
            id: Uuid::now_v7(),
        }
        .encode();
        for bad in [
            "",
            "not base64 at all!",
            "AAAA",
            &good[..good.len() - 2],
            &format!("{good}AA"),
        ] {
            assert_eq!(Cursor::parse(bad), Err(BadCursor), "{bad}");
        }
        // Nanoseconds out of range.
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&good)
            .unwrap();
        bytes[9..13].copy_from_slice(&2_000_000_000u32.to_be_bytes());
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(Cursor::parse(&forged), Err(BadCursor));
    }

    #[test]
    fn a_page_knows_whether_more_follow() {
        assert_eq!(split(vec![1, 2, 3], 2), (vec![1, 2], true));
        assert_eq!(split(vec![1, 2], 2), (vec![1, 2], false));
        assert_eq!(split(Vec::<u8>::new(), 2), (vec![], false));
    }
}
