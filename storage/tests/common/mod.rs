//! Checks shared by the Memory, Local and S3 test files: each takes a store
//! (or blobs over one) and a unique base prefix, so runs never collide.

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};
use uni1_storage::{Blobs, Keyring, MasterKey, StorageError};

pub fn key(id: &str, byte: u8) -> MasterKey {
    MasterKey::new(id, [byte; 32]).expect("valid key")
}

pub fn ring(keys: &[&MasterKey]) -> Keyring {
    Keyring::new(keys.iter().map(|k| (*k).clone()).collect()).expect("valid keyring")
}

/// A name no other test run uses: `tag-<pid>-<nanos>-<n>`.
pub fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!(
        "{tag}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Deterministic non-trivial bytes.
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

pub async fn raw_get(store: &Arc<dyn ObjectStore>, path: &str) -> Vec<u8> {
    store
        .get(&StorePath::parse(path).unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

pub async fn raw_put(store: &Arc<dyn ObjectStore>, path: &str, data: Vec<u8>) {
    store
        .put(&StorePath::parse(path).unwrap(), PutPayload::from(data))
        .await
        .unwrap();
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Put/get of several sizes; what is at rest is sealed, not the plaintext.
pub async fn round_trip(b: &Blobs, base: &str) {
    let current = b.keyring().current_id().to_owned();
    let text = b"a very recognisable plaintext: uni1 round trip".repeat(20);
    let cases: Vec<(String, Vec<u8>)> = vec![
        (format!("{base}/rt/empty.bin"), Vec::new()),
        (format!("{base}/rt/one.bin"), vec![0x42]),
        (format!("{base}/rt/text.txt"), text.clone()),
        (
            format!("{base}/rt/images/x/original.png"),
            pattern(300_000, 7),
        ),
    ];
    for (path, plain) in &cases {
        let id = b.put(path, plain).await.unwrap();
        assert_eq!(id, current);
        assert_eq!(&b.get(path).await.unwrap(), plain, "{path}");
        assert!(b.exists(path).await.unwrap());
        assert_eq!(b.key_id(path).await.unwrap(), current);

        let raw = raw_get(b.raw(), path).await;
        assert!(
            raw.starts_with(b"U1E1"),
            "{path}: at rest starts with the magic"
        );
        // magic, id length, id, wrap nonce, wrapped key, body nonce, tag.
        let overhead = 4 + 1 + current.len() + 12 + 48 + 12 + 16;
        assert_eq!(raw.len(), plain.len() + overhead, "{path}");
        if plain.len() >= 16 {
            assert!(
                !contains(&raw, &plain[..16]),
                "{path}: plaintext visible at rest"
            );
        }
    }
    // The recognisable text does not appear anywhere at rest.
    let raw = raw_get(b.raw(), &cases[2].0).await;
    assert!(!contains(&raw, b"recognisable"));

    // Same plaintext twice: different bytes at rest (fresh data key, nonces).
    let p2 = format!("{base}/rt/text2.txt");
    b.put(&cases[2].0, &text).await.unwrap();
    let first = raw_get(b.raw(), &cases[2].0).await;
    b.put(&p2, &text).await.unwrap();
    b.put(&cases[2].0, &text).await.unwrap();
    let again = raw_get(b.raw(), &cases[2].0).await;
    assert_ne!(first, again);
    assert_ne!(
        first[first.len() - 40..],
        raw_get(b.raw(), &p2).await[first.len() - 40..]
    );

    // Overwrite.
    b.put(&p2, b"second version").await.unwrap();
    assert_eq!(b.get(&p2).await.unwrap(), b"second version");

    // Missing.
    let missing = format!("{base}/rt/missing.bin");
    assert!(matches!(b.get(&missing).await, Err(StorageError::NotFound(p)) if p == missing));
    assert!(!b.exists(&missing).await.unwrap());
    assert!(matches!(
        b.key_id(&missing).await,
        Err(StorageError::NotFound(_))
    ));
    assert!(matches!(
        b.rewrap(&missing).await,
        Err(StorageError::NotFound(_))
    ));

    b.delete_prefix(&format!("{base}/rt/")).await.unwrap();
}

fn is_tampered_or_malformed(r: &Result<Vec<u8>, StorageError>) -> bool {
    matches!(
        r,
        Err(StorageError::Tampered(_) | StorageError::Malformed(_))
    )
}

/// Flipping any byte, truncating, moving or mixing headers never opens.
pub async fn tamper(b: &Blobs, base: &str) {
    let path = format!("{base}/tamper/obj.bin");
    let plain = b"tamper test body, 40 bytes long.........".to_vec();
    b.put(&path, &plain).await.unwrap();
    let good = raw_get(b.raw(), &path).await;
    let id_end = 5 + usize::from(good[4]);

    for i in 0..good.len() {
        for mask in [0x01u8, 0x80] {
            let mut bad = good.clone();
            bad[i] ^= mask;
            raw_put(b.raw(), &path, bad).await;
            let r = b.get(&path).await;
            let ok = is_tampered_or_malformed(&r)
                // A flipped key id can name another (unknown) key.
                || ((4..id_end).contains(&i) && matches!(r, Err(StorageError::UnknownKey { .. })));
            assert!(ok, "byte {i} ^ {mask:#x}: got {r:?}");
        }
    }
    // Truncated at every length, and extended.
    for len in 0..good.len() {
        raw_put(b.raw(), &path, good[..len].to_vec()).await;
        let r = b.get(&path).await;
        assert!(is_tampered_or_malformed(&r), "truncated to {len}: {r:?}");
    }
    let mut longer = good.clone();
    longer.push(0);
    raw_put(b.raw(), &path, longer).await;
    assert!(matches!(b.get(&path).await, Err(StorageError::Tampered(_))));
    // Not ours at all.
    raw_put(b.raw(), &path, b"plain PNG bytes, never sealed".to_vec()).await;
    assert!(matches!(
        b.get(&path).await,
        Err(StorageError::Malformed(_))
    ));

    // Restored, it opens again.
    raw_put(b.raw(), &path, good.clone()).await;
    assert_eq!(b.get(&path).await.unwrap(), plain);

    // Copied to another path: does not open there.
    let other = format!("{base}/tamper/copy.bin");
    raw_put(b.raw(), &other, good.clone()).await;
    assert!(matches!(b.get(&other).await, Err(StorageError::Tampered(p)) if p == other));

    // The wrapped key of one object with the body of another: does not open.
    let second = format!("{base}/tamper/second.bin");
    b.put(&second, &plain).await.unwrap();
    let second_raw = raw_get(b.raw(), &second).await;
    let header_len = id_end + 12 + 48;
    let mut mixed = second_raw[..header_len].to_vec();
    mixed.extend_from_slice(&good[header_len..]);
    raw_put(b.raw(), &second, mixed).await;
    assert!(matches!(
        b.get(&second).await,
        Err(StorageError::Tampered(_))
    ));

    b.delete_prefix(&format!("{base}/tamper")).await.unwrap();
}

/// delete and delete_prefix remove exactly what they should.
pub async fn deletes(b: &Blobs, base: &str) {
    let paths = [
        format!("{base}/del/users/u1/a.png"),
        format!("{base}/del/users/u1/images/i1/original.png"),
        format!("{base}/del/users/u1/images/i1/thumb.webp"),
        format!("{base}/del/users/u1x/keep.png"),
        format!("{base}/del/users/u2/keep.png"),
        format!("{base}/del/users/u10/keep.png"),
    ];
    for (i, p) in paths.iter().enumerate() {
        b.put(p, &pattern(100 + i, i as u32)).await.unwrap();
    }
    let under_u1 = b
        .list_prefix(&format!("{base}/del/users/u1/"))
        .await
        .unwrap();
    assert_eq!(under_u1, paths[..3].to_vec());
    assert_eq!(
        b.list_prefix(&format!("{base}/del/users"))
            .await
            .unwrap()
            .len(),
        6
    );

    // Single delete, then deleting it again (missing) is fine.
    b.delete(&paths[0]).await.unwrap();
    assert!(matches!(
        b.get(&paths[0]).await,
        Err(StorageError::NotFound(_))
    ));
    b.delete(&paths[0]).await.unwrap();
    b.delete(&format!("{base}/del/never/existed.bin"))
        .await
        .unwrap();

    // Prefix delete: the rest of u1 goes, u1x, u2, u10 stay.
    assert_eq!(
        b.delete_prefix(&format!("{base}/del/users/u1/"))
            .await
            .unwrap(),
        2
    );
    for p in &paths[..3] {
        assert!(
            matches!(b.get(p).await, Err(StorageError::NotFound(_))),
            "{p}"
        );
    }
    for (i, p) in paths.iter().enumerate().skip(3) {
        assert_eq!(b.get(p).await.unwrap(), pattern(100 + i, i as u32), "{p}");
    }
    assert!(b
        .list_prefix(&format!("{base}/del/users/u1/"))
        .await
        .unwrap()
        .is_empty());
    // Nothing left: zero, not an error.
    assert_eq!(
        b.delete_prefix(&format!("{base}/del/users/u1/"))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        b.delete_prefix(&format!("{base}/del/nothing-here/"))
            .await
            .unwrap(),
        0
    );

    // Without the trailing slash it is the same prefix (whole segments).
    assert_eq!(
        b.delete_prefix(&format!("{base}/del/users/u1"))
            .await
            .unwrap(),
        0
    );
    assert_eq!(b.delete_prefix(&format!("{base}/del")).await.unwrap(), 3);
    assert!(b
        .list_prefix(&format!("{base}/del/"))
        .await
        .unwrap()
        .is_empty());
}

/// Rotation: sealed under A; [B, A] opens it and rewrap moves it to B; then
/// [B] alone opens it and [A] alone does not.
pub async fn rotation(store: Arc<dyn ObjectStore>, base: &str) {
    let a = key("key-A", 0xA1);
    let b_key = key("key_B", 0xB2);
    let old = Blobs::with_store(store.clone(), ring(&[&a]));
    let path = format!("{base}/rot/users/u/img.png");
    let other = format!("{base}/rot/users/u/other.png");
    let plain = pattern(5000, 3);
    assert_eq!(old.put(&path, &plain).await.unwrap(), "key-A");
    old.put(&other, b"other").await.unwrap();

    let both = Blobs::with_store(store.clone(), ring(&[&b_key, &a]));
    assert_eq!(both.get(&path).await.unwrap(), plain);
    assert_eq!(both.key_id(&path).await.unwrap(), "key-A");
    let before = raw_get(&store, &path).await;
    assert!(both.rewrap(&path).await.unwrap());
    assert_eq!(both.key_id(&path).await.unwrap(), "key_B");
    assert_ne!(raw_get(&store, &path).await, before);
    assert!(
        !both.rewrap(&path).await.unwrap(),
        "already under the current key"
    );
    assert_eq!(both.get(&path).await.unwrap(), plain);
    // New objects go under the current key.
    assert_eq!(
        both.put(&format!("{base}/rot/new.bin"), b"n")
            .await
            .unwrap(),
        "key_B"
    );

    let only_b = Blobs::with_store(store.clone(), ring(&[&b_key]));
    assert_eq!(only_b.get(&path).await.unwrap(), plain);
    match only_b.get(&other).await {
        Err(StorageError::UnknownKey { path: p, key_id }) => {
            assert_eq!(p, other);
            assert_eq!(key_id, "key-A");
        }
        r => panic!("expected UnknownKey, got {r:?}"),
    }
    // A rewrap needs the old key too.
    assert!(matches!(
        only_b.rewrap(&other).await,
        Err(StorageError::UnknownKey { .. })
    ));
    // rewrap_prefix moves what is left.
    assert_eq!(
        both.rewrap_prefix(&format!("{base}/rot/")).await.unwrap(),
        1
    );
    assert_eq!(only_b.get(&other).await.unwrap(), b"other");

    let only_a = Blobs::with_store(store.clone(), ring(&[&a]));
    assert!(matches!(
        only_a.get(&path).await,
        Err(StorageError::UnknownKey { key_id, .. }) if key_id == "key_B"
    ));

    // Same id, different key material: the GCM check fails.
    let impostor = Blobs::with_store(store.clone(), ring(&[&key("key_B", 0x00)]));
    assert!(matches!(
        impostor.get(&path).await,
        Err(StorageError::Tampered(_))
    ));

    both.delete_prefix(&format!("{base}/rot/")).await.unwrap();
}

/// Bad paths are refused before anything reaches the store.
pub async fn bad_paths(b: &Blobs) {
    for p in [
        "",
        "/abs/path",
        "a//b",
        "a/",
        "a/../b",
        "..",
        "./a",
        "a/./b",
        "a\\b",
        "a b",
        "a/b%2F",
        "é",
        "a/b?c",
        "users/x#1",
    ] {
        assert!(
            matches!(b.put(p, b"x").await, Err(StorageError::BadPath { .. })),
            "put {p:?}"
        );
        assert!(
            matches!(b.get(p).await, Err(StorageError::BadPath { .. })),
            "get {p:?}"
        );
        assert!(
            matches!(b.delete(p).await, Err(StorageError::BadPath { .. })),
            "delete {p:?}"
        );
    }
    let long = "a/".repeat(600) + "b";
    assert!(matches!(
        b.put(&long, b"x").await,
        Err(StorageError::BadPath { .. })
    ));
    for p in ["", "/", "/users", "users//", "../x/", "a/../"] {
        assert!(
            matches!(b.delete_prefix(p).await, Err(StorageError::BadPath { .. })),
            "delete_prefix {p:?}"
        );
        assert!(
            matches!(b.list_prefix(p).await, Err(StorageError::BadPath { .. })),
            "list_prefix {p:?}"
        );
    }
}
