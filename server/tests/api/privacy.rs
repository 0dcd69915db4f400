//! The privacy center (PRV-1..PRV-7): the export checked against the
//! database row by row and opened by two ZIP readers, only its owner
//! downloading it; choices that make the account read-only and decide
//! who is in a training dataset; and an account filled with everything,
//! deleted, then every table of the schema and every stored object
//! scanned for what is left of the person.

#![allow(clippy::unwrap_used)] // test helpers may unwrap

use std::io::Read as _;
use std::time::Duration;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, Set, Statement,
};
use serde_json::Value;
use uni1_domain::entities::{
    data_export, generation, image, mail_outbox, order, privacy_request, session, user,
    user_identity,
};
use uni1_domain::library::sharing::{ShareTarget, Sharing};
use uni1_domain::privacy::export::SCHEMA;
use uuid::Uuid;

use crate::fixtures::{images, input, member, open_as, PASSWORD};
use crate::on_both_backends;
use crate::support::{TestApp, Visitor};

async fn export_bytes(app: &TestApp, id: Uuid, v: &Visitor) -> (u16, Vec<u8>) {
    let r = open_as(
        app,
        http::Request::get(format!("/settings/privacy/exports/{id}.zip")),
        axum::body::Body::empty(),
        v,
    )
    .await;
    let status = r.status().as_u16();
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .expect("body")
        .to_vec();
    (status, bytes)
}

fn entry(zip: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, name: &str) -> Vec<u8> {
    let mut f = zip
        .by_name(name)
        .unwrap_or_else(|_| panic!("{name} in the export"));
    let mut out = Vec::new();
    f.read_to_end(&mut out).expect("read (CRC checked)");
    out
}

