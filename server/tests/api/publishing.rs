//! The public gallery (publish, unpublish, the access matrix of its pages
//! and media, reports and moderation hiding, indexing of share pages) and
//! the 7-day expiry reminder with a clock the test controls.

#![allow(clippy::unwrap_used)]

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use uni1_domain::entities::{image, mail_outbox, moderation_flag};
use uni1_domain::generation::ContentPolicy;
use uni1_domain::library::publishing::{PublishError, Publishing};

use crate::fixtures::{images, member};
use crate::on_both_backends;
use crate::support::TestApp;

on_both_backends!(
    only_published_images_are_public,
    |app: TestApp| async move {
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.80").await;
        let (bob, _) = member(&app, "bob@uni1.test", "203.0.113.81").await;
        let imgs = images(&app, alice_id, "key-pub-a-0001", "a glass lighthouse", 2).await;
        let (img, other) = (imgs[0].id.to_string(), imgs[1].id.to_string());

        // Private by default: nothing in Explore, the public routes are 404.
        let explore = app.get("/explore").await;
        assert_eq!(explore.status, 200);
        assert!(explore.body.contains("Nothing has been published yet."));
        assert_eq!(app.get(&format!("/p/{img}")).await.status, 404);
        assert_eq!(app.get(&format!("/p/{img}/thumb")).await.status, 404);

        // Only the owner can publish.
        let r = app
            .post_as("/api/publish", &[("id", &img), ("published", "true")], &bob)
            .await;
        assert_eq!(r.status, 404);
        let r = app
            .post_as(
                "/api/publish",
                &[("id", &img), ("published", "true")],
                &alice,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body, "true");

        // Now anyone sees it: listed, its page indexable with previews, the
        // thumbnail and preview served; the original stays private; the other
        // image stays private.
        let explore = app.get("/explore").await;
        assert_eq!(
            explore.body.matches("data-testid=\"explore-item\"").count(),
            1
        );
        assert!(explore.body.contains(&format!("href=\"/p/{img}\"")));
        assert!(!explore.body.contains(&other));
        let page = app.get(&format!("/p/{img}")).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("a glass lighthouse"));
        assert!(!page.body.contains("noindex"));
        assert!(
            page.body.contains(&format!(
                "property=\"og:image\" content=\"http://uni1.test/p/{img}/preview\""
            )),
            "{}",
            page.body
        );
        assert!(
            !page.body.contains("alice@uni1.test"),
            "the owner stays anonymous"
        );
        for variant in ["thumb", "preview"] {
            let r = app.get(&format!("/p/{img}/{variant}")).await;
            assert_eq!(r.status, 200);
            assert_eq!(r.header("cache-control"), Some("public, no-cache"));
            assert!(r.bytes.starts_with(b"RIFF"));
        }
        assert_eq!(app.get(&format!("/p/{img}/original")).await.status, 404);
        assert_eq!(app.get(&format!("/p/{other}/thumb")).await.status, 404);

        // A share link to a published image may be indexed; to a private one not.
        let share = |id: String| {
            let app = app.clone();
            let alice = alice.clone();
            async move {
                let r = app
                    .post_as(
                        "/api/share-create",
                        &[("image", &id), ("expires_in_days", "")],
                        &alice,
                    )
                    .await;
                let url = r.json()["url"].as_str().unwrap().to_owned();
                app.get(url.strip_prefix(crate::support::ORIGIN).unwrap())
                    .await
            }
        };
        assert!(!share(img.clone()).await.body.contains("noindex"));
        assert!(share(other.clone()).await.body.contains("noindex"));

        // Reports: anyone, checked, kept for moderators.
        let r = app
            .post_form("/api/explore-report", &[("id", &img), ("reason", " ")])
            .await;
        assert_eq!(r.status, 422);
        let r = app
            .post_form(
                "/api/explore-report",
                &[("id", &img), ("reason", "This copies my artwork.")],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = app
            .post_form("/api/explore-report", &[("id", &other), ("reason", "x")])
            .await;
        assert_eq!(r.status, 404, "private images cannot be reported");
        let flag = moderation_flag::Entity::find()
            .filter(moderation_flag::Column::Source.eq("report"))
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(flag.image_id, Some(imgs[0].id));
        assert_eq!(flag.user_id, alice_id);
        assert_eq!(flag.reason, "This copies my artwork.");

        // Unpublishing takes it out at once.
        let r = app
            .post_as(
                "/api/publish",
                &[("id", &img), ("published", "false")],
                &alice,
            )
            .await;
        assert_eq!(r.body, "false");
        assert_eq!(app.get(&format!("/p/{img}")).await.status, 404);
        assert_eq!(app.get(&format!("/p/{img}/thumb")).await.status, 404);

        // Moderation hides it for good: the owner cannot publish it again.
        let publishing = Publishing::new(app.db.clone());
        app.post_as(
            "/api/publish",
            &[("id", &img), ("published", "true")],
            &alice,
        )
        .await;
        assert!(publishing.hide(imgs[0].id).await.unwrap());
        assert_eq!(app.get(&format!("/p/{img}")).await.status, 404);
        let r = app
            .post_as(
                "/api/publish",
                &[("id", &img), ("published", "true")],
                &alice,
            )
            .await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("moderation"), "{}", r.body);

        // Publishing checks the prompt against the current content policy.
        let strict = ContentPolicy::new(["lighthouse".to_owned()]);
        assert!(matches!(
            publishing
                .set_published(&strict, alice_id, imgs[1].id, true)
                .await,
            Err(PublishError::Refused(_))
        ));
        // An expired image cannot be published, and a published one leaves the
        // public gallery when it expires.
        publishing
            .set_published(
                &ContentPolicy::new(Vec::<String>::new()),
                alice_id,
                imgs[1].id,
                true,
            )
            .await
            .unwrap();
        assert_eq!(app.get(&format!("/p/{other}")).await.status, 200);
        uni1_domain::generation::retention::sweep_expired(&app.gens, imgs[1].expires_at, 10)
            .await
            .unwrap();
        assert_eq!(app.get(&format!("/p/{other}")).await.status, 404);
        assert!(matches!(
            publishing
                .set_published(
                    &ContentPolicy::new(Vec::<String>::new()),
                    alice_id,
                    imgs[1].id,
                    true
                )
                .await,
            Err(PublishError::Expired)
        ));
    }
);

