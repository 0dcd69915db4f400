//! Connecting to the database and bringing its schema up to date.

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};
use secrecy::ExposeSecret;
use uni1_migration::{Migrator, MigratorTrait};

use crate::config::DatabaseSettings;

/// Opens a connection pool. For SQLite, creates the file's folder (0700) and
/// the file (0600), and turns on write-ahead logging so readers do not block
/// the writer.
pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    let url = settings.url.expose_secret();
    if let Some(path) = sqlite_file(url) {
        let path = std::path::Path::new(path);
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                crate::files::create_private_dir(dir).map_err(|e| {
                    DbErr::Custom(format!("cannot create the folder for the SQLite file: {e}"))
                })?;
            }
        }
        // Created here, owner-only, before SQLite would create it with the
        // umask: it holds password hashes and sealed secrets. SQLite gives
        // its -wal and -shm files the same mode.
        if url.contains("mode=rwc") {
            crate::files::create_private_file(path)
                .map_err(|e| DbErr::Custom(format!("cannot create the SQLite file: {e}")))?;
        }
        crate::files::warn_if_open_to_others(path, "the database file");
    }
    // SQLite has one writer. With several pooled connections, a transaction
    // that reads and then writes fails at once with "database is locked"
    // when another connection wrote in between (WAL cannot upgrade a stale
    // read snapshot, and the busy timeout does not apply). One connection
    // serialises access instead; PostgreSQL uses the configured pool.
    let max_connections = if url.starts_with("sqlite:") {
        1
    } else {
        settings.max_connections
    };
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    let db = Database::connect(options).await?;
    if url.starts_with("sqlite:") && sqlite_file(url).is_some() {
        db.execute_unprepared("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
            .await?;
    }
    Ok(db)
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// The file path of a `sqlite://` URL, or `None` for in-memory databases.
fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then_some(path)
}

#[cfg(test)]
mod tests {
    use super::sqlite_file;

    #[test]
    fn finds_the_sqlite_file() {
        assert_eq!(
            sqlite_file("sqlite://data/uni1.db?mode=rwc"),
            Some("data/uni1.db")
        );
        assert_eq!(sqlite_file("sqlite:///tmp/x.db"), Some("/tmp/x.db"));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://x/y"), None);
    }
}