fn json_of(zip: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, name: &str) -> Value {
    serde_json::from_slice(&entry(zip, name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Python's `zipfile` opens the archive, every CRC holds, and every JSON
/// file parses; returns the names it read.
fn python_reads(bytes: &[u8]) -> Vec<String> {
    let path = std::env::temp_dir().join(format!("uni1-export-{}.zip", Uuid::new_v4()));
    std::fs::write(&path, bytes).expect("temp file");
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import json, sys, zipfile\n\
             z = zipfile.ZipFile(sys.argv[1])\n\
             assert z.testzip() is None\n\
             for n in z.namelist():\n\
             \x20   if n.endswith('.json'): json.loads(z.read(n))\n\
             print('\\n'.join(z.namelist()))\n",
        )
        .arg(&path)
        .output()
        .expect("python3 runs");
    std::fs::remove_file(&path).ok();
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Turns `choice` on or off as `v`, through the form's server function.
async fn choose(app: &TestApp, v: &Visitor, choice: &str, on: &str) {
    let r = app
        .post_as(
            "/api/set_privacy_choice",
            &[("choice", choice), ("on", on)],
            v,
        )
        .await;
    assert_eq!(r.status, 200, "{choice} {on}: {}", r.body);
}

fn ids(rows: &Value) -> Vec<String> {
    rows.as_array()
        .expect("an array")
        .iter()
        .map(|r| r["id"].as_str().expect("an id").to_owned())
        .collect()
}

on_both_backends!(
    an_export_holds_every_category_and_only_its_owner_downloads_it,
    |app: TestApp| async move {
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.50").await;
        let (bob, _) = member(&app, "bob@uni1.test", "203.0.113.51").await;
        let made = images(
            &app,
            alice_id,
            "key-priv-export-1",
            "a lighthouse at dusk",
            2,
        )
        .await;
        let collections = uni1_domain::library::collections::Collections::new(app.db.clone());
        let col = collections.create(alice_id, "Coast").await.unwrap();
        collections
            .add(alice_id, col.id, &[made[0].id])
            .await
            .unwrap();
        Sharing::new(app.db.clone())
            .create(alice_id, ShareTarget::Image(made[1].id), Some(7))
            .await
            .unwrap();
        let png = uni1_imaging::render_builtin_png("reference", 1, 64, 48, None);
        let up = app
            .gens
            .store_reference(alice_id, png.clone())
            .await
            .unwrap();

        let r = app.post_as("/api/request_export", &[], &alice).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let again = app.post_as("/api/request_export", &[], &alice).await;
        assert_eq!(again.status, 422, "one export at a time");
        assert!(
            again.body.contains("already being prepared"),
            "{}",
            again.body
        );

        uni1_server::startup::privacy_pass(&app.privacy).await;
        let export = data_export::Entity::find()
            .filter(data_export::Column::UserId.eq(alice_id))
            .one(&app.db)
            .await
            .unwrap()
            .expect("the export");
        assert_eq!(export.status, "ready");
        let mail = crate::fixtures::mail_of_kind(&app, "alice@uni1.test", "export_ready").await;
        assert!(
            mail.text_body.contains("/settings/privacy"),
            "{}",
            mail.text_body
        );
        let request = privacy_request::Entity::find_by_id(export.request_id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (request.kind.as_str(), request.status.as_str()),
            ("export", "done")
        );

        // Someone else, or nobody: not found / sign in.
        let (status, _) = export_bytes(&app, export.id, &bob).await;
        assert_eq!(status, 404, "another person cannot download it");
        let (status, _) = export_bytes(&app, export.id, &Visitor::new("203.0.113.52")).await;
        assert_eq!(status, 303, "signed out: to the sign-in page");
        let (status, bytes) = export_bytes(&app, export.id, &alice).await;
        assert_eq!(status, 200);
        assert_eq!(bytes.len() as i64, export.size_bytes);

        let names = python_reads(&bytes);
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a ZIP");
        assert_eq!(zip.len(), names.len());
        let manifest = json_of(&mut zip, "manifest.json");
        assert_eq!(manifest["schema"], SCHEMA);
        assert_eq!(manifest["user_id"], alice_id.to_string());
        for c in manifest["categories"].as_array().unwrap() {
            let file = c["file"].as_str().unwrap();
            assert!(names.iter().any(|n| n == file), "{file} listed and present");
        }

        // Row by row against the database.
        let account = json_of(&mut zip, "account.json");
        assert_eq!(account["email"], "alice@uni1.test");
        assert_eq!(account["has_password"], true);
        assert!(account.get("password_hash").is_none(), "never the hash");
        let gens = generation::Entity::find()
            .filter(generation::Column::UserId.eq(alice_id))
            .order_by_asc(generation::Column::QueuedAt)
            .order_by_asc(generation::Column::Id)
            .all(&app.db)
            .await
            .unwrap();
        let exported = json_of(&mut zip, "generations.json");
        assert_eq!(
            ids(&exported),
            gens.iter().map(|g| g.id.to_string()).collect::<Vec<_>>()
        );
        for (row, g) in exported.as_array().unwrap().iter().zip(&gens) {
            assert_eq!(row["prompt"], g.prompt);
            assert_eq!(row["seed_used"], serde_json::json!(g.seed_used));
            assert_eq!(row["status"], g.status.as_str());
            assert_eq!(
                row["queued_at"],
                g.queued_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            );
        }
        let sessions = session::Entity::find()
            .filter(session::Column::UserId.eq(alice_id))
            .order_by_asc(session::Column::CreatedAt)
            .all(&app.db)
            .await
            .unwrap();
        let exported = json_of(&mut zip, "sessions.json");
        assert_eq!(
            ids(&exported),
            sessions
                .iter()
                .map(|s| s.id.to_string())
                .collect::<Vec<_>>()
        );
        assert_eq!(exported[0]["ip"], "203.0.113.50");
        let exported = json_of(&mut zip, "images.json");
        assert_eq!(exported.as_array().unwrap().len(), 2);
        for row in exported.as_array().unwrap() {
            let id = Uuid::parse_str(row["id"].as_str().unwrap()).unwrap();
            let stored = image::Entity::find_by_id(id)
                .one(&app.db)
                .await
                .unwrap()
                .expect("one of hers");
            assert_eq!(stored.user_id, alice_id);
            assert_eq!(row["prompt"], "a lighthouse at dusk");
            let file = row["file"].as_str().expect("a file in the ZIP");
            let original = app.gens.blobs.get(&stored.original_path).await.unwrap();
            assert_eq!(entry(&mut zip, file), original, "the original, decrypted");
        }
        let exported = json_of(&mut zip, "collections.json");
        assert_eq!(exported[0]["name"], "Coast");
        assert_eq!(exported[0]["images"][0]["image_id"], made[0].id.to_string());
        assert_eq!(
            json_of(&mut zip, "share_links.json")
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let uploads = json_of(&mut zip, "uploads.json");
        assert_eq!(uploads[0]["id"], up.id.to_string());
        let stored_upload = app.gens.blobs.get(&up.path).await.unwrap();
        assert_eq!(
            entry(&mut zip, uploads[0]["file"].as_str().unwrap()),
            stored_upload
        );
        let credits = json_of(&mut zip, "credits.json");
        let ledger = uni1_domain::entities::credit_ledger::Entity::find()
            .filter(uni1_domain::entities::credit_ledger::Column::UserId.eq(alice_id))
            .count(&app.db)
            .await
            .unwrap();
        assert_eq!(credits["ledger"].as_array().unwrap().len() as u64, ledger);
        let requests = json_of(&mut zip, "privacy_requests.json");
        assert_eq!(requests[0]["kind"], "export");
        let mails = json_of(&mut zip, "mail.json");
        assert!(
            mails
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["kind"] == "confirm_email"),
            "{mails}"
        );
        // Nothing of Bob's.
        let all = String::from_utf8_lossy(&entry(&mut zip, "sign_in_history.json")).into_owned();
        assert!(!all.contains("203.0.113.51"), "{all}");

        // The page lists it with a download link.
        let page = app.get_as("/settings/privacy", &alice).await;
        assert_eq!(page.status, 200);
        assert!(
            page.body
                .contains(&format!("/settings/privacy/exports/{}.zip", export.id)),
            "the download link"
        );
        assert!(
            !page.body.contains("a lighthouse"),
            "no prompt text on the page"
        );

        // After its window it is purged: parts and download.
        data_export::Entity::update_many()
            .col_expr(
                data_export::Column::ExpiresAt,
                sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::minutes(1)),
            )
            .exec(&app.db)
            .await
            .unwrap();
        assert_eq!(
            uni1_domain::privacy::export::purge_pass(&app.privacy)
                .await
                .unwrap(),
            1
        );
        let left = app
            .gens
            .blobs
            .list_prefix(&format!("users/{alice_id}/exports/"))
            .await
            .unwrap();
        assert!(left.is_empty(), "{left:?}");
        let (status, _) = export_bytes(&app, export.id, &alice).await;
        assert_eq!(status, 404);

        // Unused uploads go now; one a waiting job needs stays.
        let png = uni1_imaging::render_builtin_png("needed", 1, 64, 48, None);
        let needed = app.gens.store_reference(alice_id, png).await.unwrap();
        app.gens
            .submit(
                alice_id,
                true,
                uni1_domain::generation::SubmitInput {
                    reference_upload: Some(needed.id),
                    reference_strength: Some(0.5),
                    ..input("key-priv-ref-1", "like this", 1)
                },
            )
            .await
            .unwrap();
        let r = app.post_as("/api/delete_unused_uploads", &[], &alice).await;
        assert_eq!((r.status.as_u16(), r.body.as_str()), (200, "1"));
        assert!(
            !app.gens.blobs.exists(&up.path).await.unwrap(),
            "the unused one is gone"
        );
        assert!(
            app.gens.blobs.exists(&needed.path).await.unwrap(),
            "the queued job's stays"
        );
        let r = app.post_as("/api/delete_unused_uploads", &[], &bob).await;
        assert_eq!(r.body, "0", "never someone else's");
        assert!(app.gens.blobs.exists(&needed.path).await.unwrap());
    }
);

on_both_backends!(
    choices_are_recorded_and_honoured,
    |app: TestApp| async move {
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.53").await;
        let (bob, bob_id) = member(&app, "bob@uni1.test", "203.0.113.54").await;
        let hers = images(&app, alice_id, "key-priv-alice-1", "a quiet harbour", 1).await;
        images(&app, bob_id, "key-priv-bob-1", "a busy street", 1).await;

        // Restriction: read-only.
        choose(&app, &alice, "restriction", "on").await;
        let refused = app
            .gens
            .submit(alice_id, true, input("key-priv-alice-2", "one more", 1))
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("read-only"), "{refused}");
        let refused = Sharing::new(app.db.clone())
            .create(alice_id, ShareTarget::Image(hers[0].id), None)
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("read-only"), "{refused}");
        // Viewing and the export stay.
        assert_eq!(app.get_as("/gallery", &alice).await.status, 200);
        assert_eq!(
            app.post_as("/api/request_export", &[], &alice).await.status,
            200
        );
        choose(&app, &alice, "restriction", "off").await;
        app.gens
            .submit(
                alice_id,
                true,
                input("key-priv-alice-3", "allowed again", 1),
            )
            .await
            .expect("lifted");

        // Bad input.
        let r = app
            .post_as(
                "/api/set_privacy_choice",
                &[("choice", "sell"), ("on", "on")],
                &alice,
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.body);

        // Training: only people who opted in, and do not object.
        let eligible = uni1_domain::privacy::choices::training_eligible(&app.db)
            .await
            .unwrap();
        assert!(eligible.is_empty(), "off by default");
        choose(&app, &alice, "training_consent", "on").await;
        drop(bob);
        let eligible = uni1_domain::privacy::choices::training_eligible(&app.db)
            .await
            .unwrap();
        assert!(!eligible.is_empty());
        assert!(eligible.iter().all(|t| t.owner == alice_id), "never Bob's");
        assert_eq!(
            eligible[0].consent_version,
            uni1_domain::privacy::POLICY_VERSION
        );
        // The operator's export: the same images, as JSON lines.
        let lines = uni1_server::admin::run(
            app.db.clone(),
            app.key.clone(),
            uni1_server::config::AdminCommand::TrainingExport,
            None,
        )
        .await
        .expect("training export");
        let listed: Vec<Value> = lines
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        assert_eq!(listed.len(), eligible.len());
        assert!(listed.iter().all(|l| l["owner_id"] == alice_id.to_string()));
        assert!(listed
            .iter()
            .any(|l| l["image_id"] == hers[0].id.to_string() && l["prompt"] == "a quiet harbour"));
        choose(&app, &alice, "objection", "on").await;
        assert!(
            uni1_domain::privacy::choices::training_eligible(&app.db)
                .await
                .unwrap()
                .is_empty(),
            "an objection wins over the consent"
        );
        let lines = uni1_server::admin::run(
            app.db.clone(),
            app.key.clone(),
            uni1_server::config::AdminCommand::TrainingExport,
            None,
        )
        .await
        .expect("training export");
        assert!(lines.is_empty(), "{lines}");

        // Every switch is a request with its time, in order.
        let kinds: Vec<(String, Option<String>)> = privacy_request::Entity::find()
            .filter(privacy_request::Column::UserId.eq(alice_id))
            .order_by_asc(privacy_request::Column::CreatedAt)
            .order_by_asc(privacy_request::Column::Id)
            .all(&app.db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.kind, r.detail))
            .collect();
        let kinds: Vec<&str> = kinds.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "restriction",
                "export",
                "restriction",
                "training_consent",
                "objection"
            ]
        );
        // Correcting the name: checked, saved, recorded.
        let r = app
            .post_as("/api/set_display_name", &[("display_name", "   ")], &alice)
            .await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body.contains("Enter a name"), "{}", r.body);
        let r = app
            .post_as(
                "/api/set_display_name",
                &[("display_name", " Alice A. ")],
                &alice,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let corrected = privacy_request::Entity::find()
            .filter(privacy_request::Column::UserId.eq(alice_id))
            .filter(privacy_request::Column::Kind.eq("correction"))
            .count(&app.db)
            .await
            .unwrap();
        assert_eq!(corrected, 1);
        let account = user::Entity::find_by_id(alice_id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert!(account.objected_at.is_some() && account.training_consent_at.is_some());
        assert!(account.restricted_at.is_none());
        assert_eq!(account.display_name, "Alice A.");
        let page = app.get_as("/settings/privacy", &alice).await;
        assert!(
            page.body
                .contains("data-choice=\"objection\" data-on=\"true\""),
            "the page shows it"
        );

        // CCPA: categories, processors from the settings, no sale.
        let page = app.get("/privacy-choices").await;
        assert_eq!(page.status, 200);
        assert!(
            page.body
                .contains("We do not sell your personal information"),
            "{}",
            page.body
        );
        assert!(
            page.body.contains("data-testid=\"processors\""),
            "{}",
            page.body
        );
        assert!(
            page.body.contains("runs uni1 and its database"),
            "the operator is listed"
        );
    }
);

