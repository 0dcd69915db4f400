//! HTTP-level tests: the real router, in process, on a fresh migrated
//! database per test, on SQLite and on PostgreSQL. One binary for all of
//! them (fast to link); one module per feature.

mod fixtures;
mod support;

mod accounts;
mod admin;
mod api_client;
mod api_docs;
mod api_key_budgets;
mod billing;
mod collections;
mod consent;
mod contact;
mod dashboard;
mod developer_api;
mod gallery;
mod generation;
mod health;
mod http_policy;
mod mail;
mod mail_preferences;
mod metrics;
mod moderation;
mod outbound_webhooks;
mod pages;
mod prediction_webhooks;
mod privacy;
mod providers;
mod publishing;
mod replicate_api;
mod replicate_models;
mod scale;
mod sharing;
mod staff;
mod staff_users;
mod two_factor;
mod underage;
mod webhooks;
