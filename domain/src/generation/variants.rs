//! The object names of an image's files, and `uni1 admin rebuild-variants`,
//! which makes the preview and thumbnail of older images again with the
//! current encoder (lossy WebP within its byte budgets, see `uni1_imaging`).
//!
//! The encoding's version is part of the preview's and thumbnail's object
//! names. A rebuilt file therefore has a new name and a new ETag (browsers
//! never keep showing the old bytes), and what still needs rebuilding is
//! simply every row whose preview name is not current: stopping and running
//! the command again resumes where it stopped.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::decoding::DecodeGate;
use crate::entities::image;
use crate::support::error::{ResultExt as _, Unexpected};

/// Version of the preview and thumbnail encoding (2: lossy WebP within
/// budgets; 1, names without a version: lossless WebP).
pub const DISPLAY_VERSION: u32 = 2;

/// The object names of one image's files under `base`
/// (`<user prefix>images/<image id>`): original, preview, thumbnail.
pub fn object_paths(base: &str) -> [String; 3] {
    [
        format!("{base}/original.png"),
        format!("{base}/preview-v{DISPLAY_VERSION}.webp"),
        format!("{base}/thumb-v{DISPLAY_VERSION}.webp"),
    ]
}

/// Whether a preview object name is of the current encoding.
pub fn is_current(preview_path: &str) -> bool {
    preview_path.ends_with(&format!("-v{DISPLAY_VERSION}.webp"))
}

/// The folder of an image's files, from one of their paths.
fn base_of(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(base, _)| base)
}

/// What one run of [`rebuild_display_variants`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RebuildReport {
    /// Images whose preview and thumbnail were made again.
    pub rebuilt: u64,
    /// Images left as they were because their original could not be read
    /// or decoded (logged; a later run tries them again).
    pub failed: u64,
    /// Images deleted or expired while they were being rebuilt (their new
    /// files were removed again).
    pub gone: u64,
    /// Bytes of previews and thumbnails before and after, for the rebuilt.
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// Makes the preview and thumbnail of every live image that does not have
/// the current encoding yet, `batch` rows at a time, in id order.
///
/// Per image: read and decrypt the original, encode, store the two new
/// objects, then switch the row to them with a conditional update (only if
/// it still names the old files and is not purged), then delete the old
/// objects. A crash between the steps leaves at worst unreferenced new
/// objects, which the next run overwrites. `on_progress` sees the running
/// totals after every batch.
pub async fn rebuild_display_variants(
    db: &impl ConnectionTrait,
    blobs: &uni1_storage::Blobs,
    batch: u64,
    mut on_progress: impl FnMut(&RebuildReport),
) -> Result<RebuildReport, Unexpected> {
    let mut report = RebuildReport::default();
    let mut after: Option<Uuid> = None;
    loop {
        let mut q = image::Entity::find()
            .filter(image::Column::PurgedAt.is_null())
            .filter(image::Column::PreviewPath.not_like(format!("%-v{DISPLAY_VERSION}.webp")))
            .order_by_asc(image::Column::Id)
            .limit(batch.max(1));
        if let Some(last) = after {
            q = q.filter(image::Column::Id.gt(last));
        }
        let rows = q.all(db).await.unexpected("listing images to rebuild")?;
        let Some(last) = rows.last() else {
            return Ok(report);
        };
        after = Some(last.id);
        for row in rows {
            rebuild_one(db, blobs, row, &mut report).await?;
        }
        on_progress(&report);
    }
}

async fn rebuild_one(
    db: &impl ConnectionTrait,
    blobs: &uni1_storage::Blobs,
    row: image::Model,
    report: &mut RebuildReport,
) -> Result<(), Unexpected> {
    let original = match blobs.get(&row.original_path).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::warn!(image = %row.id, error = %e, "cannot read the original; left as it was");
            report.failed += 1;
            return Ok(());
        }
    };
    let original_len = original.len() as u64;
    let limits = uni1_imaging::Limits::MODEL_OUTPUT;
    let display = match DecodeGate::global()
        .run(move || uni1_imaging::display_variants(&original, &limits))
        .await
    {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => {
            tracing::warn!(image = %row.id, error = %e, "cannot decode the original; left as it was");
            report.failed += 1;
            return Ok(());
        }
        Err(e) => return Err(Unexpected::new("encoding a preview", e)),
    };
    let [_, preview_path, thumb_path] = object_paths(base_of(&row.original_path));
    blobs
        .put(&preview_path, &display.preview_webp)
        .await
        .unexpected("storing a rebuilt preview")?;
    blobs
        .put(&thumb_path, &display.thumb_webp)
        .await
        .unexpected("storing a rebuilt thumbnail")?;
    let new_display = (display.preview_webp.len() + display.thumb_webp.len()) as u64;
    let switched = image::Entity::update_many()
        .col_expr(
            image::Column::PreviewPath,
            Expr::value(preview_path.clone()),
        )
        .col_expr(image::Column::ThumbPath, Expr::value(thumb_path.clone()))
        .col_expr(
            image::Column::Bytes,
            Expr::value(i64::try_from(original_len + new_display).unwrap_or(i64::MAX)),
        )
        .filter(image::Column::Id.eq(row.id))
        .filter(image::Column::PreviewPath.eq(row.preview_path.clone()))
        .filter(image::Column::PurgedAt.is_null())
        .exec(db)
        .await
        .unexpected("switching an image to its rebuilt files")?;
    if switched.rows_affected == 0 {
        // Deleted or expired meanwhile: its new files must not outlive it.
        for path in [&preview_path, &thumb_path] {
            if let Err(e) = blobs.delete(path).await {
                tracing::warn!(image = %row.id, error = %e, "cannot remove a rebuilt file");
            }
        }
        report.gone += 1;
        return Ok(());
    }
    let old_display = (row.bytes as u64).saturating_sub(original_len);
    for path in [&row.preview_path, &row.thumb_path] {
        if let Err(e) = blobs.delete(path).await {
            tracing::warn!(image = %row.id, error = %e, "cannot remove an old preview file");
        }
    }
    report.rebuilt += 1;
    report.bytes_before += old_display;
    report.bytes_after += new_display;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_carry_the_version_and_old_names_are_not_current() {
        let [o, p, t] = object_paths("users/ab/images/cd");
        assert_eq!(o, "users/ab/images/cd/original.png");
        assert_eq!(p, "users/ab/images/cd/preview-v2.webp");
        assert_eq!(t, "users/ab/images/cd/thumb-v2.webp");
        assert!(is_current(&p));
        assert!(!is_current("users/ab/images/cd/preview.webp"));
        assert_eq!(base_of(&o), "users/ab/images/cd");
    }
}