/// A mail transport that keeps what it sends, and clears bodies like SMTP.
#[derive(Default)]
struct Kept(std::sync::Mutex<Vec<(String, String)>>);

#[async_trait::async_trait]
impl uni1_domain::mail::delivery::Mailer for Kept {
    async fn send(&self, message: lettre::Message) -> Result<(), String> {
        let to = message
            .envelope()
            .to()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let subject = message
            .headers()
            .get_raw("Subject")
            .unwrap_or_default()
            .to_owned();
        self.0.lock().unwrap().push((to, subject));
        Ok(())
    }

    fn clears_sent_bodies(&self) -> bool {
        true
    }
}

/// Every row of every table whose text holds one of `needles` (or, on
/// SQLite, whose bytes hold the id), as `table.column`.
async fn scan(db: &sea_orm::DatabaseConnection, needles: &[String], id: Uuid) -> Vec<String> {
    let backend = db.get_database_backend();
    let columns: Vec<(String, String)> = match backend {
        DbBackend::Sqlite => {
            let tables = db
                .query_all(Statement::from_string(
                    backend,
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
                ))
                .await
                .unwrap();
            let mut out = Vec::new();
            for t in tables {
                let t: String = t.try_get("", "name").unwrap();
                for c in db
                    .query_all(Statement::from_string(backend, format!("PRAGMA table_info(\"{t}\")")))
                    .await
                    .unwrap()
                {
                    out.push((t.clone(), c.try_get::<String>("", "name").unwrap()));
                }
            }
            out
        }
        _ => db
            .query_all(Statement::from_string(
                backend,
                "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns WHERE table_schema = 'public'",
            ))
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.try_get("", "t").unwrap(), r.try_get("", "c").unwrap()))
            .collect(),
    };
    assert!(
        columns.len() > 100,
        "the whole schema: {} columns",
        columns.len()
    );
    let mut found = Vec::new();
    for (t, c) in columns {
        let mut conditions: Vec<String> = needles
            .iter()
            .map(|n| {
                format!(
                    "lower(CAST(\"{c}\" AS TEXT)) LIKE '%{}%'",
                    n.to_lowercase().replace('\'', "''")
                )
            })
            .collect();
        if backend == DbBackend::Sqlite {
            conditions.push(format!(
                "hex(\"{c}\") LIKE '%{}%'",
                id.simple().to_string().to_uppercase()
            ));
        }
        let sql = format!(
            "SELECT COUNT(*) AS n FROM \"{t}\" WHERE {}",
            conditions.join(" OR ")
        );
        let n: i64 = db
            .query_one(Statement::from_string(backend, sql))
            .await
            .unwrap()
            .unwrap()
            .try_get("", "n")
            .unwrap();
        if n > 0 {
            found.push(format!("{t}.{c} ({n})"));
        }
    }
    found
}

