//! Mail delivery: queued with the change it reports, retried while the SMTP
//! server is down, and delivered through a real SMTP server (maildev).
//!
//! The maildev test needs `UNI1_TEST_SMTP_URL` and `UNI1_TEST_MAILDEV_URL`
//! (set by `make test`, which starts maildev). Without them it is skipped
//! with a loud message, unless `UNI1_REQUIRE_PEERS=1`.

use std::sync::{Arc, Mutex};

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use uni1_domain::entities::mail_outbox;
use uni1_domain::mail::delivery::{deliver_due, purge_old, RETENTION};
use uni1_domain::mail::open_bodies;
use uni1_server::mailers::{OutboxMailer, SmtpMailer};

use crate::fixtures::{last_mail, sign_in, sign_up, token_in, PASSWORD};
use crate::on_both_backends;
use crate::support::{run_with, Backend, TestApp, Visitor};

fn sender() -> lettre::message::Mailbox {
    "uni1 <no-reply@uni1.test>".parse().expect("mailbox")
}

/// A port on loopback where nothing listens.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

on_both_backends!(
    mail_survives_an_smtp_server_that_is_down,
    |app: TestApp| async move {
        sign_up(&app, "patient@example.org", &Visitor::new("198.51.100.60")).await;
        let down = SmtpMailer::from_url(&format!("smtp://127.0.0.1:{}", closed_port()))
            .expect("transport");
        let now = Utc::now();
        let report = deliver_due(&app.db, &app.key, &down, &sender(), now)
            .await
            .expect("pass");
        assert_eq!((report.sent, report.retrying, report.failed), (0, 1, 0));

        let mail = mail_outbox::Entity::find()
            .one(&app.db)
            .await
            .expect("q")
            .expect("kept");
        assert_eq!(mail.attempts, 1);
        assert!(mail.sent_at.is_none() && mail.last_error.is_some());
        assert!(mail.send_after > now, "retried later, not now");
        let report = deliver_due(&app.db, &app.key, &down, &sender(), now)
            .await
            .expect("pass");
        assert_eq!(report.sent + report.retrying, 0, "not due yet");

        let outbox = std::env::temp_dir().join(format!("uni1-outbox-{}", uuid::Uuid::new_v4()));
        let up = OutboxMailer(outbox.clone());
        let report = deliver_due(&app.db, &app.key, &up, &sender(), mail.send_after)
            .await
            .expect("pass");
        assert_eq!(report.sent, 1);
        let mail = mail_outbox::Entity::find()
            .one(&app.db)
            .await
            .expect("q")
            .expect("kept");
        assert!(mail.sent_at.is_some());
        // The outbox folder is the mailbox: the sealed body stays for
        // /dev/outbox until the purge.
        assert!(open_bodies(&app.key, &mail)
            .expect("opens")
            .text
            .contains("token="));
        let files: Vec<_> = std::fs::read_dir(&outbox)
            .expect("outbox")
            .map(|f| f.expect("entry").path())
            .collect();
        assert_eq!(files.len(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &std::path::Path| {
                std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
            };
            assert_eq!(mode(&files[0]), 0o600, "the .eml file is private");
            assert_eq!(mode(&outbox), 0o700, "the outbox folder is private");
        }
        std::fs::remove_dir_all(outbox).ok();
        let report = deliver_due(&app.db, &app.key, &up, &sender(), Utc::now())
            .await
            .expect("pass");
        assert_eq!(report.sent, 0, "sent once only");
    }
);

/// A minimal SMTP server on loopback that accepts every mail and keeps
/// what it received.
async fn fake_smtp() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let kept = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = tokio::io::BufReader::new(read).lines();
                write.write_all(b"220 fake ESMTP\r\n").await.ok();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(body) = data.as_mut() {
                        if line == "." {
                            kept.lock()
                                .expect("lock")
                                .push(data.take().unwrap_or_default());
                            write.write_all(b"250 OK\r\n").await.ok();
                        } else {
                            body.push_str(&line);
                            body.push('\n');
                        }
                        continue;
                    }
                    let command = line.to_ascii_uppercase();
                    let reply: &[u8] = if command.starts_with("EHLO") {
                        b"250-fake\r\n250 8BITMIME\r\n"
                    } else if command.starts_with("DATA") {
                        data = Some(String::new());
                        b"354 go ahead\r\n"
                    } else if command.starts_with("QUIT") {
                        write.write_all(b"221 bye\r\n").await.ok();
                        break;
                    } else {
                        b"250 OK\r\n"
                    };
                    write.write_all(reply).await.ok();
                }
            });
        }
    });
    (port, received)
}

on_both_backends!(queued_mail_bodies_are_sealed, |app: TestApp| async move {
    sign_up(&app, "sealed@example.org", &Visitor::new("198.51.100.63")).await;
    let opened = last_mail(&app, "sealed@example.org").await;
    let token = token_in(&opened.text_body);
    assert!(opened.html_body.contains(&token));
    let raw = mail_outbox::Entity::find_by_id(opened.id)
        .one(&app.db)
        .await
        .expect("q")
        .expect("queued");
    for body in [&raw.text_body, &raw.html_body] {
        assert!(!body.contains(&token), "a token in clear: {body}");
        assert!(!body.contains("token="), "a link in clear: {body}");
        assert!(body.starts_with("v1."), "not sealed: {body}");
    }
    // Bound to its row: another row's sealed body does not open here.
    let mut swapped = raw.clone();
    swapped.id = uuid::Uuid::now_v7();
    assert!(open_bodies(&app.key, &swapped).is_err());
});

