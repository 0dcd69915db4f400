//! Share links: the access matrix (owner, another person, anonymous, wrong,
//! revoked and expired links, expired images) and what the page carries for
//! link previews and crawlers.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uni1_domain::entities::{image, share_link};

use crate::fixtures::{drain, input, member};
use crate::on_both_backends;
use crate::support::TestApp;

on_both_backends!(
    share_links_open_for_anyone_until_revoked_or_expired,
    |app: TestApp| async move {
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.60").await;
        let (bob, _) = member(&app, "bob@uni1.test", "203.0.113.61").await;
        let v = app
            .gens
            .submit(
                alice_id,
                true,
                input("key-share-0001", "a shared <b>kite</b>", 1),
            )
            .await
            .unwrap();
        drain(&app.gens, Duration::from_secs(20)).await;
        let img = image::Entity::find()
            .filter(image::Column::GenerationId.eq(v.id))
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        let image_id = img.id.to_string();

        // Only the owner can share it; a bad expiry is named.
        let r = app
            .post_as(
                "/api/share-create",
                &[("image", &image_id), ("expires_in_days", "7")],
                &bob,
            )
            .await;
        assert_eq!(r.status, 404);
        let r = app
            .post_as(
                "/api/share-create",
                &[("image", &image_id), ("expires_in_days", "0")],
                &alice,
            )
            .await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("expires_in_days"), "{}", r.body);
        let r = app
            .post_as(
                "/api/share-create",
                &[("image", &image_id), ("expires_in_days", "7")],
                &alice,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let url = r.json()["url"].as_str().unwrap().to_owned();
        let path = url.strip_prefix(crate::support::ORIGIN).unwrap().to_owned();
        assert!(path.starts_with("/s/"));
        let token = path.trim_start_matches("/s/").to_owned();
        // Only the token's hash is stored.
        let row = share_link::Entity::find()
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_ne!(row.token_hash, token);
        assert!(!row.token_hash.contains(&token));

        // Anyone with the link: a complete page without JavaScript, previews for
        // chat apps, never indexed, the prompt as text.
        let page = app.get(&path).await;
        assert_eq!(page.status, 200);
        // The preview image is a signed, expiring URL (not the token).
        let og = page
            .body
            .split("property=\"og:image\" content=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no og:image: {}", page.body))
            .replace("&amp;", "&");
        assert!(
            og.starts_with(&format!("{}/og/", crate::support::ORIGIN)),
            "{og}"
        );
        assert!(!og.contains(&token));
        let og_path = og.strip_prefix(crate::support::ORIGIN).unwrap().to_owned();
        let crawler = app.get(&og_path).await;
        assert_eq!(crawler.status, 200);
        assert_eq!(crawler.header("content-type"), Some("image/webp"));
        let forged = og_path.replace("sig=", "sig=0");
        assert_eq!(app.get(&forged).await.status, 404);
        assert!(page
            .body
            .contains("name=\"twitter:card\" content=\"summary_large_image\""));
        assert!(page.body.contains("name=\"robots\" content=\"noindex\""));
        assert!(page.body.contains("a shared &lt;b&gt;kite&lt;/b&gt;"));
        assert!(page.body.contains(&format!("src=\"/s/{token}/image\"")));
        let pic = app.get(&format!("{path}/image")).await;
        assert_eq!(pic.status, 200);
        assert_eq!(pic.header("content-type"), Some("image/webp"));
        assert_eq!(pic.header("cache-control"), Some("no-store"));
        assert!(pic.bytes.starts_with(b"RIFF"));
        // The link is no key to the owner's other media.
        assert_eq!(
            app.get(&format!("/media/{image_id}/original")).await.status,
            404
        );

        // Wrong tokens look like revoked ones.
        let wrong = app.get("/s/AAAAAAAAAAAAAAAAAAAAAA").await;
        assert_eq!(wrong.status, 404);
        assert!(wrong
            .body
            .contains("does not exist, has expired, or was turned off"));
        assert_eq!(app.get("/s/AAAAAAAAAAAAAAAAAAAAAA/image").await.status, 404);

        // The owner sees the link; Bob cannot revoke it; Alice can.
        let list = app
            .post_as("/api/share-list", &[("image", &image_id)], &alice)
            .await;
        let links = list.json();
        assert_eq!(links.as_array().unwrap().len(), 1);
        assert_eq!(links[0]["active"], true);
        let link_id = links[0]["id"].as_str().unwrap().to_owned();
        assert_eq!(
            app.post_as("/api/share-list", &[("image", &image_id)], &bob)
                .await
                .json(),
            serde_json::json!([])
        );
        assert_eq!(
            app.post_as("/api/share-revoke", &[("id", &link_id)], &bob)
                .await
                .status,
            404
        );
        // Settings -> Share links lists every link of the owner, and only theirs.
        let all = app.get_as("/settings/sharing", &alice).await;
        assert_eq!(all.status, 200);
        assert!(
            all.body.contains(&format!("href=\"/gallery/{image_id}\"")),
            "{}",
            all.body
        );
        assert!(all.body.contains("active"));
        let none = app.get_as("/settings/sharing", &bob).await;
        assert!(none.body.contains("You have not shared anything yet."));
        assert_eq!(app.get("/settings/sharing").await.status, 401);
        assert_eq!(app.get(&path).await.status, 200);
        assert_eq!(
            app.post_as("/api/share-revoke", &[("id", &link_id)], &alice)
                .await
                .status,
            200
        );
        assert_eq!(app.get(&path).await.status, 404);
        assert_eq!(app.get(&format!("{path}/image")).await.status, 404);
        // Revoking the link also stops its signed preview URL.
        assert_eq!(app.get(&og_path).await.status, 404);

        // An expired link, and a link to an image past its download window.
        let sharing = uni1_domain::library::sharing::Sharing::new(app.db.clone());
        let (_, token2) = sharing
            .create(
                alice_id,
                uni1_domain::library::sharing::ShareTarget::Image(img.id),
                Some(1),
            )
            .await
            .unwrap();
        let now = chrono::Utc::now();
        assert!(sharing.resolve(&token2, now).await.unwrap().is_some());
        assert!(sharing
            .resolve(&token2, now + chrono::Duration::days(2))
            .await
            .unwrap()
            .is_none());
        let (_, token3) = sharing
            .create(
                alice_id,
                uni1_domain::library::sharing::ShareTarget::Image(img.id),
                None,
            )
            .await
            .unwrap();
        uni1_domain::generation::retention::sweep_expired(&app.gens, img.expires_at, 10)
            .await
            .unwrap();
        assert_eq!(app.get(&format!("/s/{token3}")).await.status, 404);
        assert!(
            sharing
                .create(
                    alice_id,
                    uni1_domain::library::sharing::ShareTarget::Image(img.id),
                    None
                )
                .await
                .is_err(),
            "expired images cannot be shared"
        );
    }
);

