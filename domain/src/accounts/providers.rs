//! Signing in with Google or GitHub, linking and unlinking them.
//!
//! An outside identity is keyed by (provider, subject). Its first use:
//! - from a signed-in person who asked to link it: linked to them;
//! - with an address the provider says is verified and that belongs to an
//!   unconfirmed account: the provider just proved the address, so the
//!   account is reclaimed for its owner (see `accounts::reclaim`), linked
//!   and signed in;
//! - with a verified address that belongs to a confirmed account: refused,
//!   never linked silently (providers keep stale "verified" addresses, and
//!   a configurable OpenID issuer may let people choose theirs): the owner
//!   signs in to that account first and links the provider from settings;
//! - with a verified address that has no account: a pending sign-up, which
//!   becomes an account once the person attests they are 18 or older and
//!   accepts the terms;
//! - otherwise refused: sign in with your password, then link from settings.
//!
//! The HTTP dance (state, PKCE, nonce, token exchange) lives in the server;
//! this module keeps its state and decides what a verified profile means.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{email_key, token, AccountError, Accounts, ClientInfo, CurrentUser, NewSession, Role};
use crate::entities::{oauth_state, pending_signup, user, user_identity};
use crate::support::audit::{self, truncate, Action};
use crate::support::email::EmailAddress;
use crate::support::error::ResultExt;

const FLOW_VALID: chrono::Duration = chrono::Duration::minutes(10);
const PENDING_VALID: chrono::Duration = chrono::Duration::minutes(30);

/// An outside sign-in provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Google,
    GitHub,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Google => "google",
            Provider::GitHub => "github",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "google" => Some(Provider::Google),
            "github" => Some(Provider::GitHub),
            _ => None,
        }
    }

    /// The name people know it by.
    pub fn label(self) -> &'static str {
        match self {
            Provider::Google => "Google",
            Provider::GitHub => "GitHub",
        }
    }
}

/// What the provider told us about the person, after its signatures and
/// tokens were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderProfile {
    pub provider: Provider,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub picture: Option<String>,
}

/// A flow in progress, as the callback needs it.
#[derive(Debug, Clone)]
pub struct ProviderFlow {
    pub pkce_verifier: String,
    pub nonce: String,
    pub next_path: String,
    pub link_user_id: Option<Uuid>,
}

/// How a provider sign-in ended.
#[derive(Debug)]
pub enum ProviderOutcome {
    SignedIn(NewSession),
    /// Two-factor is on: the challenge token for the second step.
    SecondFactor(String),
    Linked,
    /// A new person: send them to finish signing up with this token.
    NeedsSignUp(String),
}

/// A pending sign-up, as the "finish creating your account" page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSignUp {
    pub provider: Provider,
    pub email: String,
    pub display_name: String,
}

/// A linked provider, for the settings page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedProvider {
    pub provider: Provider,
    pub email: Option<String>,
    pub linked_at: chrono::DateTime<Utc>,
}

impl Accounts {
    /// Stores a new flow and returns the `state` value to send.
    pub async fn begin_provider_flow(
        &self,
        provider: Provider,
        flow: ProviderFlow,
    ) -> Result<String, AccountError> {
        let (state, hash) = token::generate();
        let now = Utc::now();
        // Flows nobody finished are useless after they expire.
        oauth_state::Entity::delete_many()
            .filter(oauth_state::Column::ExpiresAt.lt(now))
            .exec(&self.db)
            .await
            .unexpected("clearing expired sign-in flows")?;
        oauth_state::ActiveModel {
            id: Set(Uuid::now_v7()),
            state_hash: Set(hash),
            provider: Set(provider.as_str().to_owned()),
            pkce_verifier: Set(flow.pkce_verifier),
            nonce: Set(flow.nonce),
            next_path: Set(truncate(&flow.next_path, 512)),
            link_user_id: Set(flow.link_user_id),
            created_at: Set(now),
            expires_at: Set(now + FLOW_VALID),
        }
        .insert(&self.db)
        .await
        .unexpected("storing a sign-in flow")?;
        Ok(state)
    }

