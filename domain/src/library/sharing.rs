//! Share links (STO-3, SHR-1): the owner of an image or a collection makes
//! a link with an unguessable 128-bit token and an optional expiry; anyone
//! holding it can see that image (or the collection's images) until it
//! expires or the owner revokes it. Only the token's SHA-256 is stored, so a
//! copy of the database does not open links. An image whose download window
//! ended, or that moderation hid (a takedown), shows nothing.
//!
//! Link-preview crawlers get the image through a [`LinkSigner`] URL: signed,
//! expiring, and checked against the link on every fetch, so revoking the
//! link also stops its preview image.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use sha2::Sha256;
use uuid::Uuid;

use crate::accounts::token;
use crate::entities::{collection, collection_image, generation, image, share_link};
use crate::support::error::{ResultExt, Unexpected};

/// Longest expiry a link may be given, in days.
pub const MAX_EXPIRY_DAYS: u32 = 365;

/// Open (not revoked, not expired) links one person may have.
pub const MAX_OPEN_LINKS: u64 = 1000;

/// What a link shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareTarget {
    Image(Uuid),
    Collection(Uuid),
}

/// Share links of one installation.
#[derive(Clone, Debug)]
pub struct Sharing {
    db: DatabaseConnection,
}

impl Sharing {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

/// A link as its owner sees it (never the token after creation).
#[derive(Debug, Clone, PartialEq)]
pub struct ShareLinkView {
    pub id: Uuid,
    pub target: ShareTarget,
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

fn target_of(m: &share_link::Model) -> Option<ShareTarget> {
    match (m.image_id, m.collection_id) {
        (Some(i), None) => Some(ShareTarget::Image(i)),
        (None, Some(c)) => Some(ShareTarget::Collection(c)),
        _ => None,
    }
}

fn view(m: share_link::Model) -> Option<ShareLinkView> {
    Some(ShareLinkView {
        id: m.id,
        target: target_of(&m)?,
        created_at: m.created_at,
        expires_at: m.expires_at,
        revoked_at: m.revoked_at,
    })
}

/// One shared image.
#[derive(Debug, Clone)]
pub struct SharedImage {
    pub image: image::Model,
    pub prompt: String,
    pub model_id: String,
    /// In the public gallery, so its share page may be indexed.
    pub published: bool,
}

/// What an open link shows.
// One value per request, never stored in bulk: boxing the image would only
// add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Shared {
    Image {
        link_id: Uuid,
        link_expires: Option<DateTime<Utc>>,
        image: SharedImage,
    },
    /// The page lists the images with
    /// [`crate::library::gallery::Gallery::page`] for `owner` and this collection.
    Collection {
        link_id: Uuid,
        link_expires: Option<DateTime<Utc>>,
        owner: Uuid,
        collection: collection::Model,
    },
}

/// The preview image of a share page (OpenGraph), as a signed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// Path and query of the signed, expiring preview URL (`/og/…`).
    pub path: String,
    pub width: i32,
    pub height: i32,
}

/// What a share page shows.
#[derive(Debug, Clone)]
pub enum SharedContent {
    Image(Box<SharedImage>),
    /// One page of the collection's images still downloadable and not
    /// hidden (expired images stay in the collection but are not shown).
    Collection {
        items: Vec<crate::library::gallery::GalleryItem>,
        next_cursor: Option<crate::library::gallery::Cursor>,
    },
}

/// A share page: its title, whether search engines may index it, its
/// preview, and what it shows.
#[derive(Debug, Clone)]
pub struct SharedView {
    pub title: String,
    /// Only a published image's page may be indexed.
    pub indexable: bool,
    pub preview: Option<Preview>,
    pub content: SharedContent,
}

/// The preview size of a `w` x `h` image.
fn preview_size(w: i32, h: i32) -> (i32, i32) {
    let side = |v: i32| u32::try_from(v).unwrap_or(0);
    let (pw, ph) = uni1_imaging::preview_size(side(w), side(h));
    (
        i32::try_from(pw).unwrap_or(i32::MAX),
        i32::try_from(ph).unwrap_or(i32::MAX),
    )
}