/// What would name the deletion test's person: ids, address, name, IP,
/// browser, provider id, prompt and collection name.
fn needles(id: Uuid) -> Vec<String> {
    vec![
        id.to_string(),
        id.simple().to_string(),
        "erase.me@uni1.test".to_owned(),
        "Ada Lovelace".to_owned(),
        "203.0.113.61".to_owned(),
        "uni1-privacy-scan/1.0".to_owned(),
        "gh-subject-4711".to_owned(),
        "a secret garden".to_owned(),
        "Private things".to_owned(),
    ]
}

on_both_backends!(
    a_deleted_account_leaves_nothing_of_the_person,
    |app: TestApp| async move {
        const EMAIL: &str = "erase.me@uni1.test";
        const IP: &str = "203.0.113.61";
        const AGENT: &str = "uni1-privacy-scan/1.0";
        let mut v = Visitor::new(IP).with_agent(AGENT);
        let r = crate::fixtures::sign_up(&app, EMAIL, &v).await;
        assert_eq!(r.status, 200, "{}", r.body);
        crate::fixtures::confirm(&app, EMAIL, &v).await;
        let r = crate::fixtures::sign_in(&app, EMAIL, PASSWORD, &mut v).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let id = user::Entity::find()
            .filter(user::Column::EmailKey.eq(EMAIL))
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
            .id;

        // Everything an account can have.
        crate::fixtures::enable_two_factor(&app, &v).await;
        let now = chrono::Utc::now();
        user_identity::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(id),
            provider: Set("github".into()),
            subject: Set("gh-subject-4711".into()),
            email: Set(Some(EMAIL.into())),
            created_at: Set(now),
            last_used_at: Set(now),
        }
        .insert(&app.db)
        .await
        .unwrap();
        let made = images(&app, id, "key-priv-erase-1", "a secret garden", 2).await;
        let collections = uni1_domain::library::collections::Collections::new(app.db.clone());
        let col = collections.create(id, "Private things").await.unwrap();
        collections.add(id, col.id, &[made[0].id]).await.unwrap();
        Sharing::new(app.db.clone())
            .create(id, ShareTarget::Collection(col.id), None)
            .await
            .unwrap();
        let png = uni1_imaging::render_builtin_png("reference", 1, 64, 48, None);
        app.gens.store_reference(id, png.clone()).await.unwrap();
        app.privacy.set_picture(id, png).await.unwrap();
        order::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(Some(id)),
            provider: Set("stripe".into()),
            kind: Set("pack".into()),
            item: Set("starter".into()),
            item_name: Set("Starter".into()),
            credits: Set(100),
            amount: Set(500),
            currency: Set("usd".into()),
            status: Set("paid".into()),
            checkout_id: Set(Some("cs_test_kept".into())),
            payment_id: Set(Some("pi_test_kept".into())),
            refunded_amount: Set(0),
            refunded_credits: Set(0),
            invoice_id: Set(None),
            subscription_id: Set(None),
            receipt_url: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            paid_at: Set(Some(now)),
        }
        .insert(&app.db)
        .await
        .unwrap();
        let r = app
            .post_form(
                "/api/contact",
                &[
                    ("name", "Ada Lovelace"),
                    ("email", EMAIL),
                    ("message", "Please call me back."),
                ],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = app
            .post_as(
                "/api/report_underage",
                &[
                    ("reported_account", "someone else"),
                    ("details", "They said they are 12."),
                    ("reporter_email", EMAIL),
                ],
                &v,
            )
            .await;
        assert!(r.status == 200 || r.status == 303, "{}", r.body);
        choose(&app, &v, "objection", "on").await;
        choose(&app, &v, "training_consent", "on").await;
        assert_eq!(
            app.post_as("/api/request_export", &[], &v).await.status,
            200
        );
        uni1_server::startup::privacy_pass(&app.privacy).await;
        assert!(!app
            .gens
            .blobs
            .list_prefix(&format!("users/{id}/exports/"))
            .await
            .unwrap()
            .is_empty());

        // The scan sees the person everywhere before (so its silence after
        // means something).
        let before = scan(&app.db, &needles(id), id).await;
        for place in [
            "users.email",
            "sessions.ip",
            "sessions.user_agent",
            "generations.prompt",
            "images.user_id",
            "collections.name",
            "user_identities.subject",
            "contact_messages.email",
            "underage_reports.reporter_email",
            "audit_log.ip",
            "orders.user_id",
            "privacy_requests.user_id",
        ] {
            assert!(
                before.iter().any(|f| f.starts_with(&format!("{place} "))),
                "{place} not seen in {before:?}"
            );
        }

        // Asking: the box, then who it is.
        let r = app
            .post_as("/api/schedule_deletion", &[("password", PASSWORD)], &v)
            .await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body.contains("Tick the box"), "{}", r.body);
        let r = app
            .post_as(
                "/api/schedule_deletion",
                &[("confirm", "on"), ("password", PASSWORD)],
                &v,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        crate::fixtures::mail_of_kind(&app, EMAIL, "deletion_scheduled").await;
        let due = user::Entity::find_by_id(id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
            .deletion_due_at
            .expect("scheduled");
        let days = (due - chrono::Utc::now()).num_hours();
        assert!(
            (7 * 24 - 1..=7 * 24).contains(&days),
            "7 days of grace: {days} h"
        );
        // In the grace period: shown, held, cancelable.
        let page = app.get_as("/settings/privacy", &v).await;
        assert!(
            page.body.contains("data-testid=\"deletion-scheduled\""),
            "the page says so"
        );
        let elsewhere = app.get_as("/settings", &v).await;
        assert!(
            elsewhere.body.contains("data-testid=\"deletion-banner\""),
            "every page says when"
        );
        let refused = app
            .gens
            .submit(id, true, input("key-priv-erase-2", "one more", 1))
            .await
            .unwrap_err();
        assert!(
            refused.to_string().contains("scheduled for deletion"),
            "{refused}"
        );
        assert_eq!(
            app.post_as("/api/cancel_deletion", &[], &v).await.status,
            200
        );
        assert!(user::Entity::find_by_id(id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
            .deletion_due_at
            .is_none());
        let r = app
            .post_as(
                "/api/schedule_deletion",
                &[("confirm", "on"), ("password", PASSWORD)],
                &v,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        // The date comes: no canceling any more, and the pass deletes.
        user::Entity::update_many()
            .col_expr(
                user::Column::DeletionDueAt,
                sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)),
            )
            .filter(user::Column::Id.eq(id))
            .exec(&app.db)
            .await
            .unwrap();
        let r = app.post_as("/api/cancel_deletion", &[], &v).await;
        assert_eq!(r.status, 422, "too late: {}", r.body);
        uni1_server::startup::privacy_pass(&app.privacy).await;
        assert!(
            user::Entity::find_by_id(id)
                .one(&app.db)
                .await
                .unwrap()
                .is_none(),
            "deleted"
        );
        let page = app.get_as("/settings/privacy", &v).await;
        assert_eq!(page.status, 401, "the old cookie is just signed out");
        assert!(
            page.body.contains("to manage your privacy"),
            "asks to sign in"
        );

        // The goodbye mail goes out, and its row with it.
        let kept = Kept::default();
        let from: lettre::message::Mailbox = "uni1 <noreply@uni1.test>".parse().unwrap();
        uni1_domain::mail::delivery::deliver_due(
            &app.db,
            &app.key,
            &kept,
            &from,
            chrono::Utc::now() + chrono::Duration::seconds(1),
        )
        .await
        .unwrap();
        let sent = kept.0.lock().unwrap().clone();
        assert!(
            sent.iter()
                .any(|(to, subject)| to == EMAIL && subject.contains("was deleted")),
            "{sent:?}"
        );
        assert_eq!(
            mail_outbox::Entity::find()
                .filter(mail_outbox::Column::Kind.eq("account_deleted"))
                .count(&app.db)
                .await
                .unwrap(),
            0
        );

        // Every table, every column: nothing that names the person.
        let left = scan(&app.db, &needles(id), id).await;
        assert!(left.is_empty(), "left of the person: {left:?}");
        // What the law keeps, without the person.
        let kept_orders = order::Entity::find().all(&app.db).await.unwrap();
        assert_eq!(kept_orders.len(), 1);
        assert_eq!(kept_orders[0].user_id, None);
        let requests = privacy_request::Entity::find()
            .filter(privacy_request::Column::Kind.eq("deletion"))
            .order_by_asc(privacy_request::Column::CreatedAt)
            .all(&app.db)
            .await
            .unwrap();
        let states: Vec<(&str, Option<Uuid>)> = requests
            .iter()
            .map(|r| (r.status.as_str(), r.user_id))
            .collect();
        assert_eq!(
            states,
            [("canceled", None), ("done", None)],
            "the record that it was answered"
        );
        // Every stored object.
        let objects = app.gens.blobs.list_prefix("users/").await.unwrap();
        assert!(
            objects.iter().all(|o| !o.contains(&id.to_string())),
            "objects left: {objects:?}"
        );
        let _ = Duration::from_secs(0);
    }
);

