//! The download window (STO-4): images can be downloaded for a configured
//! period (90 days by default) after they were made. Afterwards the sweeper
//! deletes the original and its variants from storage and marks the row
//! `purged_at`, so the history still says what was made and when it expired.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::service::Generations;
use crate::entities::image;
use crate::support::error::{ResultExt, Unexpected};

/// Purges up to `batch` images whose window ended before `now`; returns how
/// many. Objects first, then the row: a crash in between leaves the row to
/// be swept again (deleting a missing object is not an error).
pub async fn sweep_expired(
    gens: &Generations,
    now: DateTime<Utc>,
    batch: u64,
) -> Result<usize, Unexpected> {
    let due = image::Entity::find()
        .filter(image::Column::PurgedAt.is_null())
        .filter(image::Column::ExpiresAt.lte(now))
        .order_by_asc(image::Column::ExpiresAt)
        .limit(batch)
        .all(&gens.db)
        .await
        .unexpected("finding expired images")?;
    let mut purged = 0;
    for img in due {
        let mut ok = true;
        for path in [&img.original_path, &img.preview_path, &img.thumb_path] {
            if let Err(e) = gens.blobs.delete(path).await {
                tracing::warn!(error = %e, image = %img.id, "cannot delete an expired image; will retry");
                ok = false;
            }
        }
        if !ok {
            continue;
        }
        image::Entity::update_many()
            .col_expr(image::Column::PurgedAt, Expr::value(now))
            .filter(image::Column::Id.eq(img.id))
            .exec(&gens.db)
            .await
            .unexpected("marking an image expired")?;
        purged += 1;
    }
    if purged > 0 {
        tracing::info!(purged, "expired images purged from storage");
    }
    Ok(purged)
}
