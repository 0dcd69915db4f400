//! Server-rendered pages: content, status codes, and the headers that let
//! them hydrate under a strict Content-Security-Policy.

use crate::on_both_backends;
use crate::support::TestApp;

on_both_backends!(
    landing_page_renders_complete_html,
    |app: TestApp| async move {
        let r = app.get("/").await;
        assert_eq!(r.status, 200);
        assert!(
            r.body.contains("Turn words into images you own."),
            "{}",
            r.body
        );
        assert!(r.body.contains(r#"href="/studio""#));
        assert!(
            r.body.contains("/pkg/uni1.js"),
            "hydration script is linked"
        );
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    }
);

on_both_backends!(
    pages_carry_a_nonce_csp_matching_their_scripts,
    |app: TestApp| async move {
        let r = app.get("/").await;
        let csp = r
            .header("content-security-policy")
            .expect("CSP on pages")
            .to_owned();
        assert!(
            csp.contains("'wasm-unsafe-eval'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split("'").next())
            .expect("a nonce in script-src");
        assert!(nonce.len() >= 16, "nonce is long enough: {nonce}");
        assert!(
            r.body.contains(&format!("nonce=\"{nonce}\"")),
            "scripts carry the nonce"
        );
        let again = app.get("/").await;
        assert_ne!(
            again.header("content-security-policy"),
            Some(csp.as_str()),
            "a fresh nonce per response"
        );
    }
);

on_both_backends!(unknown_paths_get_the_404_page, |app: TestApp| async move {
    let r = app.get("/no/such/page").await;
    assert_eq!(r.status, 404);
    assert!(r.body.contains("This page does not exist"));
    assert!(r.body.contains("noindex"));
});

on_both_backends!(
    legal_pages_name_the_configured_operator,
    |app: TestApp| async move {
        let r = app.get("/privacy").await;
        assert_eq!(r.status, 200);
        assert!(
            r.body.contains("Test Operator"),
            "operator from settings is shown"
        );
        assert!(r.body.contains("operator@uni1.test"));
        assert!(r.body.contains("Last updated: "));
        for path in ["/terms", "/cookies", "/contact", "/pricing", "/settings"] {
            let r = app.get(path).await;
            assert_eq!(r.status, 200, "{path}");
            assert!(r.body.contains("<footer"), "{path} has the layout");
        }
        // The studio needs an account: signed out, it says so and links to sign-in.
        let r = app.get("/studio").await;
        assert_eq!(r.status, 401);
        assert!(r.body.contains("/sign-in?next=/studio"));
        // So does billing.
        let r = app.get("/billing").await;
        assert_eq!(r.status, 401);
        assert!(r.body.contains("/sign-in?next=/billing"));
        // So does the gallery.
        let r = app.get("/gallery").await;
        assert_eq!(r.status, 401);
        assert!(r.body.contains("/sign-in?next=/gallery"));
        assert!(r.body.contains("<footer"));
    }
);

on_both_backends!(
    static_files_are_served_and_revalidated,
    |app: TestApp| async move {
        let r = app.get("/pkg/uni1.css").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "body{margin:0}");
        assert_eq!(r.header("content-type"), Some("text/css"));
        let modified = r.header("last-modified").expect("Last-Modified").to_owned();
        let request = http::Request::get("/pkg/uni1.css")
            .header("if-modified-since", modified)
            .body(axum::body::Body::empty())
            .expect("request");
        assert_eq!(app.send(request).await.status, 304);
        let missing = app.get("/pkg/missing.js").await;
        assert_eq!(missing.status, 404);
        assert!(missing.body.contains("This page does not exist"));
    }
);

on_both_backends!(
    entry_pages_are_indexable_and_link_pages_are_not,
    |app: TestApp| async move {
        for path in ["/", "/sign-in", "/sign-up", "/privacy"] {
            let r = app.get(path).await;
            assert!(!r.body.contains("noindex"), "{path} should be indexable");
        }
        for path in [
            "/confirm-email?token=x",
            "/reset-password/new?token=x",
            "/sign-up/complete?token=x",
            "/settings/security",
        ] {
            let r = app.get(path).await;
            assert!(
                r.body.contains(r#"name="robots" content="noindex""#),
                "{path} should not be indexed"
            );
        }
    }
);
