//! The gallery over HTTP and through its service: keyset pages that stay
//! right while images come and go, search and filters, favourites, deletion
//! of files and records, owner scoping, bad cursors, and two queries a page.

// Helpers outside `#[test]` functions: a failed setup step should panic.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use uni1_domain::entities::{generation, image};
use uni1_domain::library::gallery::{Cursor, Gallery, GalleryQuery};
use uuid::Uuid;

use crate::fixtures::{drain, input, member};
use crate::on_both_backends;
use crate::support::{TestApp, Visitor};

/// Makes `count` images for `user` with the builtin model and waits for them.
async fn make(
    app: &TestApp,
    user: Uuid,
    key: &str,
    prompt: &str,
    aspect: &str,
    count: u32,
) -> Uuid {
    let mut sub = input(key, prompt, count);
    sub.aspect_ratio = aspect.into();
    let v = app.gens.submit(user, true, sub).await.unwrap();
    drain(&app.gens, Duration::from_secs(30)).await;
    let row = generation::Entity::find_by_id(v.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status.as_str(), "succeeded", "{:?}", row.error_detail);
    v.id
}

/// The images of `user`, newest first, straight from the table.
async fn all_images(app: &TestApp, user: Uuid) -> Vec<image::Model> {
    image::Entity::find()
        .filter(image::Column::UserId.eq(user))
        .order_by_desc(image::Column::CreatedAt)
        .order_by_desc(image::Column::Id)
        .all(&app.db)
        .await
        .unwrap()
}

