//! An outbound webhook endpoint a person registered (Standard Webhooks):
//! where to send, which events, and the signing secret sealed with the
//! application key (bound to the endpoint's id).

use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub url: String,
    /// Event types, comma-separated (`generation.succeeded,...`).
    pub events: String,
    /// `whsec_…` sealed by `AppKey::seal` with the endpoint's id as
    /// associated data.
    pub secret_sealed: String,
    pub created_at: DateTimeUtc,
    pub disabled_at: Option<DateTimeUtc>,
    /// `by_owner`, or `gone` (the receiver answered 410).
    pub disabled_reason: Option<String>,
    /// [`KIND_ENDPOINT`], or [`KIND_PREDICTIONS`]: the person's one signer
    /// of per-prediction webhooks (its secret is the default signing
    /// secret; never listed, counted or subscribed to events).
    pub kind: String,
}

/// An endpoint registered under Settings -> Webhooks.
pub const KIND_ENDPOINT: &str = "endpoint";
/// The signer of a person's per-prediction webhooks.
pub const KIND_PREDICTIONS: &str = "predictions";

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("webhook_endpoint::Model")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("events", &self.events)
            .field("kind", &self.kind)
            .field("disabled_at", &self.disabled_at)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
