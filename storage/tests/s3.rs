//! Blobs against a real S3-compatible server (s3s-fs, MinIO, R2...).
//!
//! Environment:
//! * `UNI1_TEST_S3_ENDPOINT`   — e.g. `http://127.0.0.1:9000` (http:// allowed here)
//! * `UNI1_TEST_S3_BUCKET`     — an existing bucket
//! * `UNI1_TEST_S3_ACCESS_KEY` — access key id
//! * `UNI1_TEST_S3_SECRET_KEY` — secret access key
//! * `UNI1_TEST_S3_REGION`     — optional, default `us-east-1`
//! * `UNI1_REQUIRE_S3=1`       — fail (instead of skip) when the endpoint is not set
//!
//! Every test works under its own unique prefix and removes it at the end.

#![allow(clippy::unwrap_used)] // test helpers may unwrap

mod common;

use std::io::Write as _;

use common::{key, ring, unique};
use uni1_storage::{Blobs, StorageError, StoreConfig};

struct Settings {
    endpoint: String,
    bucket: String,
    region: String,
    access_key: String,
    secret_key: String,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The server settings, or `None` (after saying so on stderr) to skip.
fn settings(test: &str) -> Option<Settings> {
    let Some(endpoint) = var("UNI1_TEST_S3_ENDPOINT") else {
        if var("UNI1_REQUIRE_S3").as_deref() == Some("1") {
            panic!(
                "UNI1_REQUIRE_S3=1 but UNI1_TEST_S3_ENDPOINT is not set \
                 (also needs UNI1_TEST_S3_BUCKET, UNI1_TEST_S3_ACCESS_KEY, UNI1_TEST_S3_SECRET_KEY)"
            );
        }
        // Straight to stderr: the test harness captures print macros only.
        let _ = writeln!(
            std::io::stderr(),
            "storage s3 test {test}: SKIPPED (UNI1_TEST_S3_ENDPOINT is not set)"
        );
        return None;
    };
    let need = |name: &str| {
        var(name).unwrap_or_else(|| panic!("UNI1_TEST_S3_ENDPOINT is set but {name} is not"))
    };
    Some(Settings {
        endpoint,
        bucket: need("UNI1_TEST_S3_BUCKET"),
        access_key: need("UNI1_TEST_S3_ACCESS_KEY"),
        secret_key: need("UNI1_TEST_S3_SECRET_KEY"),
        region: var("UNI1_TEST_S3_REGION").unwrap_or_else(|| "us-east-1".into()),
    })
}

fn config(s: &Settings, secret_key: &str) -> StoreConfig {
    StoreConfig::S3 {
        endpoint: Some(s.endpoint.clone()),
        bucket: s.bucket.clone(),
        region: s.region.clone(),
        access_key_id: s.access_key.clone(),
        secret_access_key: secret_key.to_owned().into(),
        allow_http: s.endpoint.starts_with("http://"),
    }
}

fn blobs(s: &Settings) -> Blobs {
    Blobs::open(&config(s, &s.secret_key), ring(&[&key("s3", 4)])).expect("open the S3 store")
}

#[tokio::test]
async fn s3_round_trip() {
    let Some(s) = settings("s3_round_trip") else {
        return;
    };
    let base = unique("uni1-test");
    common::round_trip(&blobs(&s), &base).await;
}

#[tokio::test]
async fn s3_tamper() {
    let Some(s) = settings("s3_tamper") else {
        return;
    };
    let base = unique("uni1-test");
    common::tamper(&blobs(&s), &base).await;
}

#[tokio::test]
async fn s3_deletes() {
    let Some(s) = settings("s3_deletes") else {
        return;
    };
    let base = unique("uni1-test");
    common::deletes(&blobs(&s), &base).await;
}

#[tokio::test]
async fn s3_rotation() {
    let Some(s) = settings("s3_rotation") else {
        return;
    };
    let base = unique("uni1-test");
    common::rotation(blobs(&s).raw().clone(), &base).await;
}

#[tokio::test]
async fn s3_wrong_secret_is_refused() {
    let Some(s) = settings("s3_wrong_secret_is_refused") else {
        return;
    };
    let base = unique("uni1-test");
    let good = blobs(&s);
    let path = format!("{base}/signed/obj.bin");
    good.put(&path, b"signed").await.unwrap();

    let wrong_secret = format!("{}-wrong", s.secret_key);
    let bad = Blobs::open(&config(&s, &wrong_secret), ring(&[&key("s3", 4)])).unwrap();
    let r = bad.get(&path).await;
    assert!(
        matches!(r, Err(StorageError::Store(_))),
        "get with a wrong secret: {r:?}"
    );
    // The server refused the signature (not a network or parsing problem).
    let text = format!("{:?}", r.err());
    assert!(
        ["403", "Forbidden", "SignatureDoesNotMatch", "AccessDenied"]
            .iter()
            .any(|w| text.contains(w)),
        "get with a wrong secret: expected a 403, got {text}"
    );
    let r = bad.put(&format!("{base}/signed/other.bin"), b"x").await;
    assert!(
        matches!(r, Err(StorageError::Store(_))),
        "put with a wrong secret: {r:?}"
    );
    let r = bad.delete_prefix(&format!("{base}/")).await;
    assert!(
        matches!(r, Err(StorageError::Store(_))),
        "delete_prefix with a wrong secret: {r:?}"
    );

    // Nothing changed.
    assert_eq!(good.get(&path).await.unwrap(), b"signed");
    assert!(!good
        .exists(&format!("{base}/signed/other.bin"))
        .await
        .unwrap());
    assert_eq!(good.delete_prefix(&format!("{base}/")).await.unwrap(), 1);
}
