//! uni1's business logic, free of Leptos and axum so that the web server, the
//! workers and the command line share one implementation of every rule.
//!
//! Grouped by feature: [`accounts`], [`generation`], [`billing`] (the credit
//! ledger), [`library`] (gallery, collections, sharing, publishing), and
//! [`moderation`]; [`mail`] is the outbox and its delivery, [`support`] the
//! building blocks they share, [`personal_data`] the registry of where a
//! person's data lives. Each module parses its inputs into types that cannot
//! hold invalid values and offers a service that reads and writes the
//! database.

pub mod accounts;
pub mod admin;
pub mod analytics;
pub mod billing;
pub mod consent;
pub mod developer;
pub mod entities;
pub mod generation;
pub mod library;
pub mod mail;
pub mod metrics;
pub mod moderation;
pub mod personal_data;
pub mod privacy;
pub mod support;
pub mod webhooks;

pub use sea_orm;
pub use support::error::Unexpected;