on_both_backends!(
    a_new_policy_version_is_announced_until_dismissed,
    |app: TestApp| async move {
        assert_eq!(
            uni1_app::pages::legal::POLICY_VERSIONS[0].0,
            uni1_domain::privacy::POLICY_VERSION,
            "the page and the domain name the same version"
        );
        let page = app.get("/privacy").await;
        let text = page.body.replace("<!>", "");
        assert!(
            text.contains(&format!(
                "Last updated: {}",
                uni1_domain::privacy::POLICY_VERSION
            )),
            "the date of the version in force"
        );
        assert!(page.body.contains("data-testid=\"policy-versions\""));

        // Accepted at sign-up: no notice.
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.55").await;
        let r = app.get_as("/gallery", &alice).await;
        assert!(!r.body.contains("data-testid=\"policy-notice\""));
        // Someone who last saw an older version: told on every page.
        user::Entity::update_many()
            .col_expr(
                user::Column::PolicySeenVersion,
                sea_orm::sea_query::Expr::value("2026-11-24"),
            )
            .filter(user::Column::Id.eq(alice_id))
            .exec(&app.db)
            .await
            .unwrap();
        let r = app.get_as("/gallery", &alice).await;
        assert!(
            r.body.contains("data-testid=\"policy-notice\""),
            "{}",
            r.body
        );
        assert!(r.body.contains(
            uni1_app::pages::legal::POLICY_VERSIONS[0]
                .1
                .split(':')
                .next()
                .unwrap()
        ));
        let r = app.post_as("/api/dismiss_policy_notice", &[], &alice).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = app.get_as("/gallery", &alice).await;
        assert!(
            !r.body.contains("data-testid=\"policy-notice\""),
            "dismissed"
        );
        let seen = user::Entity::find_by_id(alice_id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            seen.policy_seen_version.as_deref(),
            Some(uni1_domain::privacy::POLICY_VERSION)
        );
    }
);

