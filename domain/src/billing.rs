//! Money and credits. [`credits`] owns the ledger: every change of a
//! balance is one ledger row with a unique idempotency key, written in the
//! same transaction as the balance.

pub mod credits;
