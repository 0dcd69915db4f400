//! SeaORM entities: one module per table, matching `uni1-migration`.
//!
//! Every table that holds a person's data is listed in ARCHITECTURE.md under
//! "Personal data map" so that export and deletion can reach all of it.

pub mod analytics_event;
pub mod analytics_salt;
pub mod announcement;
pub mod announcement_recipient;
pub mod api_idempotency;
pub mod api_key;
pub mod audit_log;
pub mod billing_customer;
pub mod collection;
pub mod collection_image;
pub mod consent_record;
pub mod contact_message;
pub mod credit_balance;
pub mod credit_ledger;
pub mod daily_stat;
pub mod data_export;
pub mod email_token;
pub mod generation;
pub mod image;
pub mod incident;
pub mod incident_notice;
pub mod mail_outbox;
pub mod moderation_flag;
pub mod oauth_state;
pub mod order;
pub mod payment_event;
pub mod payment_event_failure;
pub mod pending_signup;
pub mod prediction_webhook;
pub mod privacy_request;
pub mod recovery_code;
pub mod session;
pub mod share_link;
pub mod staff_action;
pub mod subscription;
pub mod two_factor;
pub mod two_factor_challenge;
pub mod underage_report;
pub mod upload;
pub mod user;
pub mod user_identity;
pub mod webhook_attempt;
pub mod webhook_delivery;
pub mod webhook_endpoint;
