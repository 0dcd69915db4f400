//! Building blocks every feature shares: the error for unexpected failures,
//! sealing with the application key, e-mail addresses, rate limits, the
//! audit log, health checks and keyset pagination.

pub mod audit;
pub mod crypto;
pub mod csv;
pub mod email;
pub mod error;
pub mod health;
pub mod limit_store;
pub mod pagination;
pub mod rate_limit;
pub mod tx;