on_both_backends!(
    the_collections_migration_keeps_image_links,
    |app: TestApp| async move {
        use sea_orm::{ConnectionTrait as _, FromQueryResult as _};
        use uni1_domain::library::sharing::{ShareTarget, Shared, Sharing};
        use uni1_migration::MigratorTrait as _;
        let (_, alice_id) = member(&app, "alice@uni1.test", "203.0.113.62").await;
        let img = crate::fixtures::images(&app, alice_id, "key-share-mig1", "kept link", 1)
            .await
            .remove(0);
        let sharing = Sharing::new(app.db.clone());
        let (_, token) = sharing
            .create(alice_id, ShareTarget::Image(img.id), Some(3))
            .await
            .unwrap();
        let opens = || async {
            matches!(
                sharing.resolve(&token, chrono::Utc::now()).await.unwrap(),
                Some(Shared::Image { image, .. }) if image.image.id == img.id
            )
        };
        assert!(opens().await);
        // Undo the migration that rebuilt share_links (and every later one):
        // image links survive both directions.
        let all = uni1_migration::Migrator::migrations();
        let at = all
            .iter()
            .position(|m| m.name() == "m20261124_000009_collections_publishing")
            .expect("the collections migration");
        let steps = u32::try_from(all.len() - at).unwrap();
        uni1_migration::Migrator::down(&app.db, Some(steps))
            .await
            .unwrap();
        let rows = TokenRow::find_by_statement(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT token_hash FROM share_links",
        ))
        .all(&app.db)
        .await
        .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0].token_hash,
            uni1_domain::accounts::token::hash(&token)
        );
        uni1_migration::Migrator::up(&app.db, None).await.unwrap();
        assert!(opens().await);
    }
);

#[derive(Debug, sea_orm::FromQueryResult)]
struct TokenRow {
    token_hash: String,
}

/// The `og:image` path of a share page.
fn og_path(page: &str) -> String {
    page.split("property=\"og:image\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no og:image: {page}"))
        .replace("&amp;", "&")
        .strip_prefix(crate::support::ORIGIN)
        .unwrap()
        .to_owned()
}

