//! Moderation (GEN-4, ACC-5, STO-3): the queue of flags and under-age
//! reports, its decisions (dismiss, hide, take down: unpublished and every
//! share link closed) each with its audit row, the audited staff look at a
//! flagged image, and the output check: a refused output is not charged,
//! never reaches its owner, waits in the queue and is purged after the
//! decision or 30 days; an operator's HTTP moderation service on loopback.

#![allow(clippy::unwrap_used)] // test helpers may unwrap

use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use uni1_domain::billing::credits;
use uni1_domain::entities::{
    credit_ledger, generation, image, moderation_flag, share_link, staff_action, underage_report,
};
use uni1_domain::generation::status;

use crate::fixtures::{drain, images, member};
use crate::on_both_backends;
use crate::staff::staff;
use crate::support::{Backend, TestApp, Visitor};

async fn audit_rows(app: &TestApp, action: &str) -> Vec<staff_action::Model> {
    staff_action::Entity::find()
        .filter(staff_action::Column::Action.eq(action))
        .all(&app.db)
        .await
        .unwrap()
}

async fn open_flags(app: &TestApp, source: &str) -> Vec<moderation_flag::Model> {
    moderation_flag::Entity::find()
        .filter(moderation_flag::Column::Source.eq(source))
        .filter(moderation_flag::Column::ReviewedAt.is_null())
        .all(&app.db)
        .await
        .unwrap()
}