on_both_backends!(
    a_profile_picture_is_checked_shown_only_to_its_owner_exported_and_removed,
    |app: TestApp| async move {
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.60").await;
        let (bob, _) = member(&app, "bob@uni1.test", "203.0.113.61").await;
        let anonymous = Visitor::new("203.0.113.62");

        // Checked like every upload; nothing is stored on a refusal.
        let r = app
            .post_bytes_as("/api/profile/picture", b"GIF89a".to_vec(), &alice)
            .await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("not a PNG, JPEG or WebP"), "{}", r.body);
        let r = app
            .post_bytes_as("/api/profile/picture", vec![1, 2, 3], &anonymous)
            .await;
        assert_eq!(r.status, 401);
        let prefix = format!("users/{alice_id}/picture/");
        assert!(app
            .gens
            .blobs
            .list_prefix(&prefix)
            .await
            .unwrap()
            .is_empty());

        // A wide image becomes a small square WebP.
        let png = uni1_imaging::render_builtin_png("a portrait", 3, 600, 400, None);
        let r = app
            .post_bytes_as("/api/profile/picture", png.clone(), &alice)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let first = r.json()["url"].as_str().unwrap().to_owned();
        let r = app.get_as(&first, &alice).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("image/webp"));
        assert_eq!(r.header("cache-control"), Some("private, no-cache"));
        let decoded = ::image::load_from_memory(&r.bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (256, 256));
        assert!(r.bytes.len() <= uni1_imaging::THUMB_BUDGET);
        // Revalidation answers 304 without reading the object.
        let etag = r.header("etag").unwrap().to_owned();
        let mut req = http::Request::get(first.as_str())
            .header("cookie", alice.cookie.clone().unwrap())
            .header("if-none-match", etag)
            .body(axum::body::Body::empty())
            .unwrap();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::new(
                alice.ip, 40000,
            )));
        assert_eq!(app.send(req).await.status, 304);
        // Nobody else sees it, whoever they are.
        assert_eq!(app.get_as(&first, &bob).await.status, 404);
        assert_eq!(app.get_as(&first, &anonymous).await.status, 404);
        // The header shows it.
        let r = app.get_as("/gallery", &alice).await;
        assert!(
            r.body.contains("data-testid=\"menu-picture\""),
            "{}",
            r.body
        );
        assert!(r.body.contains(&first));

        // Replacing it: a new address, the old object gone.
        let r = app.post_bytes_as("/api/profile/picture", png, &alice).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let second = r.json()["url"].as_str().unwrap().to_owned();
        assert_ne!(first, second);
        assert_eq!(app.get_as(&first, &alice).await.status, 404);
        let objects = app.gens.blobs.list_prefix(&prefix).await.unwrap();
        assert_eq!(objects.len(), 1, "{objects:?}");
        assert!(second.contains(objects[0].rsplit('/').next().unwrap()));

        // It is in the export, as stored.
        let collected =
            uni1_domain::privacy::export::collect(&app.db, alice_id, chrono::Utc::now())
                .await
                .unwrap();
        let account = &collected
            .values
            .iter()
            .find(|(f, _, _)| *f == "account.json")
            .unwrap()
            .1;
        assert_eq!(account["picture"], "picture.webp");
        assert!(collected
            .uploads
            .iter()
            .any(|(name, path)| name == "picture.webp" && *path == objects[0]));

        // Removed: row, object and address.
        let r = app.post_as("/api/remove_picture", &[], &alice).await;
        assert_eq!((r.status.as_u16(), r.body.as_str()), (200, "true"));
        assert!(app
            .gens
            .blobs
            .list_prefix(&prefix)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(app.get_as(&second, &alice).await.status, 404);
        let r = app.post_as("/api/remove_picture", &[], &alice).await;
        assert_eq!(r.body, "false", "nothing left to remove");
        let r = app.get_as("/gallery", &alice).await;
        assert!(!r.body.contains("menu-picture"));

        // Each change is a correction the person sees in their requests.
        let corrections = privacy_request::Entity::find()
            .filter(privacy_request::Column::UserId.eq(alice_id))
            .filter(privacy_request::Column::Kind.eq("correction"))
            .count(&app.db)
            .await
            .unwrap();
        assert_eq!(corrections, 3, "two uploads and one removal");
    }
);

