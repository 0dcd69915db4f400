//! A throwaway PostgreSQL database for a benchmark (shared by the bench
//! binaries through `#[path]`): made next to `UNI1_TEST_POSTGRES_URL`'s,
//! dropped at the end.

use sea_orm::{ConnectionTrait, Database};

fn admin_url() -> String {
    std::env::var("UNI1_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A new empty database named `{prefix}_{pid}`; `None` when PostgreSQL
/// does not answer (the bench then skips it).
pub async fn create(prefix: &str) -> Option<String> {
    let admin_url = admin_url();
    let admin = Database::connect(&admin_url).await.ok()?;
    let name = format!("{prefix}_{}", std::process::id());
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\""))
        .await
        .ok()?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .ok()?;
    admin.close().await.ok();
    let base = admin_url.rsplit_once('/').map(|(b, _)| b.to_owned())?;
    Some(format!("{base}/{name}"))
}

/// Drops the database `url` names.
pub async fn drop(url: &str) {
    if let (Ok(admin), Some((_, name))) =
        (Database::connect(&admin_url()).await, url.rsplit_once('/'))
    {
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await
            .ok();
    }
}
