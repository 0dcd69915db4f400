//! Cookie consent (CK-1) and first-party analytics (ANA-1): the banner until
//! a choice, the choice recorded and carried by its cookie, preference
//! cookies only with consent, and analytics events only with consent,
//! never with Global Privacy Control or after an objection, and never with
//! an identifier.

#![allow(clippy::unwrap_used)] // test helpers may unwrap

use axum::body::Body;
use http::Request;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uni1_domain::analytics::{Analytics, EventKind};
use uni1_domain::entities::{analytics_event, consent_record};

use crate::fixtures::member;
use crate::on_both_backends;
use crate::support::{TestApp, Visitor};

const CONSENT: &str = "uni1_consent";
const STUDIO: &str = "uni1_studio";

/// A page load as a browser sends it.
async fn page(app: &TestApp, path: &str, cookie: Option<&str>, extra: &[(&str, &str)]) -> String {
    let mut request = Request::get(path)
        .header("accept", "text/html")
        .header("sec-fetch-dest", "document")
        .header("user-agent", crate::support::FIREFOX_LINUX);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    for (k, v) in extra {
        request = request.header(*k, *v);
    }
    let r = app.send(request.body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    assert!(
        r.headers.get_all("set-cookie").iter().next().is_none() || cookie.is_some(),
        "a first visit sets no cookie at all: {:?}",
        r.headers
    );
    r.body
}

/// Posts a consent form as `v`; returns the reply.
async fn choose(app: &TestApp, v: &Visitor, form: &[(&str, &str)]) -> crate::support::Reply {
    app.post_as("/consent", form, v).await
}

/// The `name=value` pair of a cookie the reply set.
fn pair(reply: &crate::support::Reply, name: &str) -> String {
    reply
        .set_cookie(name)
        .unwrap_or_else(|| panic!("{name} was set: {:?}", reply.headers))
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

async fn events(app: &TestApp) -> Vec<analytics_event::Model> {
    analytics_event::Entity::find().all(&app.db).await.unwrap()
}

on_both_backends!(
    banner_until_a_choice_which_is_recorded_and_kept,
    |app| async move {
        let landing = app.get("/").await;
        assert!(
            landing
                .headers
                .get_all("vary")
                .iter()
                .any(|v| v.to_str().unwrap().contains("Cookie")),
            "caches key public pages by the consent cookie: {:?}",
            landing.headers
        );
        let first = page(&app, "/", None, &[]).await;
        assert!(
            first.contains("data-testid=\"consent-banner\""),
            "the banner asks"
        );
        assert!(
            first.contains("Accept all")
                && first.contains("Reject all")
                && first.contains("Choose")
        );

        let v = Visitor::new("198.51.100.7");
        let r = choose(
            &app,
            &v,
            &[
                ("choice", "all"),
                ("return_to", "/explore"),
                ("from", "banner"),
            ],
        )
        .await;
        assert_eq!(r.status, 303, "{}", r.body);
        assert_eq!(r.header("location"), Some("/explore"));
        let set = r.set_cookie(CONSENT).unwrap();
        assert!(
            set.contains("HttpOnly")
                && set.contains("SameSite=Lax")
                && set.contains("Max-Age=15552000"),
            "{set}"
        );
        let cookie = pair(&r, CONSENT);
        assert!(cookie.starts_with("uni1_consent=1.11."), "{cookie}");

        let rows = consent_record::Entity::find().all(&app.db).await.unwrap();
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert!(row.preferences && row.analytics && !row.gpc);
        assert_eq!(row.source, "banner");
        assert_eq!(row.policy_version, uni1_domain::privacy::POLICY_VERSION);
        assert_eq!(row.user_id, None, "nobody is signed in");
        let browser = row.browser_id.unwrap();
        assert!(cookie.ends_with(&browser.simple().to_string()));
        // Nothing in the record can locate the visitor.
        let text = format!("{row:?}");
        assert!(!text.contains("198.51.100.7") && !text.contains("Firefox"));

        let after = page(&app, "/", Some(&cookie), &[]).await;
        assert!(!after.contains("consent-banner"), "no banner once chosen");

        // A change of mind keeps the browser's consent id and adds a record.
        let mut v2 = v.clone();
        v2.cookie = Some(cookie.clone());
        let r = choose(
            &app,
            &v2,
            &[
                ("choice", "custom"),
                ("analytics", "on"),
                ("return_to", "/cookies"),
                ("from", "settings"),
            ],
        )
        .await;
        assert_eq!(r.status, 303);
        let changed = pair(&r, CONSENT);
        assert_eq!(changed, format!("uni1_consent=1.01.{}", browser.simple()));
        assert!(
            r.set_cookie(STUDIO)
                .is_some_and(|c| c.contains("Max-Age=0")),
            "withdrawing preferences removes their cookie"
        );
        let rows = consent_record::Entity::find()
            .filter(consent_record::Column::BrowserId.eq(browser))
            .all(&app.db)
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows
            .iter()
            .any(|r| r.source == "settings" && !r.preferences && r.analytics));

        // The preference center shows the state, and works without a banner.
        let center = page(&app, "/cookies", Some(&changed), &[]).await;
        assert!(
            center.contains("data-testid=\"consent-form\"") && !center.contains("consent-banner")
        );
        for c in uni1_app::consent::COOKIES {
            assert!(center.contains(c.name), "{} is listed", c.name);
        }
    }
);

on_both_backends!(
    bad_choices_are_refused_and_returns_stay_local,
    |app| async move {
        let v = Visitor::new("198.51.100.8");
        let r = choose(&app, &v, &[("choice", "everything")]).await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("Accept all"), "{}", r.body);
        assert!(r.set_cookie(CONSENT).is_none());
        let r = choose(
            &app,
            &v,
            &[("choice", "none"), ("return_to", "//evil.example/x")],
        )
        .await;
        assert_eq!(r.status, 303);
        assert_eq!(r.header("location"), Some("/"));
        assert!(pair(&r, CONSENT).starts_with("uni1_consent=1.00."));
        // A forged cookie value counts as no choice: the banner asks again.
        let body = page(&app, "/", Some("uni1_consent=1.19.zzz"), &[]).await;
        assert!(body.contains("consent-banner"));
        // From another site: refused before anything is recorded.
        let r = app
            .post_form_from(
                "/consent",
                &[("choice", "all")],
                Some("https://evil.example"),
            )
            .await;
        assert_eq!(r.status, 403);
        assert!(
            consent_record::Entity::find()
                .all(&app.db)
                .await
                .unwrap()
                .len()
                == 1
        );
    }
);

