//! Keyring parsing and store configuration checks (no network).

#![allow(clippy::unwrap_used)] // test helpers may unwrap

use base64::Engine as _;
use uni1_storage::{Blobs, Keyring, MasterKey, StorageError, StoreConfig};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn config_msg<T: std::fmt::Debug>(r: Result<T, StorageError>) -> String {
    match r {
        Err(StorageError::Config(m)) => m,
        other => panic!("expected a Config error, got {other:?}"),
    }
}

#[test]
fn keyring_parse_ok() {
    let k1 = b64(&[1; 32]);
    let k2 = b64(&[2; 32]);
    let ring = Keyring::parse(&format!("2025-06_b:{k2}, a:{k1}")).unwrap();
    assert_eq!(ring.current_id(), "2025-06_b");
    assert_eq!(ring.ids().collect::<Vec<_>>(), ["2025-06_b", "a"]);

    // Unpadded base64 is accepted too; 32-character ids are fine.
    let unpadded = k1.trim_end_matches('=');
    let id32 = "x".repeat(32);
    let ring = Keyring::parse(&format!("{id32}:{unpadded}")).unwrap();
    assert_eq!(ring.current_id(), id32);
}

#[test]
fn keyring_parse_errors_name_the_problem_without_key_material() {
    let k = b64(&[7; 32]);
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "empty"),
        ("   ".into(), "empty"),
        (format!("a:{k},"), "entry 2 is empty"),
        (format!("a:{k},,b:{k}"), "entry 2 is empty"),
        (k.clone(), "no ':'"),
        (format!(":{k}"), "key id"),
        (format!("{}:{k}", "x".repeat(33)), "key id (33 characters)"),
        (format!("a.b:{k}"), "key id"),
        (format!("a b:{k}"), "key id"),
        (format!("a:{k},a:{k}"), "\"a\" appears more than once"),
        ("a:not base64!!".into(), "not valid base64"),
        (format!("a:{}", b64(&[1; 16])), "16 bytes"),
        (format!("a:{}", b64(&[1; 33])), "33 bytes"),
        ("a:".into(), "0 bytes"),
        (format!("a:{k},b:{}", b64(&[1; 31])), "entry 2"),
    ];
    for (spec, want) in cases {
        let msg = config_msg(Keyring::parse(&spec));
        assert!(
            msg.contains(want),
            "{spec:?}: {msg:?} should mention {want:?}"
        );
        assert!(
            !msg.contains(&k),
            "{spec:?}: the message shows key material"
        );
    }
    // Swapped id and key: the key text must not be echoed as an "id".
    let msg = config_msg(Keyring::parse(&format!("{k}:a")));
    assert!(!msg.contains(&k[..20]), "{msg}");
}

#[test]
fn keyring_new_and_master_key_checks() {
    assert!(config_msg(Keyring::new(vec![])).contains("at least one"));
    let a = MasterKey::new("a", [1; 32]).unwrap();
    let a2 = MasterKey::new("a", [2; 32]).unwrap();
    assert!(config_msg(Keyring::new(vec![a.clone(), a2])).contains("more than once"));
    for bad in ["", "a/b", "ключ", &"k".repeat(33)] {
        config_msg(MasterKey::new(bad, [0; 32]));
    }
    let m = MasterKey::from_base64("k", &b64(&[9; 32])).unwrap();
    assert_eq!(m.id, "k");
    assert!(config_msg(MasterKey::from_base64("k", "%%%")).contains("base64"));
    let g1 = MasterKey::generate("g").unwrap();
    assert_eq!(g1.id, "g");
}

#[test]
fn debug_never_shows_keys() {
    let k = MasterKey::new("visible-id", [0xAB; 32]).unwrap();
    let ring = Keyring::new(vec![k.clone()]).unwrap();
    let blobs = Blobs::open(&StoreConfig::Memory, ring.clone()).unwrap();
    for text in [format!("{k:?}"), format!("{ring:?}"), format!("{blobs:?}")] {
        assert!(text.contains("visible-id"), "{text}");
        assert!(!text.contains("171"), "{text}"); // 0xAB as a decimal byte
        assert!(!text.to_lowercase().contains("ab, ab"), "{text}");
        assert!(!text.contains(&b64(&[0xAB; 32])), "{text}");
    }
}

#[test]
fn debug_never_shows_the_s3_secret() {
    let config = StoreConfig::S3 {
        endpoint: None,
        bucket: "bucket".into(),
        region: "auto".into(),
        access_key_id: "AKID".into(),
        secret_access_key: "SENTINEL-s3-secret".into(),
        allow_http: false,
    };
    let text = format!("{config:?}");
    assert!(text.contains("bucket"), "{text}");
    assert!(!text.contains("SENTINEL"), "{text}");
}

fn s3(endpoint: Option<&str>, bucket: &str, region: &str, allow_http: bool) -> StoreConfig {
    StoreConfig::S3 {
        endpoint: endpoint.map(str::to_owned),
        bucket: bucket.into(),
        region: region.into(),
        access_key_id: "AKID".into(),
        secret_access_key: "secret".into(),
        allow_http,
    }
}

fn ring() -> Keyring {
    Keyring::new(vec![MasterKey::new("k", [3; 32]).unwrap()]).unwrap()
}

#[test]
fn s3_config_checks() {
    // Valid ones open without any network traffic.
    Blobs::open(
        &s3(
            Some("https://acct.r2.cloudflarestorage.com"),
            "uni1-objects",
            "auto",
            false,
        ),
        ring(),
    )
    .unwrap();
    Blobs::open(
        &s3(Some("http://127.0.0.1:9000/"), "b12", "us-east-1", true),
        ring(),
    )
    .unwrap();
    Blobs::open(&s3(None, "my.bucket", "eu-west-3", false), ring()).unwrap();

    let cases = [
        (s3(None, "", "auto", false), "bucket name is empty"),
        (s3(None, "ab", "auto", false), "invalid"),
        (s3(None, "Upper", "auto", false), "invalid"),
        (s3(None, "-dash", "auto", false), "invalid"),
        (s3(None, "a_b_c", "auto", false), "invalid"),
        (s3(None, "bucket", "", false), "region is empty"),
        (s3(None, "bucket", "us east", false), "region"),
        (s3(Some("not a url"), "bucket", "auto", false), "not a URL"),
        (s3(Some("ftp://host"), "bucket", "auto", false), "scheme"),
        (
            s3(Some("http://127.0.0.1:9000"), "bucket", "auto", false),
            "http://",
        ),
        (
            s3(Some("https://u:p@host"), "bucket", "auto", false),
            "credentials",
        ),
        (
            s3(Some("https://host/?x=1"), "bucket", "auto", false),
            "query",
        ),
    ];
    for (config, want) in cases {
        let msg = config_msg(Blobs::open(&config, ring()));
        assert!(
            msg.contains(want),
            "{config:?}: {msg:?} should mention {want:?}"
        );
    }

    let mut no_key = s3(None, "bucket", "auto", false);
    if let StoreConfig::S3 { access_key_id, .. } = &mut no_key {
        access_key_id.clear();
    }
    assert!(config_msg(Blobs::open(&no_key, ring())).contains("access key id"));
    let mut no_secret = s3(None, "bucket", "auto", false);
    if let StoreConfig::S3 {
        secret_access_key, ..
    } = &mut no_secret
    {
        *secret_access_key = String::new().into();
    }
    assert!(config_msg(Blobs::open(&no_secret, ring())).contains("secret"));
}
