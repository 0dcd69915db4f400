//! Signed, expiring URLs of generated images for API answers
//! (`response_format: "url"`): the URL alone opens the image until it
//! expires (an hour, as OpenAI's do), on our own origin; any
//! `Authorization` header is ignored. HMAC-SHA256 over the image id and the
//! expiry, with a key derived from the application key.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use sha2::Sha256;
use uuid::Uuid;

use crate::entities::image;
use crate::generation::service::{MediaObject, Variant};
use crate::support::error::{ResultExt, Unexpected};

/// How long a signed URL works.
pub const URL_MINUTES: i64 = 60;
/// Where signed images are served.
pub const PATH_PREFIX: &str = "/v1/files/";

/// Signs and checks image URLs.
#[derive(Clone)]
pub struct MediaSigner {
    key: [u8; 32],
    db: DatabaseConnection,
}

impl std::fmt::Debug for MediaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaSigner(..)")
    }
}

impl MediaSigner {
    /// A signer whose key is derived from the application key.
    pub fn new(db: DatabaseConnection, app_key: &crate::support::crypto::AppKey) -> Self {
        Self {
            key: app_key.derive("uni1 api media urls v1"),
            db,
        }
    }

    fn mac(&self, image: Uuid, exp: i64) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(b"uni1 api media v1\0");
        mac.update(image.as_bytes());
        mac.update(&exp.to_be_bytes());
        mac
    }

    /// Path and query of the original of `image`, valid for
    /// [`URL_MINUTES`] from `now`.
    pub fn path(&self, image: Uuid, now: DateTime<Utc>) -> String {
        let exp = (now + chrono::Duration::minutes(URL_MINUTES)).timestamp();
        let sig: String = self
            .mac(image, exp)
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{PATH_PREFIX}{image}.png?exp={exp}&sig={sig}")
    }

    /// Whether `sig` signs (`image`, `exp`) and `exp` is after `now`.
    pub fn verify(&self, image: Uuid, exp: i64, sig: &str, now: DateTime<Utc>) -> bool {
        if exp <= now.timestamp() || sig.len() != 64 {
            return false;
        }
        let Some(bytes) = (0..32)
            .map(|i| u8::from_str_radix(sig.get(2 * i..2 * i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()
        else {
            return false;
        };
        self.mac(image, exp).verify_slice(&bytes).is_ok()
    }

    /// The original of `image` behind a verified URL, unless it was
    /// purged or taken down since.
    pub async fn object(
        &self,
        image_id: Uuid,
        exp: i64,
        sig: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<MediaObject>, Unexpected> {
        if !self.verify(image_id, exp, sig, now) {
            return Ok(None);
        }
        let img = image::Entity::find_by_id(image_id)
            .filter(image::Column::PurgedAt.is_null())
            .filter(image::Column::TakenDownAt.is_null())
            .one(&self.db)
            .await
            .unexpected("reading an image")?;
        Ok(img.map(|i| MediaObject::of(&i, Variant::Original)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_urls_verify_only_unaltered_and_unexpired() {
        let signer = MediaSigner {
            key: [3; 32],
            db: DatabaseConnection::Disconnected,
        };
        let image = Uuid::now_v7();
        let now = Utc::now();
        let path = signer.path(image, now);
        let (_, query) = path.split_once('?').unwrap_or_default();
        let mut exp = 0;
        let mut sig = "";
        for kv in query.split('&') {
            match kv.split_once('=') {
                Some(("exp", v)) => exp = v.parse().unwrap_or_default(),
                Some(("sig", v)) => sig = v,
                _ => {}
            }
        }
        assert!(signer.verify(image, exp, sig, now));
        assert!(!signer.verify(Uuid::now_v7(), exp, sig, now));
        assert!(!signer.verify(image, exp + 1, sig, now));
        let later = now + chrono::Duration::minutes(URL_MINUTES + 1);
        assert!(!signer.verify(image, exp, sig, later));
        assert!(!signer.verify(image, exp, &sig[..10], now));
    }
}