on_both_backends!(
    a_persons_choice_follows_them_and_the_studio_remembers_only_with_consent,
    |app| async move {
        let (mut alice, alice_id) = member(&app, "alice@example.org", "198.51.100.9").await;
        let session = alice.cookie.clone().unwrap();
        // Rejecting: a generation sets no preference cookie.
        let r = choose(&app, &alice, &[("choice", "none")]).await;
        assert_eq!(r.status, 303);
        let rejected = pair(&r, CONSENT);
        let rows = consent_record::Entity::find().all(&app.db).await.unwrap();
        assert_eq!(rows[0].user_id, Some(alice_id), "recorded for the person");
        alice.cookie = Some(format!("{session}; {rejected}"));
        let form = [
            ("form_key", "key-consent-0001"),
            ("model", "builtin"),
            ("prompt", "a lighthouse"),
            ("aspect_ratio", "16:9"),
            ("count", "1"),
        ];
        let r = app.post_as("/api/generate", &form, &alice).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.set_cookie(STUDIO).is_none(),
            "no preference cookie without consent"
        );

        // Accepting: the studio remembers the model and aspect ratio.
        let r = choose(&app, &alice, &[("choice", "all")]).await;
        let accepted = pair(&r, CONSENT);
        alice.cookie = Some(format!("{session}; {accepted}"));
        let form = [
            ("form_key", "key-consent-0002"),
            ("model", "builtin"),
            ("prompt", "a lighthouse"),
            ("aspect_ratio", "16:9"),
            ("count", "1"),
        ];
        let r = app.post_as("/api/generate", &form, &alice).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let studio = pair(&r, STUDIO);
        assert_eq!(studio, "uni1_studio=builtin|16:9");
        alice.cookie = Some(format!("{session}; {accepted}; {studio}"));
        let s = app.post_as("/api/studio", &[], &alice).await.json();
        assert_eq!(s["remembered"], serde_json::json!(["builtin", "16:9"]));
        // With the cookie but without consent, it is not read.
        alice.cookie = Some(format!("{session}; {rejected}; {studio}"));
        let s = app.post_as("/api/studio", &[], &alice).await.json();
        assert_eq!(s["remembered"], serde_json::Value::Null);
        // A tampered value naming no model is ignored.
        alice.cookie = Some(format!("{session}; {accepted}; uni1_studio=nope|1:1"));
        let s = app.post_as("/api/studio", &[], &alice).await.json();
        assert_eq!(s["remembered"], serde_json::Value::Null);

        // In a browser with no consent cookie, the person's last choice holds:
        // no banner.
        let body = page(&app, "/explore", Some(&session), &[]).await;
        assert!(!body.contains("consent-banner"), "the person already chose");
    }
);

