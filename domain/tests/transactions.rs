//! SQLite write transactions (`support::tx::begin`): two processes (two
//! connection pools on one file) that each read, then write, in one
//! transaction at the same time. With a plain `BEGIN` the second writer's
//! stale read snapshot cannot be upgraded and fails at once with "database
//! is locked" (the busy timeout does not apply); `tx::begin` takes the
//! write lock first, so the second waits for the first and both commit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    Statement, TransactionTrait,
};
use uni1_domain::support::tx;
use uni1_migration::MigratorTrait as _;

/// A pool of one connection on `url`, as `uni1 serve` and `uni1 admin`
/// each hold one.
async fn process(url: &str) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url.to_owned());
    options.max_connections(1).sqlx_logging(false);
    Database::connect(options).await.unwrap()
}

/// Reads the highest `tat` of the test's rows, waits, writes the next one.
async fn read_then_write(txn: DatabaseTransaction, subject: &str) -> Result<(), sea_orm::DbErr> {
    let row = txn
        .query_one(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT COALESCE(MAX(tat), 0) AS n FROM rate_limits WHERE name = 'tx_test'",
        ))
        .await?
        .unwrap();
    let highest: i64 = row.try_get("", "n")?;
    // Both transactions have read before either writes.
    tokio::time::sleep(Duration::from_millis(100)).await;
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "INSERT INTO rate_limits (name, subject, tat, allowed) VALUES ('tx_test', $1, $2, 1)",
        [subject.into(), (highest + 1).into()],
    ))
    .await?;
    txn.commit().await
}

#[tokio::test]
async fn sqlite_write_transactions_of_two_processes_wait_for_each_other_instead_of_failing() {
    let dir = std::env::temp_dir().join(format!("uni1_tx_test_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/uni1.db?mode=rwc", dir.display());
    let a = process(&url).await;
    uni1_migration::Migrator::up(&a, None).await.unwrap();
    a.execute_unprepared("PRAGMA journal_mode = WAL")
        .await
        .unwrap();
    let b = process(&url).await;

    // A plain deferred BEGIN: one of the two fails, however long the busy
    // timeout (sqlx's default: 5 s).
    let (ra, rb) = tokio::join!(
        async { read_then_write(a.begin().await?, "plain-a").await },
        async { read_then_write(b.begin().await?, "plain-b").await },
    );
    let failed: Vec<String> = [ra, rb]
        .into_iter()
        .filter_map(Result::err)
        .map(|e| e.to_string())
        .collect();
    assert_eq!(failed.len(), 1, "one plain transaction fails: {failed:?}");
    assert!(failed[0].contains("locked"), "{failed:?}");

    // `tx::begin`: both commit, one after the other, and the second read
    // what the first wrote (1 then 2 above the plain run's row).
    let (ra, rb) = tokio::join!(
        async {
            let txn = tx::begin(&a).await.unwrap();
            read_then_write(txn, "write-a").await
        },
        async {
            let txn = tx::begin(&b).await.unwrap();
            read_then_write(txn, "write-b").await
        },
    );
    ra.expect("the first write transaction commits");
    rb.expect("the second write transaction waits, then commits");
    let rows = a
        .query_all(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT tat FROM rate_limits WHERE name = 'tx_test' AND subject LIKE 'write-%' ORDER BY tat",
        ))
        .await
        .unwrap();
    let tats: Vec<i64> = rows.iter().map(|r| r.try_get("", "tat").unwrap()).collect();
    assert_eq!(tats, [2, 3], "serialised: each read the other's write");

    // Inside a transaction, `tx::begin` opens a savepoint as before.
    let outer = tx::begin(&a).await.unwrap();
    let inner = tx::begin(&outer).await.unwrap();
    inner.commit().await.unwrap();
    outer.commit().await.unwrap();

    a.close().await.ok();
    b.close().await.ok();
    std::fs::remove_dir_all(dir).ok();
}
