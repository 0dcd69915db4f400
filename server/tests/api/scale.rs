//! Scale-out: what several processes on one database share. Each "other
//! process" here is a second connection pool on the test's database with
//! its own service objects, as a second `uni1 serve` would have.

use std::sync::Arc;

use uni1_domain::support::rate_limit::RateLimits;

use crate::on_both_backends;
use crate::support::{TestApp, Visitor};

/// A second process's view of the test's database: its own pool.
async fn other_process(app: &TestApp) -> sea_orm::DatabaseConnection {
    sea_orm::Database::connect(&app.database_url)
        .await
        .expect("a second connection pool")
}

on_both_backends!(
    a_rate_limit_hit_through_two_processes_holds_at_its_value,
    |app: TestApp| async move {
        // The contact form allows 5 messages an hour per address. Three go
        // through this process's router, two through the other process:
        // then both refuse, the budget is spent once, not once per process.
        let form = [
            ("name", "Ada"),
            ("email", "ada@example.org"),
            ("message", "Long enough message."),
        ];
        let sender = Visitor::new("192.0.2.170");
        let other = RateLimits::shared(other_process(&app).await, &app.key);
        for _ in 0..3 {
            let r = app.post_as("/api/contact", &form, &sender).await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
        for _ in 0..2 {
            assert!(other.contact("192.0.2.170").await.is_ok());
        }
        let r = app.post_as("/api/contact", &form, &sender).await;
        assert_eq!(r.status, 429, "{}", r.body);
        assert!(r.header("retry-after").is_some());
        let wait = other.contact("192.0.2.170").await.unwrap_err();
        assert!(
            (1..=3600).contains(&wait.seconds()),
            "about 12 minutes until the next message: {wait:?}"
        );
        // Another address has its own budget in both processes.
        assert!(other.contact("192.0.2.171").await.is_ok());
    }
);

on_both_backends!(
    fifty_concurrent_checks_from_two_processes_allow_exactly_the_quota,
    |app: TestApp| async move {
        // Sign-ups: 10 an hour per address. 50 at once, half through each
        // process's limits.
        let here = Arc::new(RateLimits::shared(app.db.clone(), &app.key));
        let there = Arc::new(RateLimits::shared(other_process(&app).await, &app.key));
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let limits = if i % 2 == 0 {
                    here.clone()
                } else {
                    there.clone()
                };
                tokio::spawn(async move { limits.sign_up("198.51.100.50").await.is_ok() })
            })
            .collect();
        let mut allowed = 0;
        for task in tasks {
            allowed += usize::from(task.await.expect("a check"));
        }
        assert_eq!(allowed, 10, "exactly the quota, whatever the process");
        assert!(here.sign_up("198.51.100.51").await.is_ok());
    }
);