on_both_backends!(
    sent_mail_is_cleared_then_purged,
    |app: TestApp| async move {
        sign_up(&app, "sent@example.org", &Visitor::new("198.51.100.64")).await;
        sign_up(&app, "gave-up@example.org", &Visitor::new("198.51.100.65")).await;
        // One mail was given up on earlier (not due any more).
        let failed = mail_outbox::Entity::find()
            .filter(mail_outbox::Column::ToAddress.eq("gave-up@example.org"))
            .one(&app.db)
            .await
            .expect("q")
            .expect("queued");
        let now = Utc::now();
        let mut row = failed.into_active_model();
        row.failed_at = Set(Some(now));
        row.update(&app.db).await.expect("update");

        let (port, received) = fake_smtp().await;
        let smtp = SmtpMailer::from_url(&format!("smtp://127.0.0.1:{port}")).expect("transport");
        let report = deliver_due(&app.db, &app.key, &smtp, &sender(), now)
            .await
            .expect("pass");
        assert_eq!(report.sent, 1, "{report:?}");
        assert_eq!(received.lock().expect("lock").len(), 1);
        assert!(received.lock().expect("lock")[0].contains("sent@example.org"));

        let sent = mail_outbox::Entity::find()
            .filter(mail_outbox::Column::ToAddress.eq("sent@example.org"))
            .one(&app.db)
            .await
            .expect("q")
            .expect("the metadata row stays");
        assert!(sent.sent_at.is_some());
        assert_eq!((sent.text_body.as_str(), sent.html_body.as_str()), ("", ""));
        assert_eq!(sent.kind, "confirm_email");

        // Kept for the retention period, then purged (sent and failed alike).
        let day = chrono::Duration::days(1);
        assert_eq!(
            purge_old(&app.db, now + RETENTION - day)
                .await
                .expect("purge"),
            0
        );
        assert_eq!(
            purge_old(&app.db, now + RETENTION + day)
                .await
                .expect("purge"),
            2
        );
        assert!(mail_outbox::Entity::find()
            .all(&app.db)
            .await
            .expect("q")
            .is_empty());
    }
);

/// GET `url` over plain HTTP/1.1 and return the body.
pub(crate) async fn http_get(url: &str) -> String {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .expect("connect to maildev");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").expect("HTTP response");
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if size == 0 {
                break;
            }
            out.push_str(&tail[..size]);
            rest = &tail[size + 2..];
        }
        out
    } else {
        body.to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmation_mail_arrives_over_real_smtp() {
    let (Ok(smtp), Ok(maildev)) = (
        std::env::var("UNI1_TEST_SMTP_URL"),
        std::env::var("UNI1_TEST_MAILDEV_URL"),
    ) else {
        if std::env::var("UNI1_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("UNI1_TEST_SMTP_URL and UNI1_TEST_MAILDEV_URL are required");
        }
        eprintln!("\n!!! SKIPPING the SMTP test: no maildev (run it through `make test`)\n");
        return;
    };
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let smtp = smtp.clone();
        let maildev = maildev.clone();
        run_with(backend, crate::support::ORIGIN, |app: TestApp| async move {
            let address = format!("smtp-{}@example.org", uuid::Uuid::new_v4().simple());
            let mut v = Visitor::new("198.51.100.61");
            assert_eq!(sign_up(&app, &address, &v).await.status, 200);
            let transport = SmtpMailer::from_url(&smtp).expect("transport");
            let report = deliver_due(&app.db, &app.key, &transport, &sender(), Utc::now())
                .await
                .expect("pass");
            assert_eq!(report.sent, 1, "{report:?}");

            let inbox: serde_json::Value =
                serde_json::from_str(&http_get(&format!("{maildev}/api/email")).await)
                    .expect("maildev JSON");
            let mail = inbox
                .as_array()
                .expect("a list")
                .iter()
                .find(|m| m["to"][0]["address"] == address.as_str())
                .unwrap_or_else(|| panic!("no mail to {address} in maildev"));
            assert_eq!(mail["subject"], "Confirm your e-mail address for uni1");
            assert!(mail["html"]
                .as_str()
                .is_some_and(|h| h.contains("Confirm my address")));
            let token = token_in(mail["text"].as_str().expect("text part"));

            sign_in(&app, &address, PASSWORD, &mut v).await;
            let r = app
                .post_as("/api/confirm_email", &[("token", &token)], &v)
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            let me = app.post_as("/api/me", &[], &v).await.json();
            assert_eq!(me["email_confirmed"], true);
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_the_cookie_is_host_prefixed_and_secure() {
    run_with(
        Backend::Sqlite,
        "https://uni1.test",
        |app: TestApp| async move {
            let v = Visitor::new("198.51.100.62");
            sign_up(&app, "tls@example.org", &v).await;
            let r = app
                .post_as(
                    "/api/sign_in",
                    &[("email", "tls@example.org"), ("password", PASSWORD)],
                    &v,
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            let cookie = r.set_cookie("__Host-uni1_session").expect("__Host- cookie");
            assert!(
                cookie.contains("; Secure")
                    && cookie.contains("Path=/")
                    && !cookie.contains("Domain"),
                "{cookie}"
            );
        },
    )
    .await;
}
