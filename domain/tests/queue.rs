//! The job queue on a real database (SQLite and PostgreSQL), without HTTP:
//! a form submitted twice queues one job, concurrent workers never claim the
//! same job, and a job whose worker died goes back to the queue.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{DatabaseConnection, EntityTrait};
use support::{each_backend, person};
use uni1_domain::billing::credits;
use uni1_domain::entities::generation;
use uni1_domain::generation::{
    queue, status, Catalog, ContentPolicy, Generations, ModelEntry, SubmitInput,
};
use uuid::Uuid;

fn service(db: &DatabaseConnection) -> Generations {
    let keys =
        uni1_storage::Keyring::new(vec![uni1_storage::MasterKey::generate("k1").unwrap()]).unwrap();
    Generations {
        db: db.clone(),
        catalog: Catalog::new(vec![ModelEntry {
            id: "builtin".into(),
            name: "Built-in".into(),
            description: String::new(),
            credits_per_image: 1,
            model: Arc::new(uni1_models::builtin::Builtin::new()),
        }]),
        blobs: uni1_storage::Blobs::open(&uni1_storage::StoreConfig::Memory, keys).unwrap(),
        content: ContentPolicy::new(vec![]),
        output: Default::default(),
        queue: Default::default(),
        credits: Default::default(),
        wake: Arc::default(),
        signer: uni1_domain::library::sharing::LinkSigner::new([7; 32]),
        limits: Arc::default(),
        progress: Default::default(),
    }
}

fn input(key: &str) -> SubmitInput {
    SubmitInput {
        idempotency_key: key.into(),
        model_id: "builtin".into(),
        prompt: "a lighthouse at dusk".into(),
        aspect_ratio: "1:1".into(),
        count: 1,
        seed: Some(7),
        ..Default::default()
    }
}

async fn job(db: &DatabaseConnection, id: Uuid) -> generation::Model {
    generation::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_form_submitted_twice_queues_one_job_and_holds_its_credits_once() {
    each_backend(|db, _| async move {
        let gens = service(&db);
        let user = person(&db, "twice@example.org").await;
        let first = gens
            .submit(user, true, input("form-key-0001"))
            .await
            .unwrap();
        let again = gens
            .submit(user, true, input("form-key-0001"))
            .await
            .unwrap();
        assert_eq!(first.id, again.id);
        let balance = credits::balance(&db, user).await.unwrap();
        assert_eq!((balance.available, balance.held), (49, 1));
        assert!(credits::audit(&db, user).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn concurrent_workers_never_claim_the_same_job() {
    each_backend(|db, backend| async move {
        let gens = service(&db);
        let user = person(&db, "busy@example.org").await;
        let mut queued = Vec::new();
        for n in 0..4 {
            queued.push(
                gens.submit(user, true, input(&format!("form-key-100{n}")))
                    .await
                    .unwrap()
                    .id,
            );
        }
        let claims: Vec<_> = (0..6)
            .map(|w| {
                let db = db.clone();
                tokio::spawn(async move {
                    queue::claim(&db, &format!("worker-{w}"), Duration::from_secs(60), 10)
                        .await
                        .unwrap()
                        .map(|job| job.id)
                })
            })
            .collect();
        let mut claimed = Vec::new();
        for claim in claims {
            if let Some(id) = claim.await.unwrap() {
                claimed.push(id);
            }
        }
        claimed.sort();
        queued.sort();
        assert_eq!(
            claimed, queued,
            "every job claimed exactly once on {backend:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_job_whose_worker_died_goes_back_to_the_queue() {
    each_backend(|db, _| async move {
        let gens = service(&db);
        let user = person(&db, "orphan@example.org").await;
        let id = gens
            .submit(user, true, input("form-key-2001"))
            .await
            .unwrap()
            .id;
        let claimed = queue::claim(&db, "worker-dead", Duration::from_millis(1), 10)
            .await
            .unwrap()
            .expect("the job");
        assert_eq!(claimed.id, id);
        assert_eq!(job(&db, id).await.status, status::RUNNING);
        tokio::time::sleep(Duration::from_millis(20)).await;

        assert_eq!(queue::reap(&db).await.unwrap(), 1);
        let requeued = job(&db, id).await;
        assert_eq!(requeued.status, status::QUEUED);
        assert_eq!(requeued.lease_owner, None);
        assert_eq!(
            queue::reap(&db).await.unwrap(),
            0,
            "reaping twice changes nothing"
        );
        let balance = credits::balance(&db, user).await.unwrap();
        assert_eq!(balance.held, 1, "the credits stay held for the retry");
    })
    .await;
}