on_both_backends!(
    spent_rate_limits_are_purged_and_live_ones_kept,
    |app: TestApp| async move {
        use sea_orm::{ConnectionTrait, Statement};
        use uni1_domain::support::limit_store::{check_in_database, purge, Limit, SubjectKey};
        let subjects = SubjectKey::new(&app.key);
        let limit = Limit::new("contact_ip", 5, std::time::Duration::from_secs(3600));
        let now = chrono::Utc::now().timestamp_micros();
        // One key checked two hours ago (its budget is full again), one now.
        let long_ago = now - 2 * 3600 * 1_000_000;
        assert!(
            check_in_database(&app.db, &subjects, limit, "old", long_ago)
                .await
                .unwrap()
                .is_ok()
        );
        assert!(check_in_database(&app.db, &subjects, limit, "new", now)
            .await
            .unwrap()
            .is_ok());
        assert_eq!(purge(&app.db).await.unwrap(), 1);
        let rows = app
            .db
            .query_one(Statement::from_string(
                app.db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM rate_limits",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rows.try_get::<i64>("", "n").unwrap(), 1);
        // The kept key still counts what it used: 4 more, then refused.
        for _ in 0..4 {
            assert!(check_in_database(&app.db, &subjects, limit, "new", now)
                .await
                .unwrap()
                .is_ok());
        }
        assert!(check_in_database(&app.db, &subjects, limit, "new", now)
            .await
            .unwrap()
            .is_err());
    }
);

/// How long until `job` leaves the queue (a worker claimed it), polled
/// every 10 ms for at most `limit`.
async fn until_claimed(
    db: &sea_orm::DatabaseConnection,
    job: uuid::Uuid,
    limit: std::time::Duration,
) -> Option<std::time::Duration> {
    use sea_orm::EntityTrait;
    use uni1_domain::entities::generation;
    let t = std::time::Instant::now();
    while t.elapsed() < limit {
        let row = generation::Entity::find_by_id(job)
            .one(db)
            .await
            .expect("a job row")
            .expect("the job");
        if row.started_at.is_some() {
            return Some(t.elapsed());
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    None
}

/// PostgreSQL only: SQLite has no notifications (its workers poll, which
/// the generation tests cover).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_polling_once_an_hour_starts_jobs_queued_by_other_processes_within_a_second() {
    crate::support::run(
        crate::support::Backend::Postgres,
        |app: TestApp| async move {
            use std::time::Duration;
            use uni1_domain::generation::progress::ProgressHub;
            let (_alice, alice_id) =
                crate::fixtures::member(&app, "alice@uni1.test", "203.0.113.40").await;
            // Process A: a worker that polls once an hour, and its listener.
            let mut a = app.gens.clone();
            a.queue.poll_interval = Duration::from_secs(3600);
            a.wake = Arc::new(tokio::sync::Notify::new());
            a.progress = ProgressHub::default();
            let mut tasks = uni1_server::background::Background::new();
            uni1_server::startup::with_notifications(
                &mut tasks,
                &a,
                &uni1_models::predictions::Wakeups::default(),
            );
            uni1_server::startup::with_worker(&mut tasks, &a, "worker-a".into(), 2);
            assert!(tasks.names().contains(&"job notifications"));
            let running = tasks.start();
            // Let the worker find the queue empty and go to sleep for the hour,
            // and the listener connect.
            tokio::time::sleep(Duration::from_millis(700)).await;
            // Process B: its own pool and its own in-memory wake-up, which
            // cannot reach A's worker.
            let mut b = app.gens.clone();
            b.db = other_process(&app).await;
            b.wake = Arc::new(tokio::sync::Notify::new());
            b.progress = ProgressHub::default();
            for (i, via) in [&b, &app.gens].into_iter().enumerate() {
                let job = via
                    .submit(
                        alice_id,
                        true,
                        crate::fixtures::input(&format!("key-notify-{i:03}"), "wake", 1),
                    )
                    .await
                    .expect("queued");
                let took = until_claimed(&app.db, job.id, Duration::from_secs(5))
                    .await
                    .expect("the worker woke up, not after its hour");
                assert!(
                    took < Duration::from_secs(1),
                    "claimed {took:?} after the submit"
                );
            }
            running.stop().await;
        },
    )
    .await;
}

/// PostgreSQL only: a provider's webhook verified by one web process wakes
/// the worker of another process that waits for that prediction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_webhook_received_by_one_process_wakes_the_worker_waiting_in_another() {
    crate::support::run(
        crate::support::Backend::Postgres,
        |app: TestApp| async move {
            use std::time::Duration;
            // Process A: a worker waiting for prediction "pred_42", and the
            // process's listener.
            let wakeups = uni1_models::predictions::Wakeups::default();
            let waiting = wakeups.register("pred_42");
            let mut tasks = uni1_server::background::Background::new();
            uni1_server::startup::with_notifications(&mut tasks, &app.gens, &wakeups);
            let running = tasks.start();
            tokio::time::sleep(Duration::from_millis(700)).await;
            // Process B received and verified the webhook: it forwards it.
            let b = other_process(&app).await;
            uni1_domain::generation::notify::forward_webhook(&b, "pred_43").await;
            uni1_domain::generation::notify::forward_webhook(&b, "pred_42").await;
            tokio::time::timeout(Duration::from_secs(1), waiting.notified())
                .await
                .expect("the waiting worker woke within a second");
            running.stop().await;
        },
    )
    .await;
}