async fn share(app: &TestApp, who: &Visitor, field: &str, id: &str) -> String {
    let r = app
        .post_as(
            "/api/share-create",
            &[(field, id), ("expires_in_days", "")],
            who,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let url = r.json()["url"].as_str().unwrap().to_owned();
    url.rsplit('/').next().unwrap().to_owned()
}

async fn report(app: &TestApp, img: &str, text: &str) -> moderation_flag::Model {
    let anon = Visitor::new("203.0.113.199");
    let r = app
        .post_as(
            "/api/explore-report",
            &[("id", img), ("reason", text)],
            &anon,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    moderation_flag::Entity::find()
        .filter(moderation_flag::Column::ImageId.eq(uuid::Uuid::parse_str(img).unwrap()))
        .filter(moderation_flag::Column::ReviewedAt.is_null())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
}

on_both_backends!(
    a_take_down_closes_share_links_and_unpublishes,
    |app: TestApp| async move {
        let (support, _) = staff(&app, "mod@example.org", "198.51.100.60", "support", true).await;
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.61").await;
        let img = images(&app, alice_id, "key-mod-td-0001", "a red kite", 1).await[0].id;
        let id = img.to_string();
        let r = app
            .post_as(
                "/api/publish",
                &[("id", &id), ("published", "true")],
                &alice,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let image_token = share(&app, &alice, "image", &id).await;
        let r = app
            .post_as(
                "/api/collection-create",
                &[("name", "Birds"), ("image", &id)],
                &alice,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let collection = r.json()["id"].as_str().unwrap().to_owned();
        let collection_token = share(&app, &alice, "collection", &collection).await;
        assert_eq!(app.get(&format!("/s/{image_token}")).await.status, 200);
        assert_eq!(app.get(&format!("/s/{collection_token}")).await.status, 200);
        assert_eq!(app.get(&format!("/p/{id}")).await.status, 200);

        let flag = report(&app, &id, "This image shows something it should not.").await;

        // The queue shows it, with its count.
        let q = app.post_as("/api/admin_moderation", &[], &support).await;
        assert_eq!(q.status, 200, "{}", q.body);
        let q = q.json();
        assert_eq!(q["open_flags"], 1);
        assert_eq!(q["flags"][0]["source"], "report");
        assert_eq!(q["flags"][0]["has_image"], true);
        let page = app.get_as("/admin/moderation", &support).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("a red kite"), "{}", page.body);
        assert!(page.body.contains(&format!("/admin/users/{alice_id}")));

        // Looking at the image needs a reason, and is audited.
        let look = format!("/admin/moderation/flags/{}/image", flag.id);
        let r = app.post_as(&look, &[("reason", "")], &support).await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(audit_rows(&app, "moderation.view_image").await.is_empty());
        let r = app
            .post_as(&look, &[("reason", "Checking the report.")], &support)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("content-type"), Some("image/webp"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let seen = audit_rows(&app, "moderation.view_image").await;
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].reason.as_deref(), Some("Checking the report."));
        assert_eq!(seen[0].target_user_id, Some(alice_id));

        // A decision needs a reason.
        let decide = |decision: &'static str, reason: &'static str| {
            let (app, support, flag) = (app.clone(), support.clone(), flag.id.to_string());
            async move {
                app.post_as(
                    "/api/admin_moderation_decide",
                    &[("id", &flag), ("decision", decision), ("reason", reason)],
                    &support,
                )
                .await
            }
        };
        let r = decide("take_down", " ").await;
        assert_eq!(r.status, 422, "{}", r.body);
        let r = decide("take_down", "Breaks the content policy.").await;
        assert_eq!(r.status, 200, "{}", r.body);

        // Closed for everyone but staff: links, the public gallery, the owner.
        assert_eq!(app.get(&format!("/s/{image_token}")).await.status, 404);
        assert_eq!(
            app.get(&format!("/s/{image_token}/image")).await.status,
            404
        );
        assert_eq!(app.get(&format!("/s/{collection_token}")).await.status, 404);
        assert_eq!(app.get(&format!("/p/{id}")).await.status, 404);
        assert_eq!(app.get(&format!("/p/{id}/thumb")).await.status, 404);
        assert_eq!(
            app.get_as(&format!("/media/{id}/original"), &alice)
                .await
                .status,
            404
        );
        let open_links = share_link::Entity::find()
            .filter(share_link::Column::UserId.eq(alice_id))
            .filter(share_link::Column::RevokedAt.is_null())
            .count(&app.db)
            .await
            .unwrap();
        assert_eq!(open_links, 0, "every link of the image and its collection");
        let row = image::Entity::find_by_id(img)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert!(row.published_at.is_none() && row.hidden_at.is_some());
        assert!(row.taken_down_at.is_some());
        // The owner is told.
        let gallery = app.get_as(&format!("/gallery/{id}"), &alice).await;
        assert!(gallery.body.contains("taken-down"), "{}", gallery.body);
        // Recorded, audited with the reason, and decided once.
        let decided = moderation_flag::Entity::find_by_id(flag.id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert!(decided.reviewed_at.is_some());
        assert_eq!(decided.decision.as_deref(), Some("taken_down"));
        let audit = audit_rows(&app, "moderation.take_down").await;
        assert_eq!(audit.len(), 1);
        assert_eq!(
            audit[0].reason.as_deref(),
            Some("Breaks the content policy.")
        );
        assert_eq!(audit[0].target_user_id, Some(alice_id));
        assert!(audit[0].request_id.is_some());
        let r = decide("dismiss", "Again.").await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(
            app.post_as("/api/admin_moderation", &[], &support)
                .await
                .json()["open_flags"],
            0
        );
    }
);

on_both_backends!(
    dismiss_hide_and_underage_reports_are_reviewed,
    |app: TestApp| async move {
        let (support, _) = staff(&app, "mod@example.org", "198.51.100.62", "support", true).await;
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.63").await;
        let imgs = images(&app, alice_id, "key-mod-dh-0001", "two herons", 2).await;
        let (kept, hidden) = (imgs[0].id.to_string(), imgs[1].id.to_string());
        for id in [&kept, &hidden] {
            let r = app
                .post_as("/api/publish", &[("id", id), ("published", "true")], &alice)
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let f1 = report(&app, &kept, "I do not like herons.").await;
        let f2 = report(&app, &hidden, "This one is not for the gallery.").await;
        let r = app
            .post_as(
                "/api/admin_moderation_decide",
                &[
                    ("id", &f1.id.to_string()),
                    ("decision", "dismiss"),
                    ("reason", "Nothing wrong with it."),
                ],
                &support,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            app.get(&format!("/p/{kept}")).await.status,
            200,
            "dismissed: still public"
        );
        let r = app
            .post_as(
                "/api/admin_moderation_decide",
                &[
                    ("id", &f2.id.to_string()),
                    ("decision", "hide"),
                    ("reason", "Not for the public gallery."),
                ],
                &support,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(app.get(&format!("/p/{hidden}")).await.status, 404);
        assert_eq!(
            app.get_as(&format!("/media/{hidden}/thumb"), &alice)
                .await
                .status,
            200,
            "hidden from the gallery, still its owner's"
        );
        assert_eq!(audit_rows(&app, "moderation.dismiss").await.len(), 1);
        assert_eq!(audit_rows(&app, "moderation.hide").await.len(), 1);
        assert!(open_flags(&app, "report").await.is_empty());

        // An under-age report: listed, then reviewed with an outcome.
        let r = app
            .post_as(
                "/api/report_underage",
                &[
                    ("reported_account", "kid@example.org"),
                    ("details", "Their profile says they are 15."),
                    ("reporter_email", ""),
                ],
                &Visitor::new("203.0.113.64"),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let q = app
            .post_as("/api/admin_moderation", &[], &support)
            .await
            .json();
        assert_eq!(q["open_underage"], 1);
        let report_id = q["underage"][0]["id"].as_str().unwrap().to_owned();
        let page = app.get_as("/admin/moderation", &support).await;
        assert!(page.body.contains("kid@example.org"), "{}", page.body);
        let review = |outcome: &'static str| {
            let (app, support, id) = (app.clone(), support.clone(), report_id.clone());
            async move {
                app.post_as(
                    "/api/admin_underage_review",
                    &[("id", &id), ("outcome", outcome)],
                    &support,
                )
                .await
            }
        };
        assert_eq!(review("").await.status, 422);
        let r = review("Asked for proof of age; account disabled.").await;
        assert_eq!(r.status, 200, "{}", r.body);
        let row = underage_report::Entity::find_by_id(uuid::Uuid::parse_str(&report_id).unwrap())
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.status, "reviewed");
        assert!(row.reviewed_at.is_some());
        assert_eq!(
            row.outcome.as_deref(),
            Some("Asked for proof of age; account disabled.")
        );
        let audit = audit_rows(&app, "underage.review").await;
        assert_eq!(audit.len(), 1);
        assert_eq!(
            audit[0].target.as_deref(),
            Some(format!("underage_report:{report_id}").as_str())
        );
        assert_eq!(review("Once more.").await.status, 422);
        assert_eq!(
            app.post_as("/api/admin_moderation", &[], &support)
                .await
                .json()["open_underage"],
            0
        );
    }
);

/// Generates `prompt` as `who` through the studio and runs the worker.
async fn generate(app: &TestApp, who: &Visitor, key: &str, prompt: &str) -> generation::Model {
    let r = app
        .post_as(
            "/api/generate",
            &[
                ("form_key", key),
                ("model", "builtin"),
                ("prompt", prompt),
                ("aspect_ratio", "1:1"),
                ("count", "1"),
            ],
            who,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "queued", "the prompt itself passes");
    let id = uuid::Uuid::parse_str(r.json()["id"].as_str().unwrap()).unwrap();
    drain(&app.gens, Duration::from_secs(30)).await;
    generation::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
}

mod refused_outputs {
    use super::*;
    use crate::support::run_configured;
    use crate::support::ORIGIN;

    async fn test(app: TestApp) {
        let (support, _) = staff(&app, "mod@example.org", "198.51.100.65", "support", true).await;
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.66").await;
        let job = generate(&app, &alice, "key-mod-out-0001", "a quiet heldback valley").await;
        assert_eq!(job.status, status::REFUSED, "{:?}", job.error_detail);
        assert!(job
            .error
            .as_deref()
            .unwrap()
            .contains("No credits were charged"));

        // Not charged: the reservation was released, nothing captured.
        let b = credits::balance(&app.db, alice_id).await.unwrap();
        assert_eq!((b.available, b.held), (50, 0));
        let kinds: Vec<String> = credit_ledger::Entity::find()
            .filter(credit_ledger::Column::GenerationId.eq(job.id))
            .all(&app.db)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, vec!["reserve".to_string(), "release".to_string()]);
        assert!(credits::audit(&app.db, alice_id).await.unwrap());

        // Not its owner's: no image, nothing in the gallery, no media.
        let mine = image::Entity::find()
            .filter(image::Column::UserId.eq(alice_id))
            .count(&app.db)
            .await
            .unwrap();
        assert_eq!(mine, 0);
        let gallery = app.get_as("/gallery", &alice).await;
        assert!(!gallery.body.contains("data-testid=\"gallery-item\""));
        let flags = open_flags(&app, "output").await;
        assert_eq!(flags.len(), 1);
        let flag = &flags[0];
        assert_eq!(flag.generation_id, Some(job.id));
        let path = flag.review_object.clone().unwrap();
        assert!(path.starts_with(&format!("users/{alice_id}/review/")));
        assert!(app.gens.blobs.exists(&path).await.unwrap());
        for variant in ["original", "preview", "thumb"] {
            let r = app
                .get_as(&format!("/media/{}/{variant}", flag.id), &alice)
                .await;
            assert_eq!(r.status, 404);
        }

        // In the queue; staff can look (audited) and only dismiss it.
        let q = app
            .post_as("/api/admin_moderation", &[], &support)
            .await
            .json();
        assert_eq!(q["flags"][0]["source"], "output");
        assert_eq!(q["flags"][0]["viewable"], true);
        assert_eq!(q["flags"][0]["has_image"], false);
        let r = app
            .post_as(
                &format!("/admin/moderation/flags/{}/image", flag.id),
                &[("reason", "Reviewing a refused output.")],
                &support,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("content-type"), Some("image/png"));
        assert!(r.bytes.starts_with(b"\x89PNG"));
        assert_eq!(audit_rows(&app, "moderation.view_image").await.len(), 1);
        let decide = |decision: &'static str| {
            let (app, support, id) = (app.clone(), support.clone(), flag.id.to_string());
            async move {
                app.post_as(
                    "/api/admin_moderation_decide",
                    &[
                        ("id", &id),
                        ("decision", decision),
                        ("reason", "Correctly refused."),
                    ],
                    &support,
                )
                .await
            }
        };
        assert_eq!(
            decide("take_down").await.status,
            422,
            "no image to take down"
        );
        assert_eq!(decide("dismiss").await.status, 200);

        // Purged after the decision (by the background pass; called here
        // so the test does not wait for it); an undecided one after 30 days.
        let now = chrono::Utc::now();
        let purge = |at: chrono::DateTime<chrono::Utc>| {
            let app = app.clone();
            async move {
                uni1_domain::generation::output_check::purge(&app.db, &app.gens.blobs, at, 100)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(purge(now).await, 1, "the decided one");
        assert!(!app.gens.blobs.exists(&path).await.unwrap());
        let row = moderation_flag::Entity::find_by_id(flag.id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert!(row.review_object.is_none());
        let second = generate(&app, &alice, "key-mod-out-0002", "heldback again").await;
        assert_eq!(second.status, status::REFUSED);
        assert_eq!(
            purge(chrono::Utc::now()).await,
            0,
            "undecided, not yet 30 days"
        );
        assert_eq!(
            purge(chrono::Utc::now() + chrono::Duration::days(31)).await,
            1,
            "the old one"
        );
        let left = moderation_flag::Entity::find()
            .filter(moderation_flag::Column::ReviewObject.is_not_null())
            .count(&app.db)
            .await
            .unwrap();
        assert_eq!(left, 0);
        let r = app
            .post_as(
                &format!("/admin/moderation/flags/{}/image", flag.id),
                &[("reason", "Once more.")],
                &support,
            )
            .await;
        assert_eq!(r.status, 404, "purged");
    }

    fn held(args: &mut uni1_server::config::ServeArgs) {
        args.generation.output_blocked_terms = Some("heldback".into());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_output_is_not_charged_hidden_from_its_owner_and_purged_sqlite() {
        run_configured(Backend::Sqlite, ORIGIN, held, test).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_output_is_not_charged_hidden_from_its_owner_and_purged_postgres() {
        run_configured(Backend::Postgres, ORIGIN, held, test).await;
    }
}

mod http_moderator {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::support::run_configured;
    use crate::support::ORIGIN;

    /// A moderation service on loopback: refuses prompts with "storm",
    /// checks that the image came along.
    async fn service() -> (String, Arc<AtomicUsize>) {
        let asked = Arc::new(AtomicUsize::new(0));
        let counter = asked.clone();
        let app = axum::Router::new().route(
            "/check",
            axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
                let counter = counter.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let png = body["image_png_base64"].as_str().unwrap_or_default();
                    assert!(png.len() > 100, "the image is sent");
                    let storm = body["prompt"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("storm");
                    axum::Json(serde_json::json!({
                        "allowed": !storm,
                        "reason": if storm { Some("weather not allowed") } else { None },
                    }))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        (format!("http://{addr}/check"), asked)
    }

    #[test]
    fn the_service_url_follows_the_outbound_rules() {
        use uni1_models::moderation::HttpModeration;
        let t = Duration::from_secs(5);
        for refused in [
            "http://example.com/check",
            "https://10.0.0.1/check",
            "http://192.168.1.2/check",
        ] {
            assert!(
                HttpModeration::new(refused.parse().unwrap(), t).is_err(),
                "{refused}"
            );
        }
        for allowed in [
            "https://moderation.example.com/check",
            "http://127.0.0.1:9/check",
        ] {
            assert!(
                HttpModeration::new(allowed.parse().unwrap(), t).is_ok(),
                "{allowed}"
            );
        }
    }

    async fn run(backend: Backend) {
        let (url, asked) = service().await;
        run_configured(
            backend,
            ORIGIN,
            move |args: &mut uni1_server::config::ServeArgs| {
                args.generation.output_moderation_url = Some(url)
            },
            move |app: TestApp| async move {
                let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.67").await;
                let fine = generate(&app, &alice, "key-mod-http-0001", "a calm lake").await;
                assert_eq!(fine.status, status::SUCCEEDED, "{:?}", fine.error_detail);
                let refused = generate(&app, &alice, "key-mod-http-0002", "a storm at sea").await;
                assert_eq!(
                    refused.status,
                    status::REFUSED,
                    "{:?}",
                    refused.error_detail
                );
                assert_eq!(asked.load(Ordering::SeqCst), 2);
                let flags = open_flags(&app, "output").await;
                assert_eq!(flags.len(), 1);
                assert!(
                    flags[0].reason.contains("weather not allowed"),
                    "{}",
                    flags[0].reason
                );
                let b = credits::balance(&app.db, alice_id).await.unwrap();
                assert_eq!(
                    (b.available, b.held),
                    (49, 0),
                    "only the allowed image is charged"
                );
            },
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_operator_service_on_loopback_judges_every_output_sqlite() {
        run(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_operator_service_on_loopback_judges_every_output_postgres() {
        run(Backend::Postgres).await;
    }
}