on_both_backends!(
    the_studio_removes_an_unused_reference_image_at_once,
    |app: TestApp| async move {
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.63").await;
        let (bob, _) = member(&app, "bob@uni1.test", "203.0.113.64").await;
        let png = uni1_imaging::render_builtin_png("reference", 2, 64, 48, None);
        let up = app
            .gens
            .store_reference(alice_id, png.clone())
            .await
            .unwrap();
        let id = up.id.to_string();

        let r = app
            .post_as("/api/remove-reference", &[("id", &id)], &bob)
            .await;
        assert_eq!(r.body, "false", "never someone else's");
        assert!(app.gens.blobs.exists(&up.path).await.unwrap());
        let r = app
            .post_as("/api/remove-reference", &[("id", "not-an-id")], &alice)
            .await;
        assert_eq!(r.status, 404, "a malformed id is one that does not exist");
        let r = app
            .post_as("/api/remove-reference", &[("id", &id)], &alice)
            .await;
        assert_eq!((r.status.as_u16(), r.body.as_str()), (200, "true"));
        assert!(!app.gens.blobs.exists(&up.path).await.unwrap());
        assert!(uni1_domain::entities::upload::Entity::find_by_id(up.id)
            .one(&app.db)
            .await
            .unwrap()
            .is_none());

        // One a waiting job needs stays until the job ends.
        let needed = app.gens.store_reference(alice_id, png).await.unwrap();
        app.gens
            .submit(
                alice_id,
                true,
                uni1_domain::generation::SubmitInput {
                    reference_upload: Some(needed.id),
                    reference_strength: Some(0.5),
                    ..input("key-priv-ref-remove", "like this", 1)
                },
            )
            .await
            .unwrap();
        let r = app
            .post_as(
                "/api/remove-reference",
                &[("id", &needed.id.to_string())],
                &alice,
            )
            .await;
        assert_eq!(r.body, "false");
        assert!(app.gens.blobs.exists(&needed.path).await.unwrap());
    }
);