on_both_backends!(
    analytics_only_with_consent_and_without_identifiers,
    |app| async move {
        let browser = uuid::Uuid::new_v4().simple().to_string();
        let none = format!("uni1_consent=1.00.{browser}");
        let analytics = format!("uni1_consent=1.01.{browser}");
        // Undecided, refused, or Global Privacy Control: nothing recorded.
        page(&app, "/", None, &[]).await;
        page(&app, "/", Some(&none), &[]).await;
        page(&app, "/", Some(&analytics), &[("sec-gpc", "1")]).await;
        assert!(events(&app).await.is_empty());
        // With consent: one page view, reduced to what the policy says.
        page(
            &app,
            "/explore?sort=new",
            Some(&analytics),
            &[("referer", "https://news.example.org/item?id=7")],
        )
        .await;
        // Not a page load (a script's fetch): not a page view.
        let r = app
            .send(
                Request::get("/explore")
                    .header("cookie", &analytics)
                    .header("sec-fetch-dest", "empty")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, 200);
        let rows = events(&app).await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        let e = &rows[0];
        assert_eq!(e.kind, "pageview");
        assert_eq!(e.path.as_deref(), Some("/explore"), "no query");
        assert_eq!(e.referrer_host.as_deref(), Some("news.example.org"));
        assert_eq!(e.device, "desktop");
        assert_eq!(e.visitor.len(), 32);
        assert_eq!(e.day, chrono::Utc::now().date_naive());
        let text = format!("{e:?}");
        for secret in ["127.0.0.1", "Firefox", &browser, "id=7"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }

        // A sign-up with consent counts; one without does not.
        let mut v = Visitor::new("198.51.100.20");
        v.cookie = Some(analytics.clone());
        let r = crate::fixtures::sign_up(&app, "bob@example.org", &v).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = crate::fixtures::sign_up(&app, "carol@example.org", &Visitor::new("198.51.100.21"))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let signups = events(&app)
            .await
            .into_iter()
            .filter(|e| e.kind == "signup")
            .count();
        assert_eq!(signups, 1);

        // A person who objected (PRV-4) is not counted, whatever the cookie.
        let (mut dave, _) = member(&app, "dave@example.org", "198.51.100.22").await;
        let r = app
            .post_as(
                "/api/set_privacy_choice",
                &[("choice", "objection"), ("on", "on")],
                &dave,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let session = dave.cookie.clone().unwrap();
        dave.cookie = Some(format!("{session}; {analytics}"));
        let before = events(&app).await.len();
        page(&app, "/explore", dave.cookie.as_deref(), &[]).await;
        let form = [
            ("form_key", "key-consent-0003"),
            ("model", "builtin"),
            ("prompt", "a lighthouse"),
            ("aspect_ratio", "1:1"),
            ("count", "1"),
        ];
        let r = app.post_as("/api/generate", &form, &dave).await;
        assert!(
            r.status == 200 || r.status == 409 || r.status == 403,
            "{}",
            r.body
        );
        assert_eq!(
            events(&app).await.len(),
            before,
            "an objection stops counting"
        );

        // The operator's view is aggregates only.
        let summary = Analytics::new(app.db.clone())
            .summary(30, chrono::Utc::now())
            .await
            .unwrap();
        assert_eq!(summary.days.len(), 30);
        let today = summary.days.last().unwrap();
        assert_eq!(today.pageviews, 1);
        assert_eq!(today.visitors, 1);
        assert_eq!(today.events, vec![("signup".to_owned(), 1)]);
        assert_eq!(summary.top_pages, vec![("/explore".to_owned(), 1)]);
        // `uni1 admin analytics`, as a table and as JSON.
        let table = uni1_server::admin::run(
            app.db.clone(),
            app.key.clone(),
            uni1_server::config::AdminCommand::Analytics {
                days: 7,
                json: false,
            },
            None,
        )
        .await
        .unwrap();
        let today_line = table
            .lines()
            .find(|l| l.starts_with(&chrono::Utc::now().date_naive().to_string()))
            .unwrap();
        let figures: Vec<&str> = today_line.split_whitespace().collect();
        assert_eq!(&figures[1..], ["1", "1", "1", "0", "0"], "{table}");
        assert!(
            table.contains("news.example.org") && table.contains("desktop"),
            "{table}"
        );
        let json = uni1_server::admin::run(
            app.db.clone(),
            app.key.clone(),
            uni1_server::config::AdminCommand::Analytics {
                days: 7,
                json: true,
            },
            None,
        )
        .await
        .unwrap();
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["days"].as_array().unwrap().len(), 7);
        assert_eq!(json["days"][6]["events"]["signup"], 1);
    }
);

