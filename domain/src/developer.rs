//! The developer API (issue 17): the person's API keys ([`keys`]), the
//! `Idempotency-Key` record of API requests ([`idempotency`]) and signed,
//! expiring URLs of generated images ([`media`]); Replicate-style
//! predictions are generation jobs read back through [`predictions`]. The wire protocols
//! (OpenAI Images) live in the server; generation itself goes through the
//! same [`crate::generation::Generations`] service as the studio.

pub mod idempotency;
pub mod keys;
pub mod media;
pub mod predictions;

pub use keys::{
    ApiKeyError, ApiKeyView, ApiKeys, AuthError, CreatedKey, KeyBudget, KeyRate, NewKey, Principal,
    RevokeAllReason, Scope,
};
pub use media::MediaSigner;