on_both_backends!(
    a_providers_picture_is_fetched_once_through_the_outbound_client,
    |app: TestApp| async move {
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.65").await;
        let set_avatar = |url: Option<String>| {
            let db = app.db.clone();
            async move {
                user::Entity::update_many()
                    .col_expr(
                        user::Column::AvatarUrl,
                        sea_orm::sea_query::Expr::value(url),
                    )
                    .filter(user::Column::Id.eq(alice_id))
                    .exec(&db)
                    .await
                    .unwrap();
            }
        };
        // Nothing to use.
        let r = app.post_as("/api/use_provider_picture", &[], &alice).await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("gave no picture"), "{}", r.body);

        // A picture server on this machine.
        let png = uni1_imaging::render_builtin_png("a face", 4, 300, 300, None);
        let served = png.clone();
        let router = axum::Router::new()
            .route(
                "/me.png",
                axum::routing::get(move || {
                    let png = served.clone();
                    async move { png }
                }),
            )
            .route(
                "/moved",
                axum::routing::get(|| async { axum::response::Redirect::temporary("/me.png") }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

        // The app's own client refuses it: http, a private address, not a
        // provider's picture host.
        set_avatar(Some(format!("{base}/me.png"))).await;
        let r = app.post_as("/api/use_provider_picture", &[], &alice).await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body.contains("could not fetch"), "{}", r.body);
        let prefix = format!("users/{alice_id}/picture/");
        assert!(app
            .gens
            .blobs
            .list_prefix(&prefix)
            .await
            .unwrap()
            .is_empty());

        // A client for that server (as for a loopback model) fetches it;
        // a redirect is not followed.
        let client = uni1_models::outbound::Outbound::for_model(
            &url::Url::parse(&base).unwrap(),
            &[],
            Duration::from_secs(5),
        )
        .unwrap();
        let privacy = app.privacy.clone().with_picture_client(client);
        set_avatar(Some(format!("{base}/moved"))).await;
        assert!(privacy.use_provider_picture(alice_id).await.is_err());
        set_avatar(Some(format!("{base}/me.png"))).await;
        let id = privacy.use_provider_picture(alice_id).await.unwrap();
        let stored = user::Entity::find_by_id(alice_id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.picture_id, Some(id));
        let webp = app
            .gens
            .blobs
            .get(&uni1_domain::privacy::picture::picture_path(alice_id, id))
            .await
            .unwrap();
        let decoded = ::image::load_from_memory(&webp).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (256, 256));
    }
);
