//! SeaORM entities: one module per table, matching `uni1-migration`.
//!
//! Every table that holds a person's data is listed in ARCHITECTURE.md under
//! "Personal data map" so that export and deletion can reach all of it.

pub mod contact_message;