on_both_backends!(
    hiding_an_image_takes_it_down_from_every_share_link,
    |app: TestApp| async move {
        use uni1_domain::library::sharing::{ShareTarget, Sharing};
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.63").await;
        let imgs =
            crate::fixtures::images(&app, alice_id, "key-takedown-1", "a tall kite", 2).await;
        let (hidden, kept) = (imgs[0].id, imgs[1].id);
        let sharing = Sharing::new(app.db.clone());
        let (_, image_token) = sharing
            .create(alice_id, ShareTarget::Image(hidden), None)
            .await
            .unwrap();
        let collections = uni1_domain::library::collections::Collections::new(app.db.clone());
        let c = collections.create(alice_id, "Kites").await.unwrap();
        collections
            .add(alice_id, c.id, &[hidden, kept])
            .await
            .unwrap();
        let (_, collection_token) = sharing
            .create(alice_id, ShareTarget::Collection(c.id), None)
            .await
            .unwrap();

        // Before: every path shows it.
        let page = app.get(&format!("/s/{image_token}")).await;
        assert_eq!(page.status, 200);
        let og = og_path(&page.body);
        let member_paths = |id: uuid::Uuid| {
            [
                format!("/s/{collection_token}/{id}/thumb"),
                format!("/s/{collection_token}/{id}/preview"),
            ]
        };
        let mut shown = vec![format!("/s/{image_token}/image"), og.clone()];
        shown.extend(member_paths(hidden));
        for path in &shown {
            assert_eq!(app.get(path).await.status, 200, "{path}");
        }
        let listing = app.get(&format!("/s/{collection_token}")).await;
        assert_eq!(listing.status, 200);
        assert!(listing.body.contains(&hidden.to_string()));
        // The collection's preview for chat apps is its newest image.
        let collection_og = og_path(&listing.body);

        assert!(
            uni1_domain::library::publishing::Publishing::new(app.db.clone())
                .hide(hidden)
                .await
                .unwrap()
        );

        // After: the same 404 as a revoked link, on every path.
        let page = app.get(&format!("/s/{image_token}")).await;
        assert_eq!(page.status, 404);
        assert!(page
            .body
            .contains("does not exist, has expired, or was turned off"));
        for path in &shown {
            assert_eq!(app.get(path).await.status, 404, "{path}");
        }
        if collection_og.contains(&hidden.to_string()) {
            assert_eq!(app.get(&collection_og).await.status, 404);
        }
        let listing = app.get(&format!("/s/{collection_token}")).await;
        assert_eq!(listing.status, 200);
        assert!(!listing.body.contains(&hidden.to_string()), "not listed");
        assert!(listing.body.contains(&kept.to_string()), "the rest stays");
        for path in member_paths(kept) {
            assert_eq!(app.get(&path).await.status, 200, "{path}");
        }
        // The owner still has it, marked as taken out.
        let own = app.get_as(&format!("/gallery/{hidden}"), &alice).await;
        assert_eq!(own.status, 200);
        assert!(
            own.body.contains("data-testid=\"publish-hidden\""),
            "{}",
            own.body
        );
        assert!(own.body.contains("share links no longer show it"));
        assert_eq!(
            app.get_as(&format!("/media/{hidden}/thumb"), &alice)
                .await
                .status,
            200
        );
    }
);

on_both_backends!(
    open_share_links_are_capped_per_person,
    |app: TestApp| async move {
        use sea_orm::ActiveModelTrait as _;
        use uni1_domain::library::sharing::MAX_OPEN_LINKS;
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.64").await;
        let img = crate::fixtures::images(&app, alice_id, "key-many-links", "linked", 1)
            .await
            .remove(0);
        let image_id = img.id.to_string();
        let now = chrono::Utc::now();
        // Links already there (revoked and expired ones do not count).
        let row = |i: u64, revoked: bool, expired: bool| share_link::ActiveModel {
            id: sea_orm::Set(uuid::Uuid::now_v7()),
            user_id: sea_orm::Set(alice_id),
            image_id: sea_orm::Set(Some(img.id)),
            collection_id: sea_orm::Set(None),
            token_hash: sea_orm::Set(format!("test-hash-{i}")),
            created_at: sea_orm::Set(now),
            expires_at: sea_orm::Set(expired.then(|| now - chrono::Duration::days(1))),
            revoked_at: sea_orm::Set(revoked.then_some(now)),
        };
        let rows: Vec<_> = (0..MAX_OPEN_LINKS - 1)
            .map(|i| row(i, false, false))
            .collect();
        for chunk in rows.chunks(200) {
            share_link::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&app.db)
                .await
                .unwrap();
        }
        row(MAX_OPEN_LINKS, true, false)
            .insert(&app.db)
            .await
            .unwrap();
        row(MAX_OPEN_LINKS + 1, false, true)
            .insert(&app.db)
            .await
            .unwrap();
        let form = [("image", image_id.as_str()), ("expires_in_days", "")];
        let r = app.post_as("/api/share-create", &form, &alice).await;
        assert_eq!(r.status, 200, "the last one: {}", r.body);
        let r = app.post_as("/api/share-create", &form, &alice).await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body.contains("1000 share links open"), "{}", r.body);
    }
);
