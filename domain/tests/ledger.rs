//! The credit ledger on a real database (SQLite and PostgreSQL), without
//! HTTP: every change happens once per key, the balance never goes below
//! zero, a job's credits are settled once, and the ledger always adds up to
//! the balance.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use sea_orm::{DatabaseConnection, TransactionTrait};
use support::{each_backend, person};
use uni1_domain::billing::credits::{self, Balance, CreditError, CreditPolicy};
use uuid::Uuid;

async fn balance(db: &DatabaseConnection, user: Uuid) -> Balance {
    credits::balance(db, user).await.unwrap()
}

async fn funded(db: &DatabaseConnection, email: &str, amount: i64) -> Uuid {
    let user = person(db, email).await;
    credits::ensure_account(
        db,
        user,
        &CreditPolicy {
            signup_grant: amount,
        },
    )
    .await
    .unwrap();
    user
}

#[tokio::test]
async fn the_sign_up_grant_and_a_keyed_grant_happen_once() {
    each_backend(|db, _| async move {
        let user = person(&db, "grant@example.org").await;
        let policy = CreditPolicy { signup_grant: 50 };
        credits::ensure_account(&db, user, &policy).await.unwrap();
        credits::ensure_account(&db, user, &policy).await.unwrap();
        assert_eq!(
            balance(&db, user).await,
            Balance {
                available: 50,
                held: 0,
                debt: 0,
                ..Balance::default()
            }
        );

        assert!(
            credits::grant(&db, user, 100, "purchase:pi_1", Some("pack"))
                .await
                .unwrap()
        );
        assert!(
            !credits::grant(&db, user, 100, "purchase:pi_1", Some("pack"))
                .await
                .unwrap(),
            "a retried grant with the same key changes nothing"
        );
        assert_eq!(balance(&db, user).await.available, 150);
        assert!(credits::audit(&db, user).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn a_job_is_reserved_once_and_settled_once() {
    each_backend(|db, _| async move {
        let user = funded(&db, "settle@example.org", 50).await;
        let job = Uuid::now_v7();
        credits::reserve(&db, user, job, 8).await.unwrap();
        credits::reserve(&db, user, job, 8).await.unwrap();
        assert_eq!(
            balance(&db, user).await,
            Balance {
                available: 42,
                held: 8,
                debt: 0,
                ..Balance::default()
            },
            "a retried reserve holds nothing more"
        );

        assert!(credits::capture(&db, user, job, 8).await.unwrap());
        assert!(!credits::capture(&db, user, job, 8).await.unwrap());
        assert!(
            !credits::release(&db, user, job, 8).await.unwrap(),
            "after a capture, a release (a late failure) gives nothing back"
        );
        assert_eq!(
            balance(&db, user).await,
            Balance {
                available: 42,
                held: 0,
                debt: 0,
                ..Balance::default()
            }
        );

        let refused = Uuid::now_v7();
        credits::reserve(&db, user, refused, 4).await.unwrap();
        assert!(credits::release(&db, user, refused, 4).await.unwrap());
        assert!(!credits::capture(&db, user, refused, 4).await.unwrap());
        assert_eq!(
            balance(&db, user).await,
            Balance {
                available: 42,
                held: 0,
                debt: 0,
                ..Balance::default()
            }
        );

        assert!(
            !credits::release(&db, user, Uuid::now_v7(), 4)
                .await
                .unwrap(),
            "nothing is released for a job that never reserved"
        );
        assert!(credits::audit(&db, user).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn a_reserve_beyond_the_balance_is_refused_and_changes_nothing() {
    each_backend(|db, _| async move {
        let user = funded(&db, "short@example.org", 5).await;
        let err = credits::reserve(&db, user, Uuid::now_v7(), 6)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                CreditError::Insufficient {
                    needed: 6,
                    available: 5
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            balance(&db, user).await,
            Balance {
                available: 5,
                held: 0,
                debt: 0,
                ..Balance::default()
            }
        );
        assert!(credits::audit(&db, user).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn concurrent_reserves_never_overdraw() {
    each_backend(|db, backend| async move {
        let user = funded(&db, "race@example.org", 50).await;
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move {
                    let txn = db.begin().await.unwrap();
                    match credits::reserve(&txn, user, Uuid::now_v7(), 10).await {
                        Ok(()) => {
                            txn.commit().await.unwrap();
                            true
                        }
                        Err(CreditError::Insufficient { .. }) => false,
                        Err(e) => panic!("{e:?}"),
                    }
                })
            })
            .collect();
        let mut won = 0;
        for task in tasks {
            if task.await.unwrap() {
                won += 1;
            }
        }
        assert_eq!(
            won, 5,
            "exactly the affordable reserves succeed on {backend:?}"
        );
        assert_eq!(
            balance(&db, user).await,
            Balance {
                available: 0,
                held: 50,
                debt: 0,
                ..Balance::default()
            }
        );
        assert!(credits::audit(&db, user).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn plan_credits_are_spent_first_come_back_to_their_lot_and_expire_at_the_period_end() {
    each_backend(|db, _| async move {
        let user = funded(&db, "plan@example.org", 50).await;
        let now = chrono::Utc::now();
        let end = now + chrono::Duration::days(30);
        assert!(
            credits::grant_expiring(&db, user, 300, end, "invoice:in_1", Some("Plan"))
                .await
                .unwrap()
        );
        assert!(
            !credits::grant_expiring(&db, user, 300, end, "invoice:in_1", Some("Plan"))
                .await
                .unwrap(),
            "a repeated invoice grants nothing"
        );
        let b = balance(&db, user).await;
        assert_eq!((b.available, b.expiring), (350, 300));
        assert_eq!(
            b.expiring_until.map(|t| t.timestamp()),
            Some(end.timestamp())
        );

        // Spending takes the expiring credits first; a failed job gives
        // them back to the same lot, a finished one spends them.
        let failed = Uuid::now_v7();
        credits::reserve(&db, user, failed, 20).await.unwrap();
        assert_eq!(balance(&db, user).await.expiring, 280);
        assert!(credits::release(&db, user, failed, 20).await.unwrap());
        assert_eq!(balance(&db, user).await.expiring, 300);
        let done = Uuid::now_v7();
        credits::reserve(&db, user, done, 20).await.unwrap();
        assert!(credits::capture(&db, user, done, 20).await.unwrap());
        let b = balance(&db, user).await;
        assert_eq!((b.available, b.expiring), (330, 280));
        assert!(credits::audit(&db, user).await.unwrap());

        // Before the end nothing expires; after it, what is left does, once.
        assert_eq!(credits::expire_pass(&db, now).await.unwrap(), 0);
        let after_end = end + chrono::Duration::minutes(1);
        assert_eq!(credits::expire_pass(&db, after_end).await.unwrap(), 1);
        assert_eq!(credits::expire_pass(&db, after_end).await.unwrap(), 0);
        let b = balance(&db, user).await;
        assert_eq!((b.available, b.expiring, b.expiring_until), (50, 0, None));
        assert!(credits::audit(&db, user).await.unwrap());

        // A refund takes expiring credits first too.
        credits::grant_expiring(&db, user, 100, end, "invoice:in_2", None)
            .await
            .unwrap();
        let taken = credits::claw_back(&db, user, 60, "refund:in_2", None)
            .await
            .unwrap();
        assert_eq!(taken, Some((60, 0)));
        let b = balance(&db, user).await;
        assert_eq!((b.available, b.expiring), (90, 40));
        assert!(credits::audit(&db, user).await.unwrap());
    })
    .await;
}
