//! Share links (STO-3, SHR-1): the owner of an image makes a link with an
//! unguessable 128-bit token and an optional expiry; anyone holding it can
//! see that one image until it expires or the owner revokes it. Only the
//! token's SHA-256 is stored, so a copy of the database does not open links.
//! A link to an image whose download window ended shows nothing.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::accounts::token;
use crate::entities::{generation, image, share_link};
use crate::error::{ResultExt, Unexpected};

/// Longest expiry a link may be given, in days.
pub const MAX_EXPIRY_DAYS: u32 = 365;

/// Share links of one installation.
#[derive(Clone, Debug)]
pub struct Sharing {
    pub db: DatabaseConnection,
}

/// A link as its owner sees it (never the token after creation).
#[derive(Debug, Clone, PartialEq)]
pub struct ShareLinkView {
    pub id: Uuid,
    pub image_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ShareLinkView {
    /// Whether the link opens at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

impl From<share_link::Model> for ShareLinkView {
    fn from(m: share_link::Model) -> Self {
        Self {
            id: m.id,
            image_id: m.image_id,
            created_at: m.created_at,
            expires_at: m.expires_at,
            revoked_at: m.revoked_at,
        }
    }
}

/// What a link shows.
#[derive(Debug, Clone)]
pub struct SharedImage {
    pub image: image::Model,
    pub prompt: String,
    pub model_id: String,
}

/// Why a link was not made.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error("The expiry must be 1 to {MAX_EXPIRY_DAYS} days, or none.")]
    BadExpiry,
    #[error("There is no such image.")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

impl Sharing {
    /// A new link to `image_id` of `user`; returns the link and its token
    /// (shown once). Someone else's image, or an expired one, is `NotFound`.
    pub async fn create(
        &self,
        user: Uuid,
        image_id: Uuid,
        expires_in_days: Option<u32>,
    ) -> Result<(ShareLinkView, String), ShareError> {
        if expires_in_days.is_some_and(|d| d == 0 || d > MAX_EXPIRY_DAYS) {
            return Err(ShareError::BadExpiry);
        }
        let owned = image::Entity::find_by_id(image_id)
            .filter(image::Column::UserId.eq(user))
            .filter(image::Column::PurgedAt.is_null())
            .one(&self.db)
            .await
            .unexpected("reading an image")?;
        if owned.is_none() {
            return Err(ShareError::NotFound);
        }
        let (token, hash) = token::generate();
        let now = Utc::now();
        let row = share_link::Model {
            id: Uuid::now_v7(),
            user_id: user,
            image_id,
            token_hash: hash,
            created_at: now,
            expires_at: expires_in_days.map(|d| now + chrono::Duration::days(i64::from(d))),
            revoked_at: None,
        };
        share_link::Entity::insert(share_link::ActiveModel::from(row.clone()))
            .exec_without_returning(&self.db)
            .await
            .unexpected("creating a share link")?;
        Ok((row.into(), token))
    }

    /// The links of `user`, newest first; only those to `image_id` if given.
    pub async fn list(
        &self,
        user: Uuid,
        image_id: Option<Uuid>,
    ) -> Result<Vec<ShareLinkView>, Unexpected> {
        let mut q = share_link::Entity::find().filter(share_link::Column::UserId.eq(user));
        if let Some(image_id) = image_id {
            q = q.filter(share_link::Column::ImageId.eq(image_id));
        }
        Ok(q.order_by_desc(share_link::Column::CreatedAt)
            .all(&self.db)
            .await
            .unexpected("listing share links")?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Revokes a link of `user`; `false` if there is no such link of theirs.
    pub async fn revoke(&self, user: Uuid, link: Uuid) -> Result<bool, Unexpected> {
        let res = share_link::Entity::update_many()
            .col_expr(share_link::Column::RevokedAt, Expr::value(Utc::now()))
            .filter(share_link::Column::Id.eq(link))
            .filter(share_link::Column::UserId.eq(user))
            .filter(share_link::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .unexpected("revoking a share link")?;
        Ok(res.rows_affected == 1)
    }

    /// The image behind `token` if the link is open at `now` and the image
    /// still downloadable; otherwise `None` (one answer for every reason).
    pub async fn resolve(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SharedImage>, Unexpected> {
        if token.len() != 22
            || !token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Ok(None);
        }
        let Some(link) = share_link::Entity::find()
            .filter(share_link::Column::TokenHash.eq(token::hash(token)))
            .one(&self.db)
            .await
            .unexpected("reading a share link")?
        else {
            return Ok(None);
        };
        if !ShareLinkView::from(link.clone()).is_active(now) {
            return Ok(None);
        }
        let Some(img) = image::Entity::find_by_id(link.image_id)
            .filter(image::Column::UserId.eq(link.user_id))
            .filter(image::Column::PurgedAt.is_null())
            .one(&self.db)
            .await
            .unexpected("reading a shared image")?
        else {
            return Ok(None);
        };
        let Some(gen) = generation::Entity::find_by_id(img.generation_id)
            .one(&self.db)
            .await
            .unexpected("reading a shared image's generation")?
        else {
            return Ok(None);
        };
        Ok(Some(SharedImage {
            image: img,
            prompt: gen.prompt,
            model_id: gen.model_id,
        }))
    }
}
