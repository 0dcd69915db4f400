//! One-click unsubscribe (MAIL-2, RFC 8058): every mail a person may turn
//! off carries a link `/unsubscribe/<token>` that works without signing in,
//! and the same link in a `List-Unsubscribe` header (with a mailto to the
//! operator) beside `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
//!
//! The token names one person and one [`Category`] and is signed with an
//! HMAC-SHA256 under a key derived from the application key
//! (`AppKey::derive("mail unsubscribe v1")`), checked in constant time: it
//! cannot be forged, and a token for one category or person unsubscribes
//! nothing else. It does not expire: a link in an old mail keeps working,
//! and all it can do is turn a mail off.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use sha2::Sha256;
use uuid::Uuid;

use super::MailContext;
use crate::entities::user;
use crate::support::crypto::AppKey;
use crate::support::error::{ResultExt, Unexpected};

/// The mails a person may turn off. Transactional mail (confirmations,
/// resets, receipts, security notices, exports, deletion) and policy
/// changes are not among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// A generation ended while no browser of the person watched it.
    GenerationDone,
    /// Images will stop being downloadable soon.
    ExpiryReminders,
    /// The operator's service updates.
    ServiceUpdates,
    /// Product news and offers (with consent only).
    Marketing,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::GenerationDone,
        Category::ExpiryReminders,
        Category::ServiceUpdates,
        Category::Marketing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::GenerationDone => "generation_done",
            Category::ExpiryReminders => "expiry_reminders",
            Category::ServiceUpdates => "service_updates",
            Category::Marketing => "marketing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// What the mails are, for pages ("mails when a generation ends …").
    pub fn label(self) -> &'static str {
        match self {
            Category::GenerationDone => "mails when a generation finishes while you are away",
            Category::ExpiryReminders => "expiry reminders",
            Category::ServiceUpdates => "service updates",
            Category::Marketing => "product news and offers",
        }
    }
}

/// Signs and checks unsubscribe tokens.
#[derive(Clone)]
pub struct Unsubscribe {
    key: [u8; 32],
}

impl std::fmt::Debug for Unsubscribe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unsubscribe(..)")
    }
}

/// The path of the unsubscribe page and its one-click POST.
pub const PATH_PREFIX: &str = "/unsubscribe/";

impl Unsubscribe {
    pub fn new(key: &AppKey) -> Self {
        Self {
            key: key.derive("mail unsubscribe v1"),
        }
    }

    fn mac(&self, user: Uuid, category: Category) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(b"uni1 unsubscribe v1\0");
        mac.update(user.as_bytes());
        mac.update(category.as_str().as_bytes());
        mac
    }

    /// `<user id>.<category>.<signature>`, URL-safe.
    pub fn token(&self, user: Uuid, category: Category) -> String {
        let sig = self.mac(user, category).finalize().into_bytes();
        format!(
            "{}.{}.{}",
            user.simple(),
            category.as_str(),
            URL_SAFE_NO_PAD.encode(sig)
        )
    }

    /// The person and category of a genuine token; `None` for anything
    /// else. The signature is compared in constant time.
    pub fn verify(&self, token: &str) -> Option<(Uuid, Category)> {
        let mut parts = token.splitn(3, '.');
        let (Some(user), Some(category), Some(sig)) = (parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let user = Uuid::try_parse(user).ok()?;
        let category = Category::parse(category)?;
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        self.mac(user, category)
            .verify_slice(&sig)
            .ok()
            .map(|()| (user, category))
    }

    /// The absolute link of `user`'s unsubscribe page for `category`.
    pub fn link(&self, ctx: &MailContext, user: Uuid, category: Category) -> String {
        ctx.link(&format!("{PATH_PREFIX}{}", self.token(user, category)))
    }

    /// The `List-Unsubscribe` value: the link, then a mailto to the
    /// operator naming the token (for mail programs without HTTP).
    pub fn header(&self, ctx: &MailContext, user: Uuid, category: Category) -> String {
        format!(
            "<{}>, <mailto:{}?subject=unsubscribe%20{}>",
            self.link(ctx, user, category),
            ctx.operator_email,
            self.token(user, category)
        )
    }
}

/// Turns `category` off for `user`; `false` when the account is gone.
/// Withdrawing marketing consent clears its time and source.
pub async fn apply(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    category: Category,
) -> Result<bool, Unexpected> {
    let update = user::Entity::update_many().filter(user::Column::Id.eq(user_id));
    let update = match category {
        Category::GenerationDone => {
            update.col_expr(user::Column::NotifyGenerationDone, Expr::value(false))
        }
        Category::ExpiryReminders => {
            update.col_expr(user::Column::ExpiryReminders, Expr::value(false))
        }
        Category::ServiceUpdates => {
            update.col_expr(user::Column::ServiceUpdates, Expr::value(false))
        }
        Category::Marketing => update
            .col_expr(
                user::Column::MarketingConsentAt,
                Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
            )
            .col_expr(
                user::Column::MarketingConsentSource,
                Expr::value(Option::<String>::None),
            ),
    };
    Ok(update
        .exec(db)
        .await
        .unexpected("unsubscribing")?
        .rows_affected
        == 1)
}

/// Whether `user` still gets `category` (`None`: no such account).
pub async fn subscribed(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    category: Category,
) -> Result<Option<bool>, Unexpected> {
    let Some(u) = user::Entity::find_by_id(user_id)
        .one(db)
        .await
        .unexpected("reading mail preferences")?
    else {
        return Ok(None);
    };
    Ok(Some(match category {
        Category::GenerationDone => u.notify_generation_done,
        Category::ExpiryReminders => u.expiry_reminders,
        Category::ServiceUpdates => u.service_updates,
        Category::Marketing => u.marketing_consent_at.is_some(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> AppKey {
        AppKey::from_bytes([byte; 32])
    }

    #[test]
    fn tokens_verify_only_for_their_person_and_category() {
        let u = Unsubscribe::new(&key(1));
        let alice = Uuid::now_v7();
        let bob = Uuid::now_v7();
        let token = u.token(alice, Category::Marketing);
        assert_eq!(u.verify(&token), Some((alice, Category::Marketing)));
        // Another category or person with the same signature: refused.
        let sig = token.rsplit('.').next().unwrap_or_default();
        assert_eq!(
            u.verify(&format!("{}.service_updates.{sig}", alice.simple())),
            None
        );
        assert_eq!(u.verify(&format!("{}.marketing.{sig}", bob.simple())), None);
        // Another key, a cut or altered signature, garbage: refused.
        assert_eq!(Unsubscribe::new(&key(2)).verify(&token), None);
        assert_eq!(u.verify(&token[..token.len() - 1]), None);
        assert_eq!(u.verify(&format!("{token}A")), None);
        assert_eq!(u.verify(""), None);
        assert_eq!(u.verify("a.b.c"), None);
    }

    #[test]
    fn the_header_has_the_link_and_a_mailto() {
        let ctx = MailContext {
            base_url: "https://uni1.example".into(),
            operator_name: "Op".into(),
            operator_email: "op@uni1.example".into(),
        };
        let u = Unsubscribe::new(&key(1));
        let h = u.header(&ctx, Uuid::nil(), Category::ServiceUpdates);
        assert!(h.starts_with("<https://uni1.example/unsubscribe/"), "{h}");
        assert!(
            h.contains(">, <mailto:op@uni1.example?subject=unsubscribe%20"),
            "{h}"
        );
    }
}
