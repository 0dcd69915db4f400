//! A person's account.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The address as the person typed it (domain lower-cased).
    pub email: String,
    /// `email` fully lower-cased: unique, used for look-ups.
    #[sea_orm(unique)]
    pub email_key: String,
    pub email_confirmed_at: Option<DateTimeUtc>,
    /// argon2id PHC string; `None` for accounts that sign in only through a provider.
    pub password_hash: Option<String>,
    pub display_name: String,
    pub avatar_url: Option<String>,
    /// `user`, `support` or `admin` (see `accounts::Role`).
    pub role: String,
    pub adult_attested_at: DateTimeUtc,
    pub terms_version: String,
    pub terms_accepted_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Opted in to a mail 7 days before images stop being downloadable.
    pub expiry_reminders: bool,
    /// When the last expiry reminder was queued (at most one a day).
    pub expiry_reminded_at: Option<DateTimeUtc>,
    /// Since when the person objects to their data being used to improve
    /// the service (PRV-4): left out of analytics and improvement datasets.
    pub objected_at: Option<DateTimeUtc>,
    /// Since when processing is restricted (PRV-4): the account is
    /// read-only (no new generations, sharing, publishing or purchases).
    pub restricted_at: Option<DateTimeUtc>,
    /// When the person opted in to training on their images (PRV-5), and
    /// under which privacy policy version; `None`: not opted in.
    pub training_consent_at: Option<DateTimeUtc>,
    pub training_consent_version: Option<String>,
    /// The account is deleted at this time unless the person cancels
    /// (PRV-3); until then it cannot generate, share or buy.
    pub deletion_due_at: Option<DateTimeUtc>,
    /// The privacy policy version the person accepted at sign-up or whose
    /// change notice they dismissed (POL-1).
    pub policy_seen_version: Option<String>,
    /// Opted in to a mail when a generation ends while no browser of the
    /// person follows it (MAIL-1).
    pub notify_generation_done: bool,
    /// Service updates from the operator (on unless unsubscribed; MAIL-3).
    pub service_updates: bool,
    /// When the person agreed to product news and offers, and where
    /// (`settings`); `None`: no consent (MAIL-2).
    pub marketing_consent_at: Option<DateTimeUtc>,
    pub marketing_consent_source: Option<String>,
    /// Stamped every few seconds while a browser of the person follows
    /// their jobs (the progress stream): a job ending before this time was
    /// watched.
    pub progress_watched_until: Option<DateTimeUtc>,
    /// The uploaded profile picture (PRV-1): the object
    /// `users/<id>/picture/<picture_id>.webp`; `None`: no picture.
    pub picture_id: Option<Uuid>,
    /// Staff disabled the account (no sign-in); the reason is shown to the
    /// person when they try.
    pub disabled_at: Option<DateTimeUtc>,
    pub disabled_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::session::Entity")]
    Session,
}

impl Related<super::session::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Session.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