impl Sharing {
    /// What the link `token` shows, or `None` for a wrong, revoked or
    /// expired link (all alike). For a collection, `cursor` pages through
    /// its images, `page_size` at a time.
    pub async fn view(
        &self,
        gallery: &crate::library::gallery::Gallery,
        signer: &LinkSigner,
        token: &str,
        cursor: Option<crate::library::gallery::Cursor>,
        page_size: u64,
        now: DateTime<Utc>,
    ) -> Result<Option<SharedView>, Unexpected> {
        let Some(shared) = self.resolve(token, now).await? else {
            return Ok(None);
        };
        let preview = |image: Uuid, width: i32, height: i32| {
            let (width, height) = preview_size(width, height);
            Preview {
                path: signer.preview_path(shared.link_id(), image, shared.link_expires(), now),
                width,
                height,
            }
        };
        let view = match &shared {
            Shared::Image { image, .. } => SharedView {
                title: image.prompt.clone(),
                indexable: image.published,
                preview: Some(preview(
                    image.image.id,
                    image.image.width,
                    image.image.height,
                )),
                content: SharedContent::Image(Box::new(image.clone())),
            },
            Shared::Collection {
                owner, collection, ..
            } => {
                let query = crate::library::gallery::GalleryQuery {
                    collection_id: Some(collection.id),
                    downloadable_only: true,
                    without_hidden: true,
                    ..Default::default()
                };
                let page = gallery.page(*owner, &query, cursor, page_size).await?;
                SharedView {
                    title: collection.name.clone(),
                    indexable: false,
                    preview: page.items.first().map(|i| preview(i.id, i.width, i.height)),
                    content: SharedContent::Collection {
                        items: page.items,
                        next_cursor: page.next_cursor,
                    },
                }
            }
        };
        Ok(Some(view))
    }
}

impl Shared {
    pub fn link_id(&self) -> Uuid {
        match self {
            Self::Image { link_id, .. } | Self::Collection { link_id, .. } => *link_id,
        }
    }

    pub fn link_expires(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::Image { link_expires, .. } | Self::Collection { link_expires, .. } => {
                *link_expires
            }
        }
    }
}

