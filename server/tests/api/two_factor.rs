//! Two-factor authentication with TOTP and recovery codes.

use sea_orm::EntityTrait;
use uni1_domain::entities::two_factor;

use crate::fixtures::{code_at, sign_in, sign_up, PASSWORD};
use crate::on_both_backends;
use crate::support::{TestApp, Visitor};

const CHALLENGE_COOKIE: &str = "uni1_2fa";

/// Signs in with the password; with two-factor on, keeps the challenge cookie.
async fn first_factor(app: &TestApp, email: &str, ip: &str) -> Visitor {
    let mut v = Visitor::new(ip);
    let r = app
        .post_as(
            "/api/sign_in",
            &[("email", email), ("password", PASSWORD)],
            &v,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("location"), Some("/sign-in/two-factor"));
    assert!(
        r.set_cookie("uni1_session").is_none(),
        "no session before the second factor"
    );
    let challenge = r.set_cookie(CHALLENGE_COOKIE).expect("challenge cookie");
    assert!(
        challenge.contains("HttpOnly") && challenge.contains("Max-Age=600"),
        "{challenge}"
    );
    v.cookie = Some(challenge.split(';').next().expect("pair").to_owned());
    v
}

on_both_backends!(
    totp_two_factor_from_enrolment_to_sign_in,
    |app: TestApp| async move {
        let mut v = Visitor::new("198.51.100.110");
        sign_up(&app, "tess@example.org", &v).await;
        crate::fixtures::confirm(&app, "tess@example.org", &v).await;
        sign_in(&app, "tess@example.org", PASSWORD, &mut v).await;

        let setup = app.post_as("/api/begin_two_factor", &[], &v).await.json();
        let secret = setup["secret"].as_str().expect("secret").to_owned();
        assert!(setup["qr_data_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("data:image/svg+xml;base64,")));
        let wrong = app
            .post_as("/api/confirm_two_factor", &[("code", "000000")], &v)
            .await;
        assert_eq!(wrong.status, 422);
        assert_eq!(wrong.json()["Invalid"]["field"], "code");
        let codes = app
            .post_as(
                "/api/confirm_two_factor",
                &[("code", &code_at(&secret, 0))],
                &v,
            )
            .await;
        assert_eq!(codes.status, 200, "{}", codes.body);
        let codes: Vec<String> = serde_json::from_value(codes.json()).expect("codes");
        assert_eq!(codes.len(), 10);

        // The secret is sealed at rest.
        let row = two_factor::Entity::find()
            .one(&app.db)
            .await
            .expect("q")
            .expect("row");
        assert!(row.secret_sealed.starts_with("v1.") && !row.secret_sealed.contains(&secret));
        assert_eq!(
            app.post_as("/api/security_overview", &[], &v).await.json()["two_factor"],
            true
        );

        // A new sign-in needs the second factor; the code just used cannot be reused.
        let phone = first_factor(&app, "tess@example.org", "203.0.113.110").await;
        let reused = app
            .post_as(
                "/api/verify_second_factor",
                &[("code", &code_at(&secret, 0))],
                &phone,
            )
            .await;
        assert_eq!(reused.status, 422, "a code works once");
        let ok = app
            .post_as(
                "/api/verify_second_factor",
                &[("code", &code_at(&secret, 30))],
                &phone,
            )
            .await;
        assert_eq!(ok.status, 200, "{}", ok.body);
        assert!(ok.set_cookie("uni1_session").is_some());
        assert!(ok
            .set_cookie(CHALLENGE_COOKIE)
            .is_some_and(|c| c.contains("Max-Age=0")));

        // A recovery code works once.
        let laptop = first_factor(&app, "tess@example.org", "203.0.113.111").await;
        let r = app
            .post_as(
                "/api/verify_second_factor",
                &[("code", &codes[0].to_uppercase())],
                &laptop,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let again = first_factor(&app, "tess@example.org", "203.0.113.112").await;
        let r = app
            .post_as("/api/verify_second_factor", &[("code", &codes[0])], &again)
            .await;
        assert_eq!(r.status, 422);

        // Five wrong codes spend the challenge: then even a right one is refused.
        let guesser = first_factor(&app, "tess@example.org", "192.0.2.110").await;
        for _ in 0..5 {
            let r = app
                .post_as("/api/verify_second_factor", &[("code", "123456")], &guesser)
                .await;
            assert_eq!(r.status, 422);
        }
        // (From another address too: the limit belongs to the challenge,
        // not to the address, which is rate limited on its own.)
        let mut elsewhere = guesser.clone();
        elsewhere.ip = "192.0.2.111".parse().expect("ip");
        let r = app
            .post_as(
                "/api/verify_second_factor",
                &[("code", &codes[1])],
                &elsewhere,
            )
            .await;
        assert_eq!(r.status, 422);
        assert_eq!(r.json()["Invalid"]["field"], "token");

        // Turning it off needs the password.
        let r = app
            .post_as(
                "/api/disable_two_factor",
                &[("password", "wrong password here")],
                &v,
            )
            .await;
        assert_eq!(r.status, 422);
        assert_eq!(r.json()["Invalid"]["field"], "password");
        let r = app
            .post_as("/api/disable_two_factor", &[("password", PASSWORD)], &v)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let mut plain = Visitor::new("203.0.113.113");
        let r = sign_in(&app, "tess@example.org", PASSWORD, &mut plain).await;
        assert!(
            r.set_cookie("uni1_session").is_some(),
            "no second step any more"
        );
    }
);

on_both_backends!(
    wrong_codes_count_per_person_across_challenges,
    |app: TestApp| async move {
        let mut v = Visitor::new("198.51.100.115");
        sign_up(&app, "grind@example.org", &v).await;
        crate::fixtures::confirm(&app, "grind@example.org", &v).await;
        sign_in(&app, "grind@example.org", PASSWORD, &mut v).await;
        let secret = app.post_as("/api/begin_two_factor", &[], &v).await.json()["secret"]
            .as_str()
            .expect("secret")
            .to_owned();
        let r = app
            .post_as(
                "/api/confirm_two_factor",
                &[("code", &code_at(&secret, 0))],
                &v,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);

        // Someone with the password tries codes over fresh challenges and
        // addresses: each challenge takes 5, the person takes 10 in all.
        for (i, ip) in ["192.0.2.115", "192.0.2.116"].into_iter().enumerate() {
            let guesser = first_factor(&app, "grind@example.org", ip).await;
            for j in 0..5 {
                let r = app
                    .post_as(
                        "/api/verify_second_factor",
                        &[("code", &format!("{:06}", 100_000 + i * 10 + j))],
                        &guesser,
                    )
                    .await;
                assert_eq!(r.status, 422, "{}", r.body);
            }
        }
        assert_eq!(paused_mails(&app).await, 1, "the owner is told");

        // Now even the right code is refused for a while, on a new challenge.
        let next = first_factor(&app, "grind@example.org", "192.0.2.117").await;
        let r = app
            .post_as(
                "/api/verify_second_factor",
                &[("code", &code_at(&secret, 30))],
                &next,
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(r.json()["Invalid"]["field"], "code");
        assert!(r.json()["Invalid"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Too many wrong codes")));
        assert!(r.set_cookie("uni1_session").is_none());
        assert_eq!(paused_mails(&app).await, 1, "told once");
    }
);

async fn paused_mails(app: &TestApp) -> usize {
    use sea_orm::{ColumnTrait, QueryFilter};
    use uni1_domain::entities::mail_outbox;
    mail_outbox::Entity::find()
        .filter(mail_outbox::Column::ToAddress.eq("grind@example.org"))
        .filter(mail_outbox::Column::Kind.eq("two_factor_paused"))
        .all(&app.db)
        .await
        .expect("mail")
        .len()
}
