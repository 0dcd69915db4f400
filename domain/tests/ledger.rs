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
                debt: 0
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
                debt: 0
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
                debt: 0
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
                debt: 0
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
                debt: 0
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
                debt: 0
            }
        );
        assert!(credits::audit(&db, user).await.unwrap());
    })
    .await;
}
