//! uni1's business logic, free of Leptos and axum so that the web server, the
//! workers and the command line share one implementation of every rule.
//!
//! Each module owns one concern: parsing its inputs into types that cannot
//! hold invalid values, and a service that reads and writes the database.

pub mod accounts;
pub mod archive;
pub mod audit;
pub mod collections;
pub mod contact;
pub mod credits;
pub mod crypto;
pub mod email;
pub mod entities;
pub mod error;
pub mod gallery;
pub mod generation;
pub mod health;
pub mod mail;
pub mod publishing;
pub mod rate_limit;
pub mod reminders;
pub mod sharing;
pub mod underage;

pub use error::Unexpected;
pub use sea_orm;