on_both_backends!(
    public_gallery_pages_newest_first,
    |app: TestApp| async move {
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.82").await;
        let imgs = images(&app, alice_id, "key-pub-p-0001", "paging stars", 4).await;
        let publishing = Publishing::new(app.db.clone());
        let open = ContentPolicy::new(Vec::<String>::new());
        for img in &imgs {
            publishing
                .set_published(&open, alice_id, img.id, true)
                .await
                .unwrap();
        }
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = publishing.page(cursor, 3).await.unwrap();
            seen.extend(page.items.iter().map(|i| i.id));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let mut expected: Vec<_> = imgs.iter().map(|i| i.id).collect();
        expected.sort_unstable();
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, expected, "every image once");
        // The More link of the page works over HTTP.
        let first = app.post_as("/api/explore", &[], &alice).await.json();
        assert_eq!(first["items"].as_array().unwrap().len(), 4);
        let r = app
            .post_as("/api/explore", &[("cursor", "garbage")], &alice)
            .await;
        assert_eq!(r.status, 422);
    }
);

on_both_backends!(
    expiry_reminders_go_once_to_those_who_opted_in,
    |app: TestApp| async move {
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.83").await;
        let (_bob, bob_id) = member(&app, "bob@uni1.test", "203.0.113.84").await;
        let a = images(&app, alice_id, "key-rem-a-0001", "reminder sunrise", 2).await;
        let later = images(&app, alice_id, "key-rem-a-0002", "reminder noon", 1).await;
        let b = images(&app, bob_id, "key-rem-b-0001", "reminder sunset", 1).await;

        // Off by default; Alice turns it on (Settings), Bob does not.
        let r = app.post_as("/api/reminders", &[], &alice).await;
        assert_eq!(r.json()["on"], false);
        assert_eq!(r.json()["retention_days"], 90);
        let r = app
            .post_as("/api/reminders-set", &[("on", "true")], &alice)
            .await;
        assert_eq!(r.body, "true");
        assert_eq!(
            app.post_as("/api/reminders", &[], &alice).await.json()["on"],
            true
        );
        // The switch lives on Settings -> Notifications (MAIL-2).
        let settings = app.get_as("/settings/notifications", &alice).await;
        assert!(settings.body.contains("On: a mail 7 days before"));

        let ctx = uni1_domain::mail::MailContext {
            base_url: crate::support::ORIGIN.into(),
            operator_name: "uni1 test".into(),
            operator_email: "privacy@uni1.test".into(),
        };
        let set_expiry = |id: uuid::Uuid, at: chrono::DateTime<chrono::Utc>| {
            let db = app.db.clone();
            async move {
                image::Entity::update_many()
                    .col_expr(image::Column::ExpiresAt, Expr::value(at))
                    .filter(image::Column::Id.eq(id))
                    .exec(&db)
                    .await
                    .unwrap();
            }
        };
        let expires = a[0].expires_at;
        let (hour, day) = (chrono::Duration::hours(1), chrono::Duration::days(1));
        // The second image ends half a day after the first (as if made later
        // that day); the third 44 hours after the first.
        set_expiry(a[1].id, expires + hour * 12).await;
        set_expiry(later[0].id, expires + hour * 44).await;
        let run = |at| uni1_domain::library::reminders::queue_due(&app.db, &ctx, &app.key, at, 50);
        let reminder_mails = || async {
            mail_outbox::Entity::find()
                .filter(mail_outbox::Column::Kind.eq("expiry_reminder"))
                .all(&app.db)
                .await
                .unwrap()
        };

        // 8 days before: too early.
        assert_eq!(run(expires - day * 8).await.unwrap(), 0);
        // 7 days before: one mail to Alice about both images of that day (the
        // second crosses the 7-day mark within the next day), none to Bob.
        let due = expires - day * 7 + chrono::Duration::minutes(1);
        assert_eq!(run(due).await.unwrap(), 1);
        let mails = reminder_mails().await;
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].user_id, Some(alice_id));
        assert_eq!(mails[0].to_address, "alice@uni1.test");
        assert!(
            mails[0].subject.starts_with("2 of your images"),
            "{}",
            mails[0].subject
        );
        let bodies = uni1_domain::mail::open_bodies(&app.key, &mails[0]).unwrap();
        assert!(bodies.text.contains("http://uni1.test/gallery"));
        // Not transactional: the one-click unsubscribe link and header.
        assert!(bodies.text.contains("http://uni1.test/unsubscribe/"));
        assert!(mails[0]
            .list_unsubscribe
            .as_deref()
            .is_some_and(|h| h.contains("expiry_reminders")));
        // The third image was not in it (it ends more than a day later); it
        // gets its own mail when it comes within 7 days, and never twice.
        assert_eq!(run(due + day).await.unwrap(), 0);
        assert_eq!(run(due + hour * 44).await.unwrap(), 1);
        assert_eq!(run(due + day * 3).await.unwrap(), 0);
        let mails = reminder_mails().await;
        assert_eq!(mails.len(), 2);
        assert!(mails
            .iter()
            .any(|m| m.subject.starts_with("One of your images")));
        assert_eq!(
            image::Entity::find()
                .filter(image::Column::UserId.eq(alice_id))
                .filter(image::Column::RemindedAt.is_not_null())
                .count(&app.db)
                .await
                .unwrap(),
            3
        );
        // Bob opts in late: his image, already inside the 7 days, is reminded
        // about on the next run; an image already expired is not.
        set_expiry(b[0].id, due + day * 3).await;
        uni1_domain::library::reminders::set_opt_in(&app.db, bob_id, true)
            .await
            .unwrap();
        assert_eq!(
            run(due + day * 4).await.unwrap(),
            0,
            "already expired by then"
        );
        assert_eq!(run(due).await.unwrap(), 1);
        assert!(reminder_mails()
            .await
            .iter()
            .any(|m| m.user_id == Some(bob_id) && m.subject.starts_with("One of your images")));
    }
);
