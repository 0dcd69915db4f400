//! Cross-site request refusal, the Host allow-list, the development
//! outbox's guards, request ids, caching of private answers and the
//! security headers on every response.

// Helpers outside `#[test]` functions: a failed setup step should panic.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use sea_orm::{EntityTrait, PaginatorTrait};
use uni1_domain::entities::contact_message;

use crate::on_both_backends;
use crate::support::{run_configured, run_with, Backend, TestApp, Visitor};

const VALID: [(&str, &str); 3] = [
    ("name", "Ada"),
    ("email", "ada@example.org"),
    ("message", "Hello, this is a real message."),
];

async fn stored(app: &TestApp) -> u64 {
    contact_message::Entity::find()
        .count(&app.db)
        .await
        .expect("count")
}

on_both_backends!(
    a_cross_origin_server_function_call_is_refused,
    |app: TestApp| async move {
        let r = app
            .post_form_from("/api/contact", &VALID, Some("https://evil.example"))
            .await;
        assert_eq!(r.status, 403);
        assert!(r.body.contains("came from another site"));
        assert_eq!(stored(&app).await, 0, "nothing was written");

        let r = app
            .post_form_from("/api/contact", &VALID, Some("null"))
            .await;
        assert_eq!(r.status, 403);
        assert_eq!(stored(&app).await, 0);
    }
);

on_both_backends!(
    a_same_origin_server_function_call_works,
    |app: TestApp| async move {
        let r = app.post_form("/api/contact", &VALID).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(stored(&app).await, 1);
    }
);

