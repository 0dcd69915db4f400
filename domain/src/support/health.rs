//! Readiness: can this process reach what it needs to serve requests?

use sea_orm::DatabaseConnection;

use crate::support::error::{ResultExt, Unexpected};

/// Succeeds when the database answers a round trip.
pub async fn database_ready(db: &DatabaseConnection) -> Result<(), Unexpected> {
    db.ping().await.unexpected("pinging the database")
}