    /// Takes (and deletes) the flow for `state`: it can be used once.
    pub async fn take_provider_flow(
        &self,
        provider: Provider,
        state: &str,
    ) -> Result<ProviderFlow, AccountError> {
        let hash = token::hash(state);
        let txn = crate::support::tx::begin(&self.db).await?;
        let found = oauth_state::Entity::find()
            .filter(oauth_state::Column::StateHash.eq(&hash))
            .one(&txn)
            .await
            .unexpected("reading a sign-in flow")?
            .ok_or(AccountError::LinkInvalid)?;
        let deleted = oauth_state::Entity::delete_by_id(found.id)
            .exec(&txn)
            .await
            .unexpected("using a sign-in flow")?;
        txn.commit().await.unexpected("committing a sign-in flow")?;
        if deleted.rows_affected != 1
            || found.provider != provider.as_str()
            || found.expires_at <= Utc::now()
        {
            return Err(AccountError::LinkInvalid);
        }
        Ok(ProviderFlow {
            pkce_verifier: found.pkce_verifier,
            nonce: found.nonce,
            next_path: found.next_path,
            link_user_id: found.link_user_id,
        })
    }

    /// Decides what a checked profile means (see the module docs).
    pub async fn sign_in_with_provider(
        &self,
        profile: ProviderProfile,
        link_user_id: Option<Uuid>,
        next_path: &str,
        client: &ClientInfo,
    ) -> Result<ProviderOutcome, AccountError> {
        let provider = profile.provider;
        let known = user_identity::Entity::find()
            .filter(user_identity::Column::Provider.eq(provider.as_str()))
            .filter(user_identity::Column::Subject.eq(&profile.subject))
            .one(&self.db)
            .await
            .unexpected("looking up a linked identity")?;
        let txn = crate::support::tx::begin(&self.db).await?;
        if let Some(identity) = known {
            if link_user_id.is_some_and(|id| id != identity.user_id) {
                return Err(AccountError::ProviderLinkedElsewhere(provider));
            }
            user_identity::Entity::update_many()
                .col_expr(user_identity::Column::LastUsedAt, Expr::value(Utc::now()))
                .filter(user_identity::Column::Id.eq(identity.id))
                .exec(&txn)
                .await
                .unexpected("touching an identity")?;
            if link_user_id.is_some() {
                txn.commit().await.unexpected("committing")?;
                return Ok(ProviderOutcome::Linked);
            }
            let outcome = self
                .after_first_factor(&txn, identity.user_id, provider.as_str(), next_path, client)
                .await?;
            txn.commit().await.unexpected("committing a sign-in")?;
            return Ok(outcome.into());
        }

        if let Some(user_id) = link_user_id {
            link(&txn, user_id, &profile).await?;
            audit::record(
                &txn,
                Some(user_id),
                Action::ProviderLinked,
                client,
                provider.as_str(),
            )
            .await?;
            txn.commit().await.unexpected("committing a link")?;
            return Ok(ProviderOutcome::Linked);
        }

        let verified_email = profile
            .email
            .as_deref()
            .filter(|_| profile.email_verified)
            .and_then(|e| EmailAddress::parse(e).ok());
        let Some(email) = verified_email else {
            return Err(AccountError::ProviderEmailUnverified(provider));
        };
        let existing = user::Entity::find()
            .filter(user::Column::EmailKey.eq(email_key(email.as_str())))
            .one(&txn)
            .await
            .unexpected("looking up an account")?;
        if let Some(existing) = existing {
            if existing.email_confirmed_at.is_some() {
                // Only the account's owner may add a way into it.
                return Err(AccountError::ProviderAddressHasAccount(provider));
            }
            // The provider just proved the address: whoever set up this
            // unconfirmed account may not be its owner (pre-hijacking).
            super::reclaim::reclaim_unconfirmed(&txn, existing.id, false, None).await?;
            link(&txn, existing.id, &profile).await?;
            audit::record(
                &txn,
                Some(existing.id),
                Action::ProviderLinked,
                client,
                provider.as_str(),
            )
            .await?;
            let outcome = self
                .after_first_factor(&txn, existing.id, provider.as_str(), next_path, client)
                .await?;
            txn.commit().await.unexpected("committing a sign-in")?;
            return Ok(outcome.into());
        }

        let (secret, hash) = token::generate();
        let now = Utc::now();
        let name = profile
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| email.as_str().split('@').next().unwrap_or("uni1 user"));
        pending_signup::ActiveModel {
            id: Set(Uuid::now_v7()),
            token_hash: Set(hash),
            provider: Set(provider.as_str().to_owned()),
            subject: Set(profile.subject.clone()),
            email: Set(email.as_str().to_owned()),
            display_name: Set(truncate(name, 100)),
            avatar_url: Set(profile.picture.clone()),
            created_at: Set(now),
            expires_at: Set(now + PENDING_VALID),
            used_at: Set(None),
        }
        .insert(&txn)
        .await
        .unexpected("storing a pending sign-up")?;
        txn.commit()
            .await
            .unexpected("committing a pending sign-up")?;
        Ok(ProviderOutcome::NeedsSignUp(secret))
    }

    /// The pending sign-up for `token`, if it is still valid.
    pub async fn pending_sign_up(&self, secret: &str) -> Result<PendingSignUp, AccountError> {
        let row = self.live_pending(secret).await?;
        Ok(PendingSignUp {
            provider: Provider::parse(&row.provider).ok_or(AccountError::LinkInvalid)?,
            email: row.email,
            display_name: row.display_name,
        })
    }

    async fn live_pending(&self, secret: &str) -> Result<pending_signup::Model, AccountError> {
        pending_signup::Entity::find()
            .filter(pending_signup::Column::TokenHash.eq(token::hash(secret.trim())))
            .filter(pending_signup::Column::UsedAt.is_null())
            .filter(pending_signup::Column::ExpiresAt.gt(Utc::now()))
            .one(&self.db)
            .await
            .unexpected("reading a pending sign-up")?
            .ok_or(AccountError::LinkInvalid)
    }

    /// Creates the account for a pending provider sign-up and signs in.
    pub async fn complete_provider_sign_up(
        &self,
        secret: &str,
        adult: bool,
        accepts_terms: bool,
        client: &ClientInfo,
    ) -> Result<NewSession, AccountError> {
        super::signup::require_attestation(adult, accepts_terms)?;
        let pending = self.live_pending(secret).await?;
        let provider = Provider::parse(&pending.provider).ok_or(AccountError::LinkInvalid)?;
        let now = Utc::now();
        let txn = crate::support::tx::begin(&self.db).await?;
        let used = pending_signup::Entity::update_many()
            .col_expr(pending_signup::Column::UsedAt, Expr::value(now))
            .filter(pending_signup::Column::Id.eq(pending.id))
            .filter(pending_signup::Column::UsedAt.is_null())
            .exec(&txn)
            .await
            .unexpected("using a pending sign-up")?;
        if used.rows_affected != 1 {
            return Err(AccountError::LinkInvalid);
        }
        let taken = user::Entity::find()
            .filter(user::Column::EmailKey.eq(email_key(&pending.email)))
            .count(&txn)
            .await
            .unexpected("checking an address")?;
        if taken > 0 {
            return Err(AccountError::invalid(
                "provider",
                "An account with this address was created meanwhile. Sign in instead.",
            ));
        }
        let id = Uuid::now_v7();
        super::signup::NewAccount {
            email: &pending.email,
            display_name: &pending.display_name,
            password_hash: None,
            confirmed: true,
            role: Role::User,
            avatar_url: pending.avatar_url.clone(),
        }
        .row(id, now)
        .insert(&txn)
        .await
        .unexpected("creating an account")?;
        let profile = ProviderProfile {
            provider,
            subject: pending.subject,
            email: Some(pending.email),
            email_verified: true,
            name: None,
            picture: None,
        };
        link(&txn, id, &profile).await?;
        let session = self.start_session(&txn, id, client).await?;
        audit::record(&txn, Some(id), Action::SignUp, client, provider.as_str()).await?;
        audit::record(&txn, Some(id), Action::SignIn, client, provider.as_str()).await?;
        txn.commit().await.unexpected("committing a sign-up")?;
        Ok(session)
    }

    /// The providers linked to the person's account.
    pub async fn linked_providers(
        &self,
        who: &CurrentUser,
    ) -> Result<Vec<LinkedProvider>, AccountError> {
        let rows = user_identity::Entity::find()
            .filter(user_identity::Column::UserId.eq(who.id))
            .order_by_asc(user_identity::Column::CreatedAt)
            .all(&self.db)
            .await
            .unexpected("listing linked providers")?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(LinkedProvider {
                    provider: Provider::parse(&r.provider)?,
                    email: r.email,
                    linked_at: r.created_at,
                })
            })
            .collect())
    }

    /// Whether the person has a password.
    pub async fn has_password(&self, who: &CurrentUser) -> Result<bool, AccountError> {
        Ok(user::Entity::find_by_id(who.id)
            .one(&self.db)
            .await
            .unexpected("reading an account")?
            .is_some_and(|u| u.password_hash.is_some()))
    }

    /// Unlinks `provider`, unless it is the last way to sign in. Needs a
    /// recent sign-in, the password or a two-factor code (see
    /// `accounts::reauth`), and signs out the other sessions.
    pub async fn unlink_provider(
        &self,
        who: &CurrentUser,
        provider: Provider,
        password_given: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        let linked = self.linked_providers(who).await?;
        if !linked.iter().any(|l| l.provider == provider) {
            return Err(AccountError::NotFound);
        }
        let remaining = linked.iter().filter(|l| l.provider != provider).count();
        if remaining == 0 && !self.has_password(who).await? {
            return Err(AccountError::LastSignInMethod(provider));
        }
        self.require_recent_auth(who, password_given, code, client)
            .await?;
        let txn = crate::support::tx::begin(&self.db).await?;
        user_identity::Entity::delete_many()
            .filter(user_identity::Column::UserId.eq(who.id))
            .filter(user_identity::Column::Provider.eq(provider.as_str()))
            .exec(&txn)
            .await
            .unexpected("unlinking a provider")?;
        super::sessions::end_sessions_on(
            &txn,
            crate::entities::session::Column::UserId
                .eq(who.id)
                .and(crate::entities::session::Column::Id.ne(who.session_id)),
            "provider_unlinked",
        )
        .await?;
        audit::record(
            &txn,
            Some(who.id),
            Action::ProviderUnlinked,
            client,
            provider.as_str(),
        )
        .await?;
        txn.commit().await.unexpected("committing an unlink")?;
        Ok(())
    }
}

async fn link(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    profile: &ProviderProfile,
) -> Result<(), AccountError> {
    let now = Utc::now();
    user_identity::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        provider: Set(profile.provider.as_str().to_owned()),
        subject: Set(truncate(&profile.subject, 255)),
        email: Set(profile.email.as_deref().map(|e| truncate(e, 254))),
        created_at: Set(now),
        last_used_at: Set(now),
    }
    .insert(conn)
    .await
    .unexpected("linking an identity")?;
    Ok(())
}

impl From<super::two_factor::SignInOutcome> for ProviderOutcome {
    fn from(outcome: super::two_factor::SignInOutcome) -> Self {
        match outcome {
            super::two_factor::SignInOutcome::Session(s) => ProviderOutcome::SignedIn(s),
            super::two_factor::SignInOutcome::SecondFactor(t) => ProviderOutcome::SecondFactor(t),
        }
    }
}
