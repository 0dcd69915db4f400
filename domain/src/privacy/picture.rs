//! The profile picture (PRV-1): the person uploads one, replaces it or
//! removes it. The upload passes the reference-image checks (sniffed
//! format, byte and pixel limits before decoding), becomes a square WebP
//! without metadata, and is stored encrypted under the person's prefix
//! (`users/<id>/picture/<picture>.webp`), so export and deletion reach it.
//! Each change is a done `correction` request. The picture a sign-in
//! provider gave at sign-up can be used instead: it is fetched once,
//! through the outbound client every fetch of an outside URL uses (https,
//! public addresses, the providers' picture hosts only, no redirects,
//! capped), then checked like an upload. Pages never load it from the
//! provider, so no visit tells Google or GitHub anything.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{Privacy, PrivacyError, RequestKind};
use crate::entities::user;
use crate::generation::decoding::DecodeGate;
use crate::support::error::{ResultExt, Unexpected};
use crate::support::tx;

/// The hosts a provider's picture is fetched from: Google's and GitHub's.
pub const PROVIDER_PICTURE_HOSTS: [&str; 2] =
    ["*.googleusercontent.com", "avatars.githubusercontent.com"];

/// The client that fetches providers' pictures.
pub fn provider_picture_client() -> Option<uni1_models::outbound::Outbound> {
    let base = url::Url::parse("https://avatars.githubusercontent.com/").ok()?;
    let hosts: Vec<String> = PROVIDER_PICTURE_HOSTS
        .iter()
        .map(|h| (*h).to_owned())
        .collect();
    uni1_models::outbound::Outbound::for_model(&base, &hosts, std::time::Duration::from_secs(10))
        .ok()
        .map(|o| o.with_max_image_bytes(uni1_imaging::Limits::UPLOAD.max_bytes))
}

/// The object of picture `picture` of `user`.
pub fn picture_path(user: Uuid, picture: Uuid) -> String {
    format!(
        "{}picture/{picture}.webp",
        crate::generation::user_prefix(user)
    )
}

impl Privacy {
    /// Checks and stores `bytes` as `user`'s picture, replacing the old
    /// one; returns the new picture's id.
    pub async fn set_picture(&self, user: Uuid, bytes: Vec<u8>) -> Result<Uuid, PrivacyError> {
        let limits = uni1_imaging::Limits::UPLOAD;
        let webp = DecodeGate::global()
            .run(move || uni1_imaging::profile_picture_webp(&bytes, &limits))
            .await
            .map_err(|e| Unexpected::new("encoding a profile picture", e))??;
        let id = Uuid::now_v7();
        let path = picture_path(user, id);
        self.blobs
            .put(&path, &webp)
            .await
            .map_err(|e| Unexpected::new("storing a profile picture", e))?;
        let old = match self
            .swap_picture(user, Some(id), "profile picture changed")
            .await
        {
            Ok(old) => old,
            Err(e) => {
                // The row still names the old picture: the new object is an orphan.
                self.delete_picture_object(user, id).await;
                return Err(e.into());
            }
        };
        if let Some(old) = old {
            self.delete_picture_object(user, old).await;
        }
        Ok(id)
    }

    /// Makes the picture the sign-in provider gave at sign-up `user`'s
    /// profile picture; returns its id.
    pub async fn use_provider_picture(&self, user: Uuid) -> Result<Uuid, PrivacyError> {
        let avatar = user::Entity::find_by_id(user)
            .one(&self.db)
            .await
            .unexpected("reading an account")?
            .and_then(|u| u.avatar_url)
            .ok_or(PrivacyError::NoProviderPicture)?;
        let client = self
            .pictures
            .as_ref()
            .ok_or(PrivacyError::ProviderPictureUnavailable)?;
        let url = url::Url::parse(&avatar).map_err(|_| PrivacyError::ProviderPictureUnavailable)?;
        let bytes = client
            .fetch_output(&url, client.max_image_bytes())
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "fetching a provider's picture failed");
                PrivacyError::ProviderPictureUnavailable
            })?;
        self.set_picture(user, bytes).await
    }

    /// Removes `user`'s picture (the row at once, then the object); whether
    /// there was one.
    pub async fn remove_picture(&self, user: Uuid) -> Result<bool, PrivacyError> {
        let old = self
            .swap_picture(user, None, "profile picture removed")
            .await?;
        if let Some(old) = old {
            self.delete_picture_object(user, old).await;
        }
        Ok(old.is_some())
    }

    /// Sets `users.picture_id` to `new` and records the correction, in one
    /// transaction; returns the id it replaced. Nothing is recorded when
    /// there was nothing to remove.
    async fn swap_picture(
        &self,
        user: Uuid,
        new: Option<Uuid>,
        detail: &str,
    ) -> Result<Option<Uuid>, Unexpected> {
        let txn = tx::begin(&self.db).await?;
        let old = user::Entity::find_by_id(user)
            .one(&txn)
            .await
            .unexpected("reading a profile picture")?
            .and_then(|u| u.picture_id);
        if old.is_none() && new.is_none() {
            return Ok(None);
        }
        user::Entity::update_many()
            .col_expr(user::Column::PictureId, Expr::value(new))
            .col_expr(user::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(user::Column::Id.eq(user))
            .exec(&txn)
            .await
            .unexpected("changing a profile picture")?;
        super::requests::done_now(&txn, user, RequestKind::Correction, detail).await?;
        txn.commit()
            .await
            .unexpected("changing a profile picture")?;
        Ok(old)
    }

    /// Deletes a picture's object; a failure is logged, not returned: the
    /// row no longer names it, and the account's deletion removes every
    /// object under the person's prefix anyway.
    async fn delete_picture_object(&self, user: Uuid, picture: Uuid) {
        if let Err(e) = self.blobs.delete(&picture_path(user, picture)).await {
            tracing::warn!(error = %e, "deleting an old profile picture failed; it goes with the account");
        }
    }
}