on_both_backends!(
    the_salt_of_a_day_is_deleted_when_the_day_ends,
    |app| async move {
        let analytics = Analytics::new(app.db.clone());
        let visitor = uni1_domain::consent::Visitor {
            choice: Some(uni1_domain::consent::CookieChoice::ALL),
            browser: None,
            gpc: false,
        };
        let permit = uni1_domain::analytics::permit(&visitor, false).unwrap();
        let hit = || uni1_domain::analytics::Hit {
            path: Some("/"),
            own_host: "uni1.test",
            user_agent: "UA",
            ip: "198.51.100.30",
            ..Default::default()
        };
        let today = chrono::Utc::now();
        let tomorrow = today + chrono::Duration::days(1);
        analytics
            .record(permit, EventKind::PageView, hit(), today)
            .await
            .unwrap();
        analytics
            .record(permit, EventKind::PageView, hit(), today)
            .await
            .unwrap();
        assert_eq!(
            analytics.salt_days().await.unwrap(),
            vec![today.date_naive()]
        );
        assert_eq!(
            analytics.rotate(today).await.unwrap(),
            0,
            "today's salt stays"
        );
        // The day is over: its salt goes, and tomorrow's visitor is a stranger.
        assert_eq!(analytics.rotate(tomorrow).await.unwrap(), 1);
        assert!(analytics.salt_days().await.unwrap().is_empty());
        analytics
            .record(permit, EventKind::PageView, hit(), tomorrow)
            .await
            .unwrap();
        let rows = events(&app).await;
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[0].visitor, rows[1].visitor,
            "the same visitor within a day"
        );
        assert_ne!(
            rows[0].visitor, rows[2].visitor,
            "not recognised the next day"
        );
        assert_eq!(
            analytics.salt_days().await.unwrap(),
            vec![tomorrow.date_naive()]
        );
    }
);

on_both_backends!(
    navigations_inside_the_app_count_only_for_counted_visitors,
    |app| async move {
        let browser = uuid::Uuid::new_v4().simple().to_string();
        let analytics = format!("uni1_consent=1.01.{browser}");
        let none = format!("uni1_consent=1.00.{browser}");
        // The page tells the browser whether to report navigations.
        let counted = page(&app, "/explore", Some(&analytics), &[]).await;
        assert!(counted.contains("data-analytics=\"on\""), "{counted}");
        let not_counted = page(&app, "/explore", Some(&none), &[]).await;
        assert!(!not_counted.contains("data-analytics"));
        let gpc = page(&app, "/explore", Some(&analytics), &[("sec-gpc", "1")]).await;
        assert!(!gpc.contains("data-analytics"));
        let before = events(&app).await.len();
        assert_eq!(before, 1, "the counted page load");

        let mut v = Visitor::new("198.51.100.70");
        v.cookie = Some(none.clone());
        let r = app
            .post_as("/api/page_view", &[("path", "/pricing")], &v)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(events(&app).await.len(), before, "no consent: nothing");
        v.cookie = Some(analytics.clone());
        let r = app
            .post_as(
                "/api/page_view",
                &[("path", "/gallery/0193a1b2-c3d4?x=1")],
                &v,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let rows = events(&app).await;
        assert_eq!(rows.len(), before + 1);
        assert!(rows
            .iter()
            .any(|e| e.kind == "pageview" && e.path.as_deref() == Some("/gallery/:id")));
        for bad in ["https://evil.example/", "//evil.example", ""] {
            let r = app.post_as("/api/page_view", &[("path", bad)], &v).await;
            assert_eq!(r.status, 422, "{bad:?}");
        }
        assert_eq!(events(&app).await.len(), before + 1);
    }
);