/// Why a link was not made.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error("The expiry must be 1 to {MAX_EXPIRY_DAYS} days, or none.")]
    BadExpiry,
    #[error("There is no such image or collection.")]
    NotFound,
    #[error("You have {limit} share links open. Turn some off in Settings, Share links, first.")]
    TooMany { limit: u64 },
    #[error(transparent)]
    NotNow(#[from] crate::privacy::NotNow),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// Whether `token` has the shape of one we issue (22 URL-safe base64
/// characters), so garbage never reaches the database.
fn well_formed(token: &str) -> bool {
    token.len() == 22
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Sharing {
    /// A new link to an image or collection of `user`; returns the link and
    /// its token (shown once). Someone else's, or an expired image, is
    /// `NotFound`.
    pub async fn create(
        &self,
        user: Uuid,
        target: ShareTarget,
        expires_in_days: Option<u32>,
    ) -> Result<(ShareLinkView, String), ShareError> {
        if expires_in_days.is_some_and(|d| d == 0 || d > MAX_EXPIRY_DAYS) {
            return Err(ShareError::BadExpiry);
        }
        crate::privacy::ensure_may_process(&self.db, user).await??;
        let owned = match target {
            ShareTarget::Image(id) => image::Entity::find_by_id(id)
                .filter(image::Column::UserId.eq(user))
                .filter(image::Column::PurgedAt.is_null())
                .one(&self.db)
                .await
                .unexpected("reading an image")?
                .is_some(),
            ShareTarget::Collection(id) => collection::Entity::find_by_id(id)
                .filter(collection::Column::UserId.eq(user))
                .one(&self.db)
                .await
                .unexpected("reading a collection")?
                .is_some(),
        };
        if !owned {
            return Err(ShareError::NotFound);
        }
        let now = Utc::now();
        let open = share_link::Entity::find()
            .filter(share_link::Column::UserId.eq(user))
            .filter(share_link::Column::RevokedAt.is_null())
            .filter(
                Condition::any()
                    .add(share_link::Column::ExpiresAt.is_null())
                    .add(share_link::Column::ExpiresAt.gt(now)),
            )
            .count(&self.db)
            .await
            .unexpected("counting share links")?;
        if open >= MAX_OPEN_LINKS {
            return Err(ShareError::TooMany {
                limit: MAX_OPEN_LINKS,
            });
        }
        let (token, hash) = token::generate();
        let (image_id, collection_id) = match target {
            ShareTarget::Image(i) => (Some(i), None),
            ShareTarget::Collection(c) => (None, Some(c)),
        };
        let row = share_link::Model {
            id: Uuid::now_v7(),
            user_id: user,
            image_id,
            collection_id,
            token_hash: hash,
            created_at: now,
            expires_at: expires_in_days.map(|d| now + chrono::Duration::days(i64::from(d))),
            revoked_at: None,
        };
        share_link::Entity::insert(share_link::ActiveModel::from(row.clone()))
            .exec_without_returning(&self.db)
            .await
            .unexpected("creating a share link")?;
        let view = ShareLinkView {
            id: row.id,
            target,
            created_at: row.created_at,
            expires_at: row.expires_at,
            revoked_at: None,
        };
        Ok((view, token))
    }

    /// The links of `user`, newest first; only those to `target` if given.
    pub async fn list(
        &self,
        user: Uuid,
        target: Option<ShareTarget>,
    ) -> Result<Vec<ShareLinkView>, Unexpected> {
        let mut q = share_link::Entity::find().filter(share_link::Column::UserId.eq(user));
        match target {
            Some(ShareTarget::Image(id)) => q = q.filter(share_link::Column::ImageId.eq(id)),
            Some(ShareTarget::Collection(id)) => {
                q = q.filter(share_link::Column::CollectionId.eq(id))
            }
            None => {}
        }
        Ok(q.order_by_desc(share_link::Column::CreatedAt)
            .all(&self.db)
            .await
            .unexpected("listing share links")?
            .into_iter()
            .filter_map(view)
            .collect())
    }

    /// Revokes a link of `user`; `false` if there is no such link of theirs.
    pub async fn revoke(&self, user: Uuid, link: Uuid) -> Result<bool, Unexpected> {
        let which = Condition::all().add(share_link::Column::Id.eq(link));
        Ok(revoke_where(&self.db, user, which, Utc::now()).await? == 1)
    }

    /// The open link with this id or token hash, or `None`.
    async fn open_link(
        &self,
        by: share_link::Column,
        value: sea_orm::Value,
        now: DateTime<Utc>,
    ) -> Result<Option<(share_link::Model, ShareTarget)>, Unexpected> {
        let Some(link) = share_link::Entity::find()
            .filter(Expr::col(by).eq(value))
            .one(&self.db)
            .await
            .unexpected("reading a share link")?
        else {
            return Ok(None);
        };
        let Some(v) = view(link.clone()) else {
            return Ok(None);
        };
        Ok(v.is_active(now).then_some((link, v.target)))
    }

    /// The open link behind `token`, or `None` (malformed tokens never reach
    /// the database).
    async fn open_by_token(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(share_link::Model, ShareTarget)>, Unexpected> {
        if !well_formed(token) {
            return Ok(None);
        }
        self.open_link(
            share_link::Column::TokenHash,
            token::hash(token).into(),
            now,
        )
        .await
    }

    /// What `token` shows if the link is open at `now` and what it points at
    /// still exists (an image also still downloadable); otherwise `None`
    /// (one answer for every reason).
    pub async fn resolve(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Shared>, Unexpected> {
        let Some((link, target)) = self.open_by_token(token, now).await? else {
            return Ok(None);
        };
        self.shared(&link, target).await
    }

    async fn shared(
        &self,
        link: &share_link::Model,
        target: ShareTarget,
    ) -> Result<Option<Shared>, Unexpected> {
        match target {
            ShareTarget::Image(image_id) => {
                Ok(self
                    .image_of(link.user_id, image_id)
                    .await?
                    .map(|image| Shared::Image {
                        link_id: link.id,
                        link_expires: link.expires_at,
                        image,
                    }))
            }
            ShareTarget::Collection(id) => Ok(collection::Entity::find_by_id(id)
                .filter(collection::Column::UserId.eq(link.user_id))
                .one(&self.db)
                .await
                .unexpected("reading a shared collection")?
                .map(|collection| Shared::Collection {
                    link_id: link.id,
                    link_expires: link.expires_at,
                    owner: link.user_id,
                    collection,
                })),
        }
    }

    /// A downloadable image of `owner`, with its prompt. An image hidden by
    /// moderation is taken down: no link shows it any more (I2), though its
    /// owner still sees it, marked, in their own gallery.
    async fn image_of(
        &self,
        owner: Uuid,
        image_id: Uuid,
    ) -> Result<Option<SharedImage>, Unexpected> {
        let Some(img) = image::Entity::find_by_id(image_id)
            .filter(image::Column::UserId.eq(owner))
            .filter(image::Column::PurgedAt.is_null())
            .filter(image::Column::HiddenAt.is_null())
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
            published: img.published_at.is_some() && img.hidden_at.is_none(),
            image: img,
            prompt: gen.prompt,
            model_id: gen.model_id,
        }))
    }

    /// The image `image_id` as seen through an open link: the link's own
    /// image, or an image in the link's collection.
    async fn image_through(
        &self,
        link: &share_link::Model,
        target: ShareTarget,
        image_id: Uuid,
    ) -> Result<Option<SharedImage>, Unexpected> {
        match target {
            ShareTarget::Image(id) if id == image_id => self.image_of(link.user_id, id).await,
            ShareTarget::Image(_) => Ok(None),
            ShareTarget::Collection(c) => {
                let member = collection_image::Entity::find_by_id((c, image_id))
                    .filter(collection_image::Column::UserId.eq(link.user_id))
                    .one(&self.db)
                    .await
                    .unexpected("reading a shared collection")?
                    .is_some();
                if member {
                    self.image_of(link.user_id, image_id).await
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// `image_id` through the link `token` (its image, or one in its
    /// collection), or `None`.
    pub async fn resolve_image(
        &self,
        token: &str,
        image_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<SharedImage>, Unexpected> {
        let Some((link, target)) = self.open_by_token(token, now).await? else {
            return Ok(None);
        };
        self.image_through(&link, target, image_id).await
    }

    /// `image_id` through the link with id `link_id` (for signed preview
    /// URLs, which carry the link's id, never its token), or `None`.
    pub async fn resolve_image_by_link_id(
        &self,
        link_id: Uuid,
        image_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<SharedImage>, Unexpected> {
        let Some((link, target)) = self
            .open_link(share_link::Column::Id, link_id.into(), now)
            .await?
        else {
            return Ok(None);
        };
        self.image_through(&link, target, image_id).await
    }
}

/// Revokes the open links of `user` matching `which`; returns how many.
async fn revoke_where(
    conn: &impl ConnectionTrait,
    user: Uuid,
    which: Condition,
    now: DateTime<Utc>,
) -> Result<u64, Unexpected> {
    let res = share_link::Entity::update_many()
        .col_expr(share_link::Column::RevokedAt, Expr::value(now))
        .filter(which)
        .filter(share_link::Column::UserId.eq(user))
        .filter(share_link::Column::RevokedAt.is_null())
        .exec(conn)
        .await
        .unexpected("revoking a share link")?;
    Ok(res.rows_affected)
}

/// Moderation's take-down: revokes every open link of `owner` that shows
/// `image`: links to the image, and to each collection holding it. In the
/// caller's transaction; returns how many links were revoked.
pub async fn revoke_for_image(
    conn: &impl ConnectionTrait,
    owner: Uuid,
    image: Uuid,
    now: DateTime<Utc>,
) -> Result<u64, Unexpected> {
    let collections: Vec<Uuid> = collection_image::Entity::find()
        .select_only()
        .column(collection_image::Column::CollectionId)
        .filter(collection_image::Column::ImageId.eq(image))
        .filter(collection_image::Column::UserId.eq(owner))
        .into_tuple()
        .all(conn)
        .await
        .unexpected("finding the collections of an image")?;
    let mut which = Condition::any().add(share_link::Column::ImageId.eq(image));
    if !collections.is_empty() {
        which = which.add(share_link::Column::CollectionId.is_in(collections));
    }
    revoke_where(conn, owner, which, now).await
}

/// Signs preview-image URLs for link-preview crawlers: `exp` (unix seconds)
/// and an HMAC-SHA256 over link id, image id and `exp`. The key is derived
/// from the application key.
#[derive(Clone)]
pub struct LinkSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner(..)")
    }
}

/// How long a signed preview URL works: long enough for crawlers that fetch
/// a while after the page, short enough that a copied URL dies on its own.
pub const SIGNED_URL_DAYS: i64 = 7;

impl LinkSigner {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn mac(&self, link: Uuid, image: Uuid, exp: i64) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(b"uni1 preview v1\0");
        mac.update(link.as_bytes());
        mac.update(image.as_bytes());
        mac.update(&exp.to_be_bytes());
        mac
    }

    /// The path and query of the preview of `image` through `link`, valid
    /// until `now` + [`SIGNED_URL_DAYS`] (or the link's expiry if sooner).
    pub fn preview_path(
        &self,
        link: Uuid,
        image: Uuid,
        link_expires: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> String {
        let mut exp = now + chrono::Duration::days(SIGNED_URL_DAYS);
        if let Some(e) = link_expires {
            exp = exp.min(e);
        }
        let exp = exp.timestamp();
        let sig = self.mac(link, image, exp).finalize().into_bytes();
        let sig: String = sig.iter().map(|b| format!("{b:02x}")).collect();
        format!("/og/{link}/{image}?exp={exp}&sig={sig}")
    }

    /// Whether `sig` signs (`link`, `image`, `exp`) and `exp` is after `now`.
    pub fn verify(&self, link: Uuid, image: Uuid, exp: i64, sig: &str, now: DateTime<Utc>) -> bool {
        if exp <= now.timestamp() || sig.len() != 64 {
            return false;
        }
        let Some(bytes) = (0..32)
            .map(|i| u8::from_str_radix(sig.get(2 * i..2 * i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()
        else {
            return false;
        };
        self.mac(link, image, exp).verify_slice(&bytes).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_preview_urls_verify_only_unaltered_and_unexpired() {
        let signer = LinkSigner::new([7; 32]);
        let (link, image) = (Uuid::now_v7(), Uuid::now_v7());
        let now = Utc::now();
        let path = signer.preview_path(link, image, None, now);
        let query = path.split_once('?').unwrap().1;
        let mut exp = 0;
        let mut sig = String::new();
        for kv in query.split('&') {
            match kv.split_once('=').unwrap() {
                ("exp", v) => exp = v.parse().unwrap(),
                ("sig", v) => sig = v.into(),
                _ => unreachable!(),
            }
        }
        assert_eq!(
            exp,
            (now + chrono::Duration::days(SIGNED_URL_DAYS)).timestamp()
        );
        assert!(signer.verify(link, image, exp, &sig, now));
        // Another image, link, expiry or key; expired; malformed.
        assert!(!signer.verify(link, Uuid::now_v7(), exp, &sig, now));
        assert!(!signer.verify(Uuid::now_v7(), image, exp, &sig, now));
        assert!(!signer.verify(link, image, exp + 1, &sig, now));
        assert!(!LinkSigner::new([8; 32]).verify(link, image, exp, &sig, now));
        let later = now + chrono::Duration::days(SIGNED_URL_DAYS + 1);
        assert!(!signer.verify(link, image, exp, &sig, later));
        assert!(!signer.verify(link, image, exp, &sig[..63], now));
        assert!(!signer.verify(link, image, exp, &"zz".repeat(32), now));
        // A link that expires sooner caps the URL.
        let soon = now + chrono::Duration::hours(1);
        assert!(signer
            .preview_path(link, image, Some(soon), now)
            .contains(&format!("exp={}", soon.timestamp())));
    }
}