/// The ids on one gallery page fetched over HTTP with `form`.
async fn page_ids(app: &TestApp, who: &Visitor, form: &[(&str, &str)]) -> Vec<String> {
    let r = app.post_as("/api/gallery", form, who).await;
    assert_eq!(r.status, 200, "{form:?}: {}", r.body);
    r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

on_both_backends!(search_filters_and_favorites, |app: TestApp| async move {
    let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.40").await;
    let (bob, bob_id) = member(&app, "bob@uni1.test", "203.0.113.41").await;
    let fox = make(
        &app,
        alice_id,
        "key-gal-fox-01",
        "A Red fox in SNOW",
        "1:1",
        2,
    )
    .await;
    let whale = make(
        &app,
        alice_id,
        "key-gal-whale1",
        "blue whale 50% off_sale",
        "16:9",
        1,
    )
    .await;
    let barn = make(&app, alice_id, "key-gal-barn-01", "red barn", "1:1", 1).await;
    make(&app, bob_id, "key-gal-bob-001", "red bob", "1:1", 1).await;
    let images = all_images(&app, alice_id).await;
    assert_eq!(images.len(), 4);
    let of = |g: Uuid| -> HashSet<String> {
        images
            .iter()
            .filter(|i| i.generation_id == g)
            .map(|i| i.id.to_string())
            .collect()
    };
    let set = |v: Vec<String>| v.into_iter().collect::<HashSet<_>>();

    // Everything, newest first, with the generation's settings.
    let r = app.post_as("/api/gallery", &[], &alice).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let page = r.json();
    let items = page["items"].as_array().unwrap();
    let ids: Vec<String> = items
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    let newest_first: Vec<String> = images.iter().map(|i| i.id.to_string()).collect();
    assert_eq!(ids, newest_first);
    assert_eq!(items[0]["prompt"], "red barn");
    assert_eq!(items[0]["model_id"], "builtin");
    assert_eq!(items[0]["seed"], 7);
    assert_eq!(items[0]["days_left"], 90);
    assert!(items[0]["expired_on"].is_null());
    assert!(page["next_cursor"].is_null());
    assert!(page["aspect_ratios"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "16:9"));

    // Text: case-insensitive, and % and _ are plain characters.
    let q = |text: &'static str| [("q", text)];
    let mut red = of(fox);
    red.extend(of(barn));
    assert_eq!(set(page_ids(&app, &alice, &q("red")).await), red);
    assert_eq!(set(page_ids(&app, &alice, &q("RED FOX")).await), of(fox));
    assert_eq!(set(page_ids(&app, &alice, &q("50%")).await), of(whale));
    assert_eq!(set(page_ids(&app, &alice, &q("%")).await), of(whale));
    assert_eq!(set(page_ids(&app, &alice, &q("_")).await), of(whale));
    assert!(page_ids(&app, &alice, &q("a%z")).await.is_empty());
    assert!(
        page_ids(&app, &alice, &q("bob")).await.is_empty(),
        "only her own"
    );

    // Model and aspect ratio.
    assert_eq!(
        page_ids(&app, &alice, &[("model", "builtin")]).await.len(),
        4
    );
    assert!(page_ids(&app, &alice, &[("model", "other")])
        .await
        .is_empty());
    assert_eq!(
        set(page_ids(&app, &alice, &[("aspect_ratio", "16:9")]).await),
        of(whale)
    );
    assert_eq!(
        set(page_ids(&app, &alice, &[("aspect_ratio", "1:1"), ("q", "barn")]).await),
        of(barn)
    );

    // Dates (UTC, inclusive).
    let today = chrono::Utc::now().date_naive();
    let day = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
    let (t, y, tm) = (
        day(today),
        day(today.pred_opt().unwrap()),
        day(today.succ_opt().unwrap()),
    );
    assert_eq!(
        page_ids(&app, &alice, &[("from", &t), ("to", &t)])
            .await
            .len(),
        4
    );
    assert!(page_ids(&app, &alice, &[("to", &y)]).await.is_empty());
    assert!(page_ids(&app, &alice, &[("from", &tm)]).await.is_empty());
    let r = app
        .post_as("/api/gallery", &[("from", &tm), ("to", &y)], &alice)
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("end date is before"), "{}", r.body);
    let r = app
        .post_as("/api/gallery", &[("from", "yesterday")], &alice)
        .await;
    assert_eq!(r.status, 422, "{}", r.body);

    // Favourites: only the owner can mark them.
    let whale_img = of(whale).into_iter().next().unwrap();
    assert!(page_ids(&app, &alice, &[("favorites", "1")])
        .await
        .is_empty());
    let r = app
        .post_as(
            "/api/gallery-favorite",
            &[("id", &whale_img), ("favorite", "true")],
            &alice,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), serde_json::json!(true));
    assert_eq!(
        page_ids(&app, &alice, &[("favorites", "1")]).await,
        vec![whale_img.clone()]
    );
    let r = app
        .post_as(
            "/api/gallery-favorite",
            &[("id", &whale_img), ("favorite", "false")],
            &bob,
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        page_ids(&app, &alice, &[("favorites", "1")]).await.len(),
        1,
        "Bob changed nothing"
    );
    let r = app
        .post_as(
            "/api/gallery-favorite",
            &[("id", &whale_img), ("favorite", "false")],
            &alice,
        )
        .await;
    assert_eq!(r.json(), serde_json::json!(false));
    assert!(page_ids(&app, &alice, &[("favorites", "1")])
        .await
        .is_empty());

    // Details: every setting, for the owner only, with a link to reuse them.
    let r = app
        .post_as("/api/gallery-image", &[("id", &whale_img)], &alice)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = r.json();
    assert_eq!(d["item"]["prompt"], "blue whale 50% off_sale");
    assert_eq!(d["item"]["aspect_ratio"], "16:9");
    assert_eq!(d["position"], "1 of 1");
    assert_eq!(d["seed_used"], 7);
    assert_eq!(d["status"], "succeeded");
    assert_eq!(
        d["reuse_href"],
        "/studio?prompt=blue%20whale%2050%25%20off_sale&model=builtin&aspect_ratio=16%3A9&seed=7"
    );
    let plain = app.get_as("/studio", &alice).await;
    let at = plain.body.find("id=\"field-prompt\"").unwrap();
    let end = plain.body[at..].find("</textarea>").unwrap();
    assert!(
        plain.body[at..at + end].ends_with('>'),
        "an empty prompt: {}",
        &plain.body[at..at + end + 11]
    );
    // The studio starts from those settings.
    let r = app.get_as(d["reuse_href"].as_str().unwrap(), &alice).await;
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains(">blue whale 50% off_sale</textarea>"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains(r#"<option value="16:9" selected"#),
        "{}",
        r.body
    );
    assert!(r.body.contains(r#"value="7""#), "{}", r.body);
    // Markup in a prompt stays text.
    let r = app
        .get_as("/studio?prompt=%3C%2Ftextarea%3E%3Cb%3Ex%26", &alice)
        .await;
    assert!(r
        .body
        .contains(">&lt;/textarea&gt;&lt;b&gt;x&amp;</textarea>"));
    let as_bob = app
        .post_as("/api/gallery-image", &[("id", &whale_img)], &bob)
        .await;
    let missing = app
        .post_as(
            "/api/gallery-image",
            &[("id", &Uuid::now_v7().to_string())],
            &alice,
        )
        .await;
    assert_eq!(as_bob.status, 404);
    assert_eq!(as_bob.body, missing.body);

    // The pages: thumbnails and filters in the HTML, without JavaScript.
    let r = app.get_as("/gallery?q=whale", &alice).await;
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains(&format!("/media/{whale_img}/thumb")),
        "{}",
        r.body
    );
    assert!(!r.body.contains("red barn"));
    // The first row paints first: not lazy.
    assert!(r.body.contains(r#"loading="eager""#));
    assert!(r.body.contains(r#"method="get""#));
    let r = app.get_as(&format!("/gallery/{whale_img}"), &alice).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Reuse these settings"));
    assert!(r
        .body
        .contains(&format!("/media/{whale_img}/original?download=1")));
    assert!(r.body.contains("90 days left"));
    let r = app.get_as(&format!("/gallery/{whale_img}"), &bob).await;
    assert_eq!(r.status, 404);
    // Signed out: 401 and a way to sign in.
    let r = app.get("/gallery").await;
    assert_eq!(r.status, 401);
    assert!(r.body.contains("/sign-in?next=/gallery"));
    let r = app.post_form("/api/gallery", &[]).await;
    assert_eq!(r.status, 401);
});

on_both_backends!(
    pages_stay_right_while_images_come_and_go,
    |app: TestApp| async move {
        let (_alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.42").await;
        // Pairs share a timestamp, so page ends fall between equal created_at.
        for i in 0..5 {
            make(
                &app,
                alice_id,
                &format!("key-page-{i:05}"),
                &format!("picture {i}"),
                "1:1",
                2,
            )
            .await;
        }
        let before: Vec<Uuid> = all_images(&app, alice_id)
            .await
            .iter()
            .map(|i| i.id)
            .collect();
        assert_eq!(before.len(), 10);
        let gallery = Gallery::new(app.db.clone());
        let any = GalleryQuery::default();

        let p1 = gallery.page(alice_id, &any, None, 3).await.unwrap();
        assert_eq!(p1.items.len(), 3);
        let mut seen: Vec<Uuid> = p1.items.iter().map(|i| i.id).collect();
        assert_eq!(seen, before[..3]);

        // Between pages: new images arrive, the last one shown is deleted, and so
        // is one not shown yet.
        make(&app, alice_id, "key-page-new-1", "newer", "1:1", 2).await;
        let unseen_deleted = before[5];
        let out = gallery
            .delete(&app.gens.blobs, alice_id, &[before[2], unseen_deleted])
            .await
            .unwrap();
        assert_eq!(out.deleted.len(), 2);

        let mut cursor = p1.next_cursor;
        let mut pages = 1;
        while let Some(c) = cursor {
            // The cursor goes through its text form, as a "More" link carries it.
            let c = Cursor::parse(&c.encode()).unwrap();
            let p = gallery.page(alice_id, &any, Some(c), 3).await.unwrap();
            seen.extend(p.items.iter().map(|i| i.id));
            cursor = p.next_cursor;
            pages += 1;
            if pages == 2 {
                make(&app, alice_id, "key-page-new-2", "newest", "1:1", 1).await;
            }
            assert!(pages < 10);
        }
        let unique: HashSet<Uuid> = seen.iter().copied().collect();
        assert_eq!(unique.len(), seen.len(), "no duplicates: {seen:?}");
        let expected: Vec<Uuid> = before
            .iter()
            .copied()
            .filter(|id| *id != unseen_deleted)
            .collect();
        assert_eq!(seen, expected, "no gaps, in order, nothing new mid-way");
    }
);

on_both_backends!(
    delete_removes_files_and_records_of_the_owner_only,
    |app: TestApp| async move {
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.43").await;
        let (bob, bob_id) = member(&app, "bob@uni1.test", "203.0.113.44").await;
        let gen_a = make(&app, alice_id, "key-del-alice1", "to delete", "1:1", 2).await;
        make(&app, bob_id, "key-del-bob-01", "bob's", "1:1", 1).await;
        let mine = all_images(&app, alice_id).await;
        let theirs = all_images(&app, bob_id).await;
        let (a0, a1, b0) = (&mine[0], &mine[1], &theirs[0]);
        let paths = |i: &image::Model| {
            [
                i.original_path.clone(),
                i.preview_path.clone(),
                i.thumb_path.clone(),
            ]
        };
        for p in paths(a0).iter().chain(paths(b0).iter()) {
            assert!(app.gens.blobs.exists(p).await.unwrap(), "{p}");
        }

        // Bob naming Alice's image: "not found", and nothing happens.
        let r = app
            .post_as("/api/gallery-delete", &[("ids", &a0.id.to_string())], &bob)
            .await;
        assert_eq!(r.status, 404, "{}", r.body);
        for p in paths(a0) {
            assert!(app.gens.blobs.exists(&p).await.unwrap(), "{p} kept");
        }

        // Alice deleting hers and Bob's: hers go (files and record), Bob's is
        // ignored and counted as not found.
        let ids = format!("{},{}", a0.id, b0.id);
        let r = app
            .post_as("/api/gallery-delete", &[("ids", &ids)], &alice)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json(), serde_json::json!({"deleted": 1, "not_found": 1}));
        for p in paths(a0) {
            assert!(!app.gens.blobs.exists(&p).await.unwrap(), "{p} deleted");
        }
        assert!(image::Entity::find_by_id(a0.id)
            .one(&app.db)
            .await
            .unwrap()
            .is_none());
        for p in paths(b0) {
            assert!(app.gens.blobs.exists(&p).await.unwrap(), "{p} kept");
        }
        assert!(image::Entity::find_by_id(b0.id)
            .one(&app.db)
            .await
            .unwrap()
            .is_some());
        // The other image of the generation and the generation itself stay.
        assert!(app.gens.blobs.exists(&a1.original_path).await.unwrap());
        assert!(generation::Entity::find_by_id(gen_a)
            .one(&app.db)
            .await
            .unwrap()
            .is_some());
        assert_eq!(page_ids(&app, &alice, &[]).await, vec![a1.id.to_string()]);
        // The media route no longer serves it.
        let r = app.get_as(&format!("/media/{}/thumb", a0.id), &alice).await;
        assert_eq!(r.status, 404);
        // Deleting it again: not found.
        let r = app
            .post_as(
                "/api/gallery-delete",
                &[("ids", &a0.id.to_string())],
                &alice,
            )
            .await;
        assert_eq!(r.status, 404);

        // The service says which ids were not found.
        let out = Gallery::new(app.db.clone())
            .delete(&app.gens.blobs, bob_id, &[a1.id, b0.id, Uuid::now_v7()])
            .await
            .unwrap();
        assert_eq!(out.deleted, vec![b0.id]);
        assert_eq!(out.not_found.len(), 2);
        assert!(out.not_found.contains(&a1.id));
        assert!(app.gens.blobs.exists(&a1.original_path).await.unwrap());
        assert_eq!(image::Entity::find().count(&app.db).await.unwrap(), 1);

        // From the image's own page, the browser goes back to the gallery.
        let r = app
            .post_as(
                "/api/gallery-delete",
                &[("ids", &a1.id.to_string()), ("after", "gallery")],
                &alice,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("location"), Some("/gallery"));
        assert_eq!(image::Entity::find().count(&app.db).await.unwrap(), 0);
    }
);

on_both_backends!(a_bad_cursor_is_a_clear_error, |app: TestApp| async move {
    let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.45").await;
    make(&app, alice_id, "key-cursor-001", "cursor", "1:1", 1).await;
    let valid = Gallery::new(app.db.clone())
        .page(alice_id, &GalleryQuery::default(), None, 1)
        .await
        .unwrap()
        .items[0]
        .clone();
    let good = Cursor::after(&valid).encode();
    for bad in ["garbage!", "AAAA", &good[..good.len() - 3]] {
        let r = app
            .post_as("/api/gallery", &[("cursor", bad)], &alice)
            .await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
        assert!(r.body.contains("page link is not valid"), "{}", r.body);
        assert!(r.body.contains("cursor"), "names the field: {}", r.body);
    }
    // A valid cursor past the last image: an empty page, not an error.
    let r = app
        .post_as("/api/gallery", &[("cursor", &good)], &alice)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["items"].as_array().unwrap().is_empty());
    // The page says it in words, with the way back.
    let r = app.get_as("/gallery?cursor=garbage", &alice).await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("page link is not valid"));
    assert!(r.body.contains(r#"href="/gallery""#));
});

on_both_backends!(a_page_costs_two_queries, |app: TestApp| async move {
    let (_alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.46").await;
    for i in 0..3 {
        make(
            &app,
            alice_id,
            &format!("key-count-{i:04}"),
            &format!("count {i}"),
            "1:1",
            3,
        )
        .await;
    }
    // Statements are counted by SeaORM's metric callback on a copy of the
    // connection that only this service uses.
    let statements = Arc::new(AtomicUsize::new(0));
    let mut db = app.db.clone();
    let counter = statements.clone();
    db.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let gallery = Gallery::new(db);
    let filtered = GalleryQuery {
        text: Some("count".into()),
        model_id: Some("builtin".into()),
        aspect_ratio: Some("1:1".into()),
        from: Some(chrono::Utc::now().date_naive()),
        to: Some(chrono::Utc::now().date_naive()),
        favorites_only: false,
        collection_id: None,
        downloadable_only: false,
        without_hidden: false,
    };
    for (query, limit) in [
        (GalleryQuery::default(), 1),
        (GalleryQuery::default(), 4),
        (GalleryQuery::default(), 100),
        (filtered.clone(), 2),
        (filtered, 50),
    ] {
        statements.store(0, Ordering::SeqCst);
        let page = gallery.page(alice_id, &query, None, limit).await.unwrap();
        assert_eq!(page.items.len() as u64, limit.min(9));
        assert_eq!(
            statements.load(Ordering::SeqCst),
            2,
            "limit {limit}, {query:?}"
        );
        if let Some(c) = page.next_cursor {
            statements.store(0, Ordering::SeqCst);
            gallery
                .page(alice_id, &query, Some(c), limit)
                .await
                .unwrap();
            assert_eq!(statements.load(Ordering::SeqCst), 2, "next page");
        }
    }
    // An empty page needs only the first.
    statements.store(0, Ordering::SeqCst);
    let none = GalleryQuery {
        favorites_only: true,
        ..Default::default()
    };
    assert!(gallery
        .page(alice_id, &none, None, 10)
        .await
        .unwrap()
        .items
        .is_empty());
    assert_eq!(statements.load(Ordering::SeqCst), 1);
});

on_both_backends!(
    more_link_and_expired_images_without_javascript,
    |app: TestApp| async move {
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.47").await;
        // One more image than a page holds.
        for i in 0..6 {
            make(
                &app,
                alice_id,
                &format!("key-more-{i:05}"),
                "many",
                "1:1",
                4,
            )
            .await;
        }
        make(&app, alice_id, "key-more-last", "many", "1:1", 1).await;
        let all: Vec<String> = all_images(&app, alice_id)
            .await
            .iter()
            .map(|i| i.id.to_string())
            .collect();
        assert_eq!(all.len() as u64, uni1_app::gallery::PAGE_SIZE + 1);

        // The first page links to the next with a plain <a>, filters kept.
        let r = app.get_as("/gallery?q=many", &alice).await;
        assert_eq!(r.status, 200);
        let at = r
            .body
            .find("data-testid=\"gallery-more\"")
            .expect("a More link");
        let start = r.body[..at].rfind("href=\"").unwrap() + 6;
        let href = r.body[start..start + r.body[start..].find('"').unwrap()].replace("&amp;", "&");
        assert!(href.starts_with("/gallery?q=many&cursor="), "{href}");
        let last = &all[all.len() - 1];
        assert!(!r.body.contains(&format!("/media/{last}/thumb")));
        let r = app.get_as(&href, &alice).await;
        assert_eq!(r.status, 200);
        assert!(
            r.body.contains(&format!("/media/{last}/thumb")),
            "the last image"
        );
        assert_eq!(r.body.matches("data-testid=\"gallery-item\"").count(), 1);
        assert!(
            !r.body.contains("data-testid=\"gallery-more\""),
            "no more pages"
        );
        assert!(r.body.contains(">Newest<"));

        // An image past its download window: no thumbnail, the date it expired,
        // and its settings are still there.
        let img = image::Entity::find()
            .filter(image::Column::UserId.eq(alice_id))
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        let end = img.expires_at + chrono::Duration::seconds(1);
        uni1_domain::generation::retention::sweep_expired(&app.gens, end, 100)
            .await
            .unwrap();
        let r = app
            .post_as("/api/gallery-image", &[("id", &img.id.to_string())], &alice)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let d = r.json();
        assert_eq!(d["item"]["days_left"], 0);
        let day = end.format("%Y-%m-%d").to_string();
        assert_eq!(d["item"]["expired_on"], day.as_str());
        let r = app.get_as(&format!("/gallery/{}", img.id), &alice).await;
        assert_eq!(r.status, 200);
        assert!(r.body.contains(&format!("Expired on {day}")));
        assert!(!r.body.contains(&format!("/media/{}/preview", img.id)));
        assert!(r.body.contains("Reuse these settings"));
    }
);

on_both_backends!(
    the_migration_fills_existing_rows_and_rolls_back,
    |app: TestApp| async move {
        use uni1_migration::MigratorTrait as _;
        let (_alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.48").await;
        // An existing image survives the gallery migration going down and
        // up again, and comes back as "not a favourite".
        make(&app, alice_id, "key-migrate-01", "older", "1:1", 1).await;
        let gallery = Gallery::new(app.db.clone());
        let first = gallery
            .page(alice_id, &GalleryQuery::default(), None, 10)
            .await
            .unwrap();
        assert!(gallery
            .set_favorite(alice_id, first.items[0].id, true)
            .await
            .unwrap());
        // Undo the gallery migration (and every later one), then redo all.
        let all = uni1_migration::Migrator::migrations();
        let gallery_at = all
            .iter()
            .position(|m| m.name() == "m20261124_000007_gallery")
            .expect("the gallery migration");
        let steps = u32::try_from(all.len() - gallery_at).unwrap();
        uni1_migration::Migrator::down(&app.db, Some(steps))
            .await
            .unwrap();
        uni1_migration::Migrator::up(&app.db, None).await.unwrap();
        let gallery = Gallery::new(app.db.clone());
        let page = gallery
            .page(alice_id, &GalleryQuery::default(), None, 10)
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1);
        assert!(!page.items[0].favorite, "existing rows are not favourites");
        assert!(gallery
            .set_favorite(alice_id, page.items[0].id, true)
            .await
            .unwrap());
    }
);

on_both_backends!(
    variations_remember_their_parent,
    |app: TestApp| async move {
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.70").await;
        let (bob, _) = member(&app, "bob@uni1.test", "203.0.113.71").await;
        let first = make(&app, alice_id, "key-parent-001", "a paper boat", "1:1", 1).await;
        let parent = image::Entity::find()
            .filter(image::Column::GenerationId.eq(first))
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
            .id
            .to_string();
        // The details page offers a variation that names this image as parent.
        let d = app
            .post_as("/api/gallery-image", &[("id", &parent)], &alice)
            .await;
        assert_eq!(d.status, 200, "{}", d.body);
        let variation = d.json()["variation_href"].as_str().unwrap().to_owned();
        assert!(
            variation.ends_with(&format!("&parent={parent}")),
            "{variation}"
        );
        assert!(!variation.contains("seed="), "a variation gets a new seed");

        let form = |key: &'static str, parent: String| {
            vec![
                ("form_key", key.to_string()),
                ("model", "builtin".into()),
                ("prompt", "a paper boat".into()),
                ("aspect_ratio", "1:1".into()),
                ("count", "1".into()),
                ("parent", parent),
            ]
        };

        // Someone else's image cannot be a parent.
        let theirs = form("key-parent-bob1", parent.clone());
        let r = app.post_as("/api/generate", &refs(&theirs), &bob).await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("parent"), "{}", r.body);

        let mine = form("key-parent-002", parent.clone());
        let r = app.post_as("/api/generate", &refs(&mine), &alice).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let child_job = uuid::Uuid::parse_str(r.json()["id"].as_str().unwrap()).unwrap();
        drain(&app.gens, Duration::from_secs(20)).await;
        let row = generation::Entity::find_by_id(child_job)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.parent_id.map(|p| p.to_string()), Some(parent.clone()));
        let child = image::Entity::find()
            .filter(image::Column::GenerationId.eq(child_job))
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        let d = app
            .post_as(
                "/api/gallery-image",
                &[("id", &child.id.to_string())],
                &alice,
            )
            .await;
        assert_eq!(d.json()["parent_href"], format!("/gallery/{parent}"));
        let page = app.get_as(&format!("/gallery/{}", child.id), &alice).await;
        assert!(
            page.body.contains(&format!("href=\"/gallery/{parent}\"")),
            "the lineage is followable"
        );
    }
);

fn refs<'a>(f: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    f.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

on_both_backends!(
    zip_downloads_run_at_most_two_at_once_per_person,
    |app: TestApp| async move {
        use uni1_domain::support::rate_limit::ZIP_STREAMS_PER_PERSON;
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.90").await;
        let img = crate::fixtures::images(&app, alice_id, "key-zip-limit", "zipped", 1)
            .await
            .remove(0);
        let zip = || {
            crate::fixtures::open_as(
                &app,
                http::Request::post("/gallery/selection")
                    .header("content-type", "application/x-www-form-urlencoded"),
                axum::body::Body::from(format!("action=download&id={}", img.id)),
                &alice,
            )
        };
        // Responses kept unread: their downloads are still running.
        let mut running = Vec::new();
        for _ in 0..ZIP_STREAMS_PER_PERSON {
            let r = zip().await;
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["content-type"], "application/zip");
            running.push(r);
        }
        let r = zip().await;
        assert_eq!(r.status(), 429);
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&bytes).contains("already downloading 2 ZIP files"));
        // A finished download frees its slot.
        let done = running.pop().unwrap();
        let bytes = axum::body::to_bytes(done.into_body(), usize::MAX)
            .await
            .unwrap();
        assert!(bytes.starts_with(b"PK"));
        let r = zip().await;
        assert_eq!(r.status(), 200);
        drop(running);
    }
);

on_both_backends!(
    the_delete_confirmation_shows_only_uuid_ids,
    |app: TestApp| async move {
        let (alice, _) = member(&app, "alice@uni1.test", "203.0.113.91").await;
        let good = uuid::Uuid::now_v7().to_string();
        // 36 characters, like an id, but a path elsewhere.
        let bad = "../../settings/sharing?aaaaaaaaaaaaa";
        assert_eq!(bad.len(), 36);
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("ids", &format!("{good},{bad}"))
            .finish();
        let r = app.get_as(&format!("/delete-images?{query}"), &alice).await;
        assert_eq!(r.status, 200);
        assert!(
            r.body.contains(&format!("src=\"/media/{good}/thumb\"")),
            "{}",
            r.body
        );
        assert!(!r.body.contains("settings/sharing"), "{}", r.body);
        assert!(r.body.contains("This deletes 1 image"));
    }
);