on_both_backends!(
    every_response_has_security_headers_and_a_request_id,
    |app: TestApp| async move {
        for path in ["/", "/healthz", "/no/such/page"] {
            let r = app.get(path).await;
            assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}");
            assert_eq!(
                r.header("x-content-type-options"),
                Some("nosniff"),
                "{path}"
            );
            assert_eq!(
                r.header("referrer-policy"),
                Some("strict-origin-when-cross-origin"),
                "{path}"
            );
            assert!(
                r.header("content-security-policy")
                    .is_some_and(|c| c.contains("frame-ancestors 'none'")),
                "{path}"
            );
            assert!(
                r.header("x-request-id").is_some_and(|id| id.len() == 36),
                "{path}"
            );
            assert!(
                r.header("strict-transport-security").is_none(),
                "no HSTS over http: {path}"
            );
        }
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_is_sent_when_served_over_https() {
    run_with(
        Backend::Sqlite,
        "https://uni1.test",
        |app: TestApp| async move {
            let r = app.get("/").await;
            assert!(r
                .header("strict-transport-security")
                .is_some_and(|v| v.contains("max-age=")));
        },
    )
    .await;
}

on_both_backends!(
    pages_are_compressed_for_clients_that_ask,
    |app: TestApp| async move {
        let request = http::Request::get("/")
            .header("accept-encoding", "br")
            .body(axum::body::Body::empty())
            .expect("request");
        let r = app.send(request).await;
        assert_eq!(r.header("content-encoding"), Some("br"));
    }
);

/// A POST of `VALID` to the contact form with the given extra headers.
async fn contact_post(app: &TestApp, headers: &[(&str, &str)]) -> crate::support::Reply {
    let body = "name=Ada&email=ada%40example.org&message=Hello%2C+this+is+a+real+message.";
    let mut request = http::Request::post("/api/contact")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    app.send(request.body(Body::from(body)).unwrap()).await
}

on_both_backends!(
    a_form_post_needs_an_origin_or_a_fetch_label,
    |app: TestApp| async move {
        let r = contact_post(&app, &[]).await;
        assert_eq!(r.status, 403, "{}", r.body);
        assert_eq!(stored(&app).await, 0, "nothing was written");
        let r = contact_post(&app, &[("sec-fetch-site", "same-origin")]).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = contact_post(&app, &[("origin", crate::support::ORIGIN)]).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(stored(&app).await, 2);
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_an_http_origin_is_foreign() {
    run_with(
        Backend::Sqlite,
        "https://uni1.test",
        |app: TestApp| async move {
            let r = contact_post(&app, &[("origin", "http://uni1.test")]).await;
            assert_eq!(r.status, 403, "{}", r.body);
            let r = contact_post(&app, &[("origin", "https://uni1.test")]).await;
            assert_eq!(r.status, 200, "{}", r.body);
        },
    )
    .await;
}

/// A GET of `path` with `host` as the Host header.
async fn get_with_host(app: &TestApp, path: &str, host: &str) -> crate::support::Reply {
    app.send(
        http::Request::get(path)
            .header("host", host)
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

on_both_backends!(
    a_request_for_another_host_name_is_refused,
    |app: TestApp| async move {
        assert_eq!(get_with_host(&app, "/", "uni1.test").await.status, 200);
        assert_eq!(get_with_host(&app, "/", "UNI1.test:80").await.status, 200);
        // A DNS-rebinding page reaches the server under its own name.
        for host in ["evil.example", "uni1.test.evil.example", "uni1.test:8080"] {
            let r = get_with_host(&app, "/", host).await;
            assert_eq!(r.status, 421, "{host}");
            assert!(r.body.contains("host name"), "{}", r.body);
            assert_eq!(r.header("x-frame-options"), Some("DENY"));
        }
        let r = app
            .send(
                http::Request::post("/api/contact")
                    .header("host", "evil.example")
                    .header("origin", "http://evil.example")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, 421);
        // Load balancers probe by address.
        assert_eq!(
            get_with_host(&app, "/healthz", "10.0.0.7:3000")
                .await
                .status,
            200
        );
        assert_eq!(
            get_with_host(&app, "/readyz", "10.0.0.7:3000").await.status,
            200
        );
    }
);

on_both_backends!(
    a_malformed_request_id_is_replaced,
    |app: TestApp| async move {
        let with_id = |id: &'static str| {
            http::Request::get("/healthz")
                .header("x-request-id", id)
                .body(Body::empty())
                .unwrap()
        };
        let r = app.send(with_id("req-42_a")).await;
        assert_eq!(
            r.header("x-request-id"),
            Some("req-42_a"),
            "a plain id is kept"
        );
        for forged in [
            "abc def",
            "x\" user=admin",
            "0123456789012345678901234567890123456789012345678901234567890123456789",
        ] {
            let r = app.send(with_id(forged)).await;
            let id = r.header("x-request-id").unwrap();
            assert_ne!(id, forged);
            assert!(uuid::Uuid::parse_str(id).is_ok(), "a fresh id: {id}");
        }
    }
);

on_both_backends!(
    private_answers_are_not_stored_and_media_revalidates,
    |app: TestApp| async move {
        let (alice, alice_id) =
            crate::fixtures::member(&app, "cache@uni1.test", "198.51.100.90").await;
        app.gens
            .submit(
                alice_id,
                true,
                crate::fixtures::input("key-cache-01", "a boat", 1),
            )
            .await
            .unwrap();
        crate::fixtures::drain(&app.gens, std::time::Duration::from_secs(30)).await;

        // A signed-in page and a server function's answer.
        let page = app.get_as("/gallery", &alice).await;
        assert_eq!(page.status, 200);
        assert_eq!(page.header("cache-control"), Some("no-store"));
        let me = app.post_as("/api/me", &[], &alice).await;
        assert_eq!(me.status, 200, "{}", me.body);
        assert_eq!(me.header("cache-control"), Some("no-store"));
        let anonymous = app.post_form("/api/me", &[]).await;
        assert_eq!(anonymous.header("cache-control"), Some("no-store"));
        // A page whose URL carries a one-time token.
        let reset = app.get("/reset-password/new?token=abc").await;
        assert_eq!(reset.header("cache-control"), Some("no-store"));

        // Media: kept, but revalidated every time.
        use sea_orm::{ColumnTrait, QueryFilter};
        let image = uni1_domain::entities::image::Entity::find()
            .filter(uni1_domain::entities::image::Column::UserId.eq(alice_id))
            .one(&app.db)
            .await
            .unwrap()
            .expect("the image was made");
        let url = format!("/media/{}/preview", image.id);
        let r = app.get_as(&url, &alice).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("cache-control"), Some("private, no-cache"));
        let etag = r.header("etag").unwrap().to_owned();
        let r304 = app
            .send(
                http::Request::get(&url)
                    .header("cookie", alice.cookie.clone().unwrap())
                    .header("if-none-match", etag)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r304.status, 304);
        assert_eq!(r304.header("cache-control"), Some("private, no-cache"));

        // Public pages for visitors stay cacheable as before; static files
        // never get no-store, even for a signed-in person: content-hashed
        // ones are immutable for a year (and sent precompressed when a .br
        // file is there), the others revalidate.
        for path in ["/", "/explore"] {
            let r = app.get(path).await;
            assert_eq!(r.status, 200, "{path}");
            assert_eq!(r.header("cache-control"), None, "{path}");
        }
        let css = app.get_as("/pkg/uni1.css", &alice).await;
        assert_eq!(css.status, 200);
        assert_eq!(css.header("cache-control"), Some("no-cache"));
        let hashed = format!("/pkg/{}", crate::support::HASHED_JS);
        let req = http::Request::get(&hashed)
            .header("accept-encoding", "gzip, br")
            .body(axum::body::Body::empty())
            .unwrap();
        let js = app.send(req).await;
        assert_eq!(js.status, 200);
        assert_eq!(
            js.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(js.header("content-encoding"), Some("br"));
        assert_eq!(js.bytes, b"precompressed", "the file written at build time");
    }
);

/// The development outbox on a site at `public_url` configured by `configure`.
async fn with_outbox<F, Fut>(configure: fn(&mut uni1_server::config::ServeArgs), test: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for backend in [Backend::Sqlite, Backend::Postgres] {
        run_configured(backend, "http://127.0.0.1:3000", configure, &test).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dev_outbox_answers_this_machine_only() {
    with_outbox(
        |_| {},
        |app: TestApp| async move {
            crate::fixtures::sign_up(&app, "local@example.org", &Visitor::new("127.0.0.1")).await;
            let r = app.get("/dev/outbox").await;
            assert_eq!(r.status, 200, "the local set-up shows it");
            assert!(r.body.contains("to local@example.org"), "{}", r.body);
            let r = get_with_host(&app, "/dev/outbox", "localhost:3000").await;
            assert_eq!(r.status, 200);

            // Another machine, even with the right Host.
            let r = app
                .get_as("/dev/outbox", &Visitor::new("203.0.113.9"))
                .await;
            assert_eq!(r.status, 404);
            assert!(!r.body.contains("local@example.org"));
            // DNS rebinding: this machine's browser, the attacker's name.
            let r = get_with_host(&app, "/dev/outbox", "evil.example:3000").await;
            assert_ne!(r.status, 200);
            assert!(!r.body.contains("local@example.org"));
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dev_outbox_is_off_on_a_reachable_listen_address() {
    with_outbox(
        |args| args.listen = Some("0.0.0.0:3000".parse().unwrap()),
        |app: TestApp| async move {
            crate::fixtures::sign_up(&app, "exposed@example.org", &Visitor::new("127.0.0.1")).await;
            let r = app.get("/dev/outbox").await;
            assert_eq!(r.status, 404);
            assert!(!r.body.contains("exposed@example.org"));
        },
    )
    .await;
    with_outbox(
        |args| args.trust_proxy_headers = Some(true),
        |app: TestApp| async move {
            assert_eq!(app.get("/dev/outbox").await.status, 404, "behind a proxy");
        },
    )
    .await;
}
