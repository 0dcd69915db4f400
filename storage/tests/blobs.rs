//! Blobs over the in-memory and local-folder back-ends.

#![allow(clippy::unwrap_used)] // test helpers may unwrap

mod common;

use std::sync::Arc;

use common::{key, ring, unique};
use object_store::ObjectStore;
use uni1_storage::{Blobs, StorageError, StoreConfig};

fn memory() -> Blobs {
    Blobs::open(&StoreConfig::Memory, ring(&[&key("mem", 1)])).unwrap()
}

/// A fresh folder under the system temp dir, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        Self(std::env::temp_dir().join(unique("uni1-storage-test")))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn local(dir: &TempDir) -> Blobs {
    Blobs::open(
        &StoreConfig::Local {
            root: dir.0.join("objects"),
        },
        ring(&[&key("local", 2)]),
    )
    .unwrap()
}

#[tokio::test]
async fn memory_round_trip() {
    common::round_trip(&memory(), "m").await;
}

#[tokio::test]
async fn memory_tamper() {
    common::tamper(&memory(), "m").await;
}

#[tokio::test]
async fn memory_deletes() {
    common::deletes(&memory(), "m").await;
}

#[tokio::test]
async fn memory_rotation() {
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    common::rotation(store, "m").await;
}

#[tokio::test]
async fn memory_bad_paths() {
    common::bad_paths(&memory()).await;
}

#[tokio::test]
async fn local_round_trip_and_files_on_disk() {
    let dir = TempDir::new();
    let b = local(&dir);
    assert!(dir.0.join("objects").is_dir(), "open creates the folder");
    common::round_trip(&b, "l").await;

    // The file on disk is the sealed object, at the object's path.
    let path = "users/u1/images/i1/original.png";
    let plain = b"local plaintext that must not be on disk".repeat(10);
    b.put(path, &plain).await.unwrap();
    let on_disk = std::fs::read(dir.0.join("objects").join(path)).unwrap();
    assert!(on_disk.starts_with(b"U1E1"));
    assert!(!on_disk.windows(20).any(|w| w == &plain[..20]));

    // Opening the same folder again (a restart) reads it back.
    let again = local(&dir);
    assert_eq!(again.get(path).await.unwrap(), plain);

    // delete_prefix cleans up the emptied folders too.
    assert_eq!(again.delete_prefix("users/u1/").await.unwrap(), 1);
    assert!(!dir.0.join("objects/users/u1").exists());
    assert!(dir.0.join("objects").is_dir());
}

#[tokio::test]
async fn local_tamper() {
    let dir = TempDir::new();
    common::tamper(&local(&dir), "l").await;
}

#[tokio::test]
async fn local_deletes() {
    let dir = TempDir::new();
    common::deletes(&local(&dir), "l").await;
}

#[tokio::test]
async fn local_rotation() {
    let dir = TempDir::new();
    let b = local(&dir);
    common::rotation(b.raw().clone(), "l").await;
}

#[tokio::test]
async fn local_bad_paths() {
    let dir = TempDir::new();
    common::bad_paths(&local(&dir)).await;
    // Nothing escaped the folder.
    assert!(std::fs::read_dir(dir.0.join("objects"))
        .unwrap()
        .next()
        .is_none());
}

#[tokio::test]
async fn local_root_that_is_a_file_is_a_config_error() {
    let dir = TempDir::new();
    std::fs::create_dir_all(&dir.0).unwrap();
    let file = dir.0.join("not-a-folder");
    std::fs::write(&file, b"x").unwrap();
    let r = Blobs::open(&StoreConfig::Local { root: file }, ring(&[&key("k", 1)]));
    assert!(matches!(r, Err(StorageError::Config(_))), "{r:?}");
    let r = Blobs::open(
        &StoreConfig::Local {
            root: std::path::PathBuf::new(),
        },
        ring(&[&key("k", 1)]),
    );
    assert!(matches!(r, Err(StorageError::Config(_))), "{r:?}");
}

#[tokio::test]
async fn futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let b = memory();
    let f = b.put("a/b", b"x");
    send(&f);
    f.await.unwrap();
    send(&b.get("a/b"));
    send(&b.delete("a/b"));
    send(&b.delete_prefix("a/"));
    send(&b.rewrap("a/b"));
    send(&b.list_prefix("a/"));
    send(&b.exists("a/b"));
}
