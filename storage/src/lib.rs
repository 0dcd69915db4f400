//! Object storage for user files: one [`Blobs`] over an `object_store`
//! back-end chosen by configuration (local folder by default, S3/R2, or
//! memory for tests). Every object is encrypted by the application before it
//! leaves the process (STO-2), whatever the store.
//!
//! Envelope encryption: each object gets a fresh 256-bit data key; the object
//! body is AES-256-GCM under the data key, with the object's path as
//! associated data (an object copied to another path does not open); the data
//! key is wrapped with AES-256-GCM under a master key. The header stores the
//! master key's id, so master keys can be rotated: new objects use the
//! current key; older ones open with any key still in the [`Keyring`].
//!
//! # Object format (version `U1E1`)
//!
//! | bytes        | content                                                      |
//! |--------------|--------------------------------------------------------------|
//! | 4            | magic `U1E1`                                                 |
//! | 1            | `n`, the length of the master key id (1..=32)                |
//! | `n`          | the master key id (ASCII `[A-Za-z0-9_-]`)                    |
//! | 12           | nonce for the wrapped data key                               |
//! | 48           | the 32-byte data key sealed with AES-256-GCM (32 + 16 tag)   |
//! | 12           | nonce for the body                                           |
//! | rest (≥ 16)  | the body sealed with AES-256-GCM under the data key          |
//!
//! The data key and both nonces are fresh random values (OS generator) for
//! every [`Blobs::put`]. Associated data:
//!
//! * wrapped data key: the header prefix — magic, id length byte and key id —
//!   followed by the object path, so a header cannot be moved to another
//!   object or relabelled with another key id;
//! * body: the object path (UTF-8), so an object copied or renamed to
//!   another path fails to open ([`StorageError::Tampered`]).
//!
//! The smallest valid object (empty body, 1-character key id) is 94 bytes.
//!
//! # Paths
//!
//! Object paths are relative: segments separated by `/`, each made of ASCII
//! letters, digits, `-`, `_`, `.` and `=`, none empty, `.` or `..`; no
//! leading or trailing `/`; at most 1024 bytes. Prefixes (for
//! [`Blobs::delete_prefix`], [`Blobs::list_prefix`]) follow the same rules
//! and may end with `/`; an empty prefix is refused so that no call can wipe
//! the whole store by accident. Prefixes match whole segments: `users/a`
//! covers `users/a/x` but not `users/ab/x`.

use std::sync::Arc;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use futures::{StreamExt as _, TryStreamExt as _};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};
use secrecy::{ExposeSecret as _, SecretString};

/// Where objects go.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// A folder on this machine (the default: `<data_dir>/objects`).
    Local { root: std::path::PathBuf },
    /// S3 or an S3-compatible store (R2: region `auto`).
    S3 {
        endpoint: Option<String>,
        bucket: String,
        region: String,
        access_key_id: String,
        /// A secret: `Debug` prints it redacted, so settings can be logged.
        secret_access_key: SecretString,
        /// Allow `http://` endpoints (local test servers only).
        allow_http: bool,
    },
    /// In this process's memory (tests, benchmarks).
    Memory,
}

/// A 256-bit master key and its id.
#[derive(Clone)]
pub struct MasterKey {
    pub id: String,
    key: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

/// Longest master key id (it is stored in every object's header).
pub const MAX_KEY_ID_LEN: usize = 32;

fn valid_key_id(id: &str) -> bool {
    (1..=MAX_KEY_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Standard base64 alphabet; padding optional.
const B64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

impl MasterKey {
    /// `id` must be 1..=32 characters of `[A-Za-z0-9_-]`.
    pub fn new(id: &str, key: [u8; 32]) -> Result<Self, StorageError> {
        if !valid_key_id(id) {
            return Err(StorageError::Config(format!(
                "master key id {id:?} must be 1 to {MAX_KEY_ID_LEN} characters of A-Z a-z 0-9 _ -"
            )));
        }
        Ok(Self {
            id: id.to_owned(),
            key,
        })
    }

    /// A key from its standard base64 text (44 characters with padding, or
    /// 43 without). Errors never include the key text.
    pub fn from_base64(id: &str, key_b64: &str) -> Result<Self, StorageError> {
        if !valid_key_id(id) {
            return Err(StorageError::Config(format!(
                "master key id {id:?} must be 1 to {MAX_KEY_ID_LEN} characters of A-Z a-z 0-9 _ -"
            )));
        }
        let bytes = B64.decode(key_b64.trim()).map_err(|_| {
            StorageError::Config(format!(
                "master key {id:?}: the key is not valid base64 (standard alphabet)"
            ))
        })?;
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            StorageError::Config(format!(
                "master key {id:?}: the key decodes to {} bytes; it must be 32 bytes \
                 (make one with `openssl rand -base64 32`)",
                bytes.len()
            ))
        })?;
        Self::new(id, key)
    }

    /// A fresh random key (OS generator).
    pub fn generate(id: &str) -> Result<Self, StorageError> {
        let key = Aes256Gcm::generate_key(&mut OsRng);
        Self::new(id, key.into())
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.key))
    }
}

/// The master keys: the first seals new objects; all of them open.
#[derive(Debug, Clone)]
pub struct Keyring {
    keys: Vec<MasterKey>,
}

impl Keyring {
    /// `keys[0]` is current. Duplicate ids are refused; at least one key.
    pub fn new(keys: Vec<MasterKey>) -> Result<Self, StorageError> {
        if keys.is_empty() {
            return Err(StorageError::Config(
                "the keyring needs at least one master key".into(),
            ));
        }
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].iter().any(|o| o.id == k.id) {
                return Err(StorageError::Config(format!(
                    "master key id {:?} appears more than once",
                    k.id
                )));
            }
        }
        Ok(Self { keys })
    }

    /// Parses `id:base64key,id2:base64key2` (first is current).
    ///
    /// Spaces around entries are ignored. Error messages name the entry (by
    /// position, and id when it is valid) and what is wrong with it, never
    /// the key text.
    pub fn parse(spec: &str) -> Result<Self, StorageError> {
        const FORMAT: &str = "expected id:base64key[,id2:base64key2...]";
        if spec.trim().is_empty() {
            return Err(StorageError::Config(format!(
                "the storage key list is empty; {FORMAT}"
            )));
        }
        let mut keys = Vec::new();
        for (i, entry) in spec.split(',').enumerate() {
            let n = i + 1;
            let entry = entry.trim();
            if entry.is_empty() {
                return Err(StorageError::Config(format!(
                    "storage key entry {n} is empty; {FORMAT}"
                )));
            }
            let Some((id, key)) = entry.split_once(':') else {
                return Err(StorageError::Config(format!(
                    "storage key entry {n} has no ':'; {FORMAT}"
                )));
            };
            let id = id.trim();
            if !valid_key_id(id) {
                // Do not echo the id: a mixed-up entry may have the key there.
                return Err(StorageError::Config(format!(
                    "storage key entry {n}: the key id ({} characters) must be 1 to \
                     {MAX_KEY_ID_LEN} characters of A-Z a-z 0-9 _ -",
                    id.chars().count()
                )));
            }
            if keys.iter().any(|k: &MasterKey| k.id == id) {
                return Err(StorageError::Config(format!(
                    "storage key entry {n}: key id {id:?} appears more than once"
                )));
            }
            let key = MasterKey::from_base64(id, key).map_err(|e| match e {
                StorageError::Config(m) => {
                    StorageError::Config(format!("storage key entry {n}: {m}"))
                }
                other => other,
            })?;
            keys.push(key);
        }
        Self::new(keys)
    }

    pub fn current_id(&self) -> &str {
        &self.keys[0].id
    }

    /// All key ids, current first.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    fn current(&self) -> &MasterKey {
        &self.keys[0]
    }

    fn find(&self, id: &str) -> Option<&MasterKey> {
        self.keys.iter().find(|k| k.id == id)
    }
}

/// Errors from storage. `Display` texts are for logs; callers show users a
/// generic message.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage configuration: {0}")]
    Config(String),
    #[error("object not found: {0}")]
    NotFound(String),
    #[error("object {0} is not a uni1 encrypted object or is damaged")]
    Malformed(String),
    #[error("object {path} was sealed with master key {key_id}, which is not configured")]
    UnknownKey { path: String, key_id: String },
    #[error("object {0} does not decrypt: altered, or moved from another path")]
    Tampered(String),
    #[error("store: {0}")]
    Store(#[from] object_store::Error),
    /// The path or prefix given is not a safe relative object path.
    #[error("bad object path {path:?}: {reason}")]
    BadPath { path: String, reason: &'static str },
}

// ---------------------------------------------------------------------------
// Object format
// ---------------------------------------------------------------------------

const MAGIC: &[u8; 4] = b"U1E1";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const WRAPPED_LEN: usize = 32 + TAG_LEN;

/// A parsed header; slices borrow the stored object.
struct Sealed<'a> {
    /// Magic, id length and id: the first part of the key-wrap AAD.
    prefix: &'a [u8],
    key_id: &'a str,
    wrap_nonce: &'a [u8],
    wrapped: &'a [u8],
    body_nonce: &'a [u8],
    body: &'a [u8],
}

/// Splits a stored object; `None` when it is too short or the header is bad.
fn parse_sealed(data: &[u8]) -> Option<Sealed<'_>> {
    let rest = data.strip_prefix(MAGIC)?;
    let (&id_len, rest) = rest.split_first()?;
    let id_len = usize::from(id_len);
    if !(1..=MAX_KEY_ID_LEN).contains(&id_len) {
        return None;
    }
    let (id, rest) = split(rest, id_len)?;
    let key_id = std::str::from_utf8(id).ok().filter(|s| valid_key_id(s))?;
    let (wrap_nonce, rest) = split(rest, NONCE_LEN)?;
    let (wrapped, rest) = split(rest, WRAPPED_LEN)?;
    let (body_nonce, body) = split(rest, NONCE_LEN)?;
    if body.len() < TAG_LEN {
        return None;
    }
    Some(Sealed {
        prefix: &data[..MAGIC.len() + 1 + id_len],
        key_id,
        wrap_nonce,
        wrapped,
        body_nonce,
        body,
    })
}

fn split(data: &[u8], n: usize) -> Option<(&[u8], &[u8])> {
    (data.len() >= n).then(|| data.split_at(n))
}

fn wrap_aad(prefix: &[u8], path: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(prefix.len() + path.len());
    aad.extend_from_slice(prefix);
    aad.extend_from_slice(path.as_bytes());
    aad
}

/// Encrypts `plaintext` for `path` under `master`.
fn seal(master: &MasterKey, path: &str, plaintext: &[u8]) -> Result<Vec<u8>, StorageError> {
    let data_key = Aes256Gcm::generate_key(&mut OsRng);
    let wrap_nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let body_nonce = Aes256Gcm::generate_nonce(&mut OsRng);

    let id = master.id.as_bytes();
    let id_len = u8::try_from(id.len())
        .map_err(|_| StorageError::Config("master key id too long".into()))?;
    let mut out = Vec::with_capacity(
        MAGIC.len() + 1 + id.len() + 2 * NONCE_LEN + WRAPPED_LEN + plaintext.len() + TAG_LEN,
    );
    out.extend_from_slice(MAGIC);
    out.push(id_len);
    out.extend_from_slice(id);

    let aad = wrap_aad(&out, path);
    let wrapped = master
        .cipher()
        .encrypt(
            &wrap_nonce,
            Payload {
                msg: data_key.as_slice(),
                aad: &aad,
            },
        )
        .map_err(|_| StorageError::Config("encryption failed (data key)".into()))?;
    let body = Aes256Gcm::new(&data_key)
        .encrypt(
            &body_nonce,
            Payload {
                msg: plaintext,
                aad: path.as_bytes(),
            },
        )
        .map_err(|_| StorageError::Config("encryption failed (object too large?)".into()))?;

    out.extend_from_slice(&wrap_nonce);
    out.extend_from_slice(&wrapped);
    out.extend_from_slice(&body_nonce);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decrypts a stored object read from `path`.
fn open_sealed(keys: &Keyring, path: &str, data: &[u8]) -> Result<Vec<u8>, StorageError> {
    let s = parse_sealed(data).ok_or_else(|| StorageError::Malformed(path.to_owned()))?;
    let master = keys
        .find(s.key_id)
        .ok_or_else(|| StorageError::UnknownKey {
            path: path.to_owned(),
            key_id: s.key_id.to_owned(),
        })?;
    let tampered = || StorageError::Tampered(path.to_owned());
    let aad = wrap_aad(s.prefix, path);
    let data_key = master
        .cipher()
        .decrypt(
            Nonce::from_slice(s.wrap_nonce),
            Payload {
                msg: s.wrapped,
                aad: &aad,
            },
        )
        .map_err(|_| tampered())?;
    if data_key.len() != 32 {
        return Err(tampered());
    }
    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&data_key))
        .decrypt(
            Nonce::from_slice(s.body_nonce),
            Payload {
                msg: s.body,
                aad: path.as_bytes(),
            },
        )
        .map_err(|_| tampered())
}

// ---------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------

const MAX_PATH_LEN: usize = 1024;

fn bad(path: &str, reason: &'static str) -> StorageError {
    StorageError::BadPath {
        path: path.to_owned(),
        reason,
    }
}

/// Checks a relative object path (no trailing `/`).
fn object_path(path: &str) -> Result<StorePath, StorageError> {
    check_segments(path, path)?;
    StorePath::parse(path).map_err(|_| bad(path, "not a valid object path"))
}

/// Checks a prefix (a trailing `/` is allowed and dropped).
fn prefix_path(prefix: &str) -> Result<StorePath, StorageError> {
    let trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
    if trimmed.is_empty() {
        return Err(bad(prefix, "an empty prefix would cover the whole store"));
    }
    check_segments(prefix, trimmed)?;
    StorePath::parse(trimmed).map_err(|_| bad(prefix, "not a valid object prefix"))
}

fn check_segments(original: &str, path: &str) -> Result<(), StorageError> {
    if path.is_empty() {
        return Err(bad(original, "empty"));
    }
    if path.len() > MAX_PATH_LEN {
        return Err(bad(original, "longer than 1024 bytes"));
    }
    if path.starts_with('/') {
        return Err(bad(original, "must be relative (no leading '/')"));
    }
    for segment in path.split('/') {
        if segment.is_empty() {
            return Err(bad(original, "empty segment ('//' or trailing '/')"));
        }
        if segment == "." || segment == ".." {
            return Err(bad(original, "'.' and '..' segments are not allowed"));
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'='))
        {
            return Err(bad(original, "segments may only use A-Z a-z 0-9 - _ . ="));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Back-ends
// ---------------------------------------------------------------------------

fn config_err(msg: impl Into<String>) -> StorageError {
    StorageError::Config(msg.into())
}

fn open_local(root: &std::path::Path) -> Result<Arc<dyn ObjectStore>, StorageError> {
    if root.as_os_str().is_empty() {
        return Err(config_err("the local object folder is empty"));
    }
    std::fs::create_dir_all(root).map_err(|e| {
        config_err(format!(
            "cannot create the local object folder {}: {e}",
            root.display()
        ))
    })?;
    let store = object_store::local::LocalFileSystem::new_with_prefix(root)
        .map_err(|e| {
            config_err(format!(
                "cannot use {} as the local object folder: {e}",
                root.display()
            ))
        })?
        .with_automatic_cleanup(true)
        .with_fsync(true);
    Ok(Arc::new(store))
}

/// S3 bucket naming rules (also R2's and MinIO's): 3..=63 characters of
/// lowercase letters, digits, `-` and `.`, starting and ending with a letter
/// or digit.
fn check_bucket(bucket: &str) -> Result<(), StorageError> {
    if bucket.trim().is_empty() {
        return Err(config_err("the S3 bucket name is empty"));
    }
    let ok_chars = bucket
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let ends_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !(3..=63).contains(&bucket.len())
        || !ok_chars
        || !ends_ok(bucket.as_bytes().first())
        || !ends_ok(bucket.as_bytes().last())
    {
        return Err(config_err(format!(
            "S3 bucket name {bucket:?} is invalid: use 3 to 63 characters of a-z 0-9 - ., \
             starting and ending with a letter or digit"
        )));
    }
    Ok(())
}

fn check_endpoint(endpoint: &str, allow_http: bool) -> Result<String, StorageError> {
    let url = url::Url::parse(endpoint.trim()).map_err(|e| {
        config_err(format!(
            "S3 endpoint {endpoint:?} is not a URL ({e}); expected e.g. https://<account>.r2.cloudflarestorage.com"
        ))
    })?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(config_err(format!(
                "S3 endpoint {endpoint:?} uses http://, which is only allowed for local test servers (allow_http)"
            )))
        }
        other => {
            return Err(config_err(format!(
                "S3 endpoint {endpoint:?} has scheme {other:?}; use https:// (or http:// for local test servers)"
            )))
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(config_err(format!("S3 endpoint {endpoint:?} has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(config_err(
            "S3 endpoint must not contain credentials; set the access key settings instead",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(config_err(format!(
            "S3 endpoint {endpoint:?} must not have a query or fragment"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn open_s3(
    endpoint: Option<&str>,
    bucket: &str,
    region: &str,
    access_key_id: &str,
    secret_access_key: &str,
    allow_http: bool,
) -> Result<Arc<dyn ObjectStore>, StorageError> {
    check_bucket(bucket)?;
    let region = region.trim();
    if region.is_empty() {
        return Err(config_err(
            "the S3 region is empty (use \"auto\" for Cloudflare R2, e.g. \"us-east-1\" for AWS)",
        ));
    }
    if !region
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(config_err(format!("S3 region {region:?} is invalid")));
    }
    if access_key_id.trim().is_empty() {
        return Err(config_err("the S3 access key id is empty"));
    }
    if secret_access_key.is_empty() {
        return Err(config_err("the S3 secret access key is empty"));
    }
    let mut builder = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(region)
        .with_access_key_id(access_key_id.trim())
        .with_secret_access_key(secret_access_key)
        .with_allow_http(allow_http);
    builder = match endpoint.map(str::trim).filter(|e| !e.is_empty()) {
        Some(ep) => builder
            .with_endpoint(check_endpoint(ep, allow_http)?)
            // Path style: works with R2, MinIO and s3s-fs.
            .with_virtual_hosted_style_request(false),
        // AWS itself: virtual-hosted style, unless a dotted bucket name would
        // break the TLS wildcard certificate.
        None => builder.with_virtual_hosted_style_request(!bucket.contains('.')),
    };
    let store = builder
        .build()
        .map_err(|e| config_err(format!("cannot set up the S3 client: {e}")))?;
    Ok(Arc::new(store))
}

// ---------------------------------------------------------------------------
// Blobs
// ---------------------------------------------------------------------------

/// The metric every [`Blobs`] operation is counted in, labelled `op`
/// (`put`, `get`, `exists`, `delete`, `list`, `delete_prefix`) and
/// `outcome` (`ok`, `not_found`, `error`). `uni1_domain::metrics` lists
/// it with the others.
pub const OPERATIONS_METRIC: &str = "uni1_storage_operations_total";

/// Counts one operation by its result.
fn counted<T>(op: &'static str, result: Result<T, StorageError>) -> Result<T, StorageError> {
    let outcome = match &result {
        Ok(_) => "ok",
        Err(StorageError::NotFound(_)) => "not_found",
        Err(_) => "error",
    };
    metrics::counter!(OPERATIONS_METRIC, "op" => op, "outcome" => outcome).increment(1);
    result
}

/// Encrypted object storage.
#[derive(Clone)]
pub struct Blobs {
    store: Arc<dyn object_store::ObjectStore>,
    keys: Keyring,
}

impl std::fmt::Debug for Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blobs")
            .field("store", &format_args!("{}", self.store))
            .field("keys", &self.keys)
            .finish()
    }
}

fn map_get_err(path: &str, e: object_store::Error) -> StorageError {
    match e {
        object_store::Error::NotFound { .. } => StorageError::NotFound(path.to_owned()),
        e => StorageError::Store(e),
    }
}

impl Blobs {
    /// Opens the store (creating the local folder if needed).
    ///
    /// Nothing is sent over the network here: S3 credentials and reachability
    /// are first checked by the first request.
    pub fn open(config: &StoreConfig, keys: Keyring) -> Result<Self, StorageError> {
        let store = match config {
            StoreConfig::Local { root } => open_local(root)?,
            StoreConfig::S3 {
                endpoint,
                bucket,
                region,
                access_key_id,
                secret_access_key,
                allow_http,
            } => open_s3(
                endpoint.as_deref(),
                bucket,
                region,
                access_key_id,
                secret_access_key.expose_secret(),
                *allow_http,
            )?,
            StoreConfig::Memory => Arc::new(object_store::memory::InMemory::new()),
        };
        Ok(Self::with_store(store, keys))
    }

    /// Wraps an existing store (tests, or stores built elsewhere).
    pub fn with_store(store: Arc<dyn ObjectStore>, keys: Keyring) -> Self {
        Self { store, keys }
    }

    /// The underlying store (for tests that check what is at rest).
    pub fn raw(&self) -> &Arc<dyn object_store::ObjectStore> {
        &self.store
    }

    /// The keyring in use.
    pub fn keyring(&self) -> &Keyring {
        &self.keys
    }

    /// Encrypts and writes `plaintext` at `path` (e.g.
    /// `users/<uuid>/images/<uuid>/original.png`); returns the master key id used.
    pub async fn put(&self, path: &str, plaintext: &[u8]) -> Result<String, StorageError> {
        counted("put", self.put_uncounted(path, plaintext).await)
    }

    async fn put_uncounted(&self, path: &str, plaintext: &[u8]) -> Result<String, StorageError> {
        let location = object_path(path)?;
        let master = self.keys.current();
        let sealed = seal(master, path, plaintext)?;
        self.store.put(&location, PutPayload::from(sealed)).await?;
        tracing::debug!(path, key_id = %master.id, bytes = plaintext.len(), "object stored");
        Ok(master.id.clone())
    }

    /// Reads and decrypts the object at `path`.
    pub async fn get(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        counted("get", self.get_uncounted(path).await)
    }

    async fn get_uncounted(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        let data = self.get_raw(path).await?;
        open_sealed(&self.keys, path, &data)
    }

    async fn get_raw(&self, path: &str) -> Result<bytes::Bytes, StorageError> {
        let location = object_path(path)?;
        let result = self
            .store
            .get(&location)
            .await
            .map_err(|e| map_get_err(path, e))?;
        result.bytes().await.map_err(|e| map_get_err(path, e))
    }

    /// Whether an object exists at `path` (its content is not checked).
    pub async fn exists(&self, path: &str) -> Result<bool, StorageError> {
        counted("exists", self.exists_uncounted(path).await)
    }

    async fn exists_uncounted(&self, path: &str) -> Result<bool, StorageError> {
        let location = object_path(path)?;
        match self.store.head(&location).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The id of the master key the object at `path` is sealed with (read
    /// from its header; the object is not decrypted).
    pub async fn key_id(&self, path: &str) -> Result<String, StorageError> {
        let data = self.get_raw(path).await?;
        let sealed = parse_sealed(&data).ok_or_else(|| StorageError::Malformed(path.to_owned()))?;
        Ok(sealed.key_id.to_owned())
    }

    /// Deletes the object at `path`; a missing object is not an error.
    pub async fn delete(&self, path: &str) -> Result<(), StorageError> {
        counted("delete", self.delete_uncounted(path).await)
    }

    async fn delete_uncounted(&self, path: &str) -> Result<(), StorageError> {
        let location = object_path(path)?;
        match self.store.delete(&location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                tracing::debug!(path, "object deleted");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The paths of every object under `prefix` (e.g. `users/<uuid>/`),
    /// sorted.
    pub async fn list_prefix(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        counted("list", self.list_prefix_uncounted(prefix).await)
    }

    async fn list_prefix_uncounted(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let location = prefix_path(prefix)?;
        let mut paths: Vec<String> = self
            .store
            .list(Some(&location))
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await?;
        paths.sort();
        Ok(paths)
    }

    /// Deletes every object under `prefix` (e.g. `users/<uuid>/`); returns how many.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize, StorageError> {
        counted("delete_prefix", self.delete_prefix_uncounted(prefix).await)
    }

    async fn delete_prefix_uncounted(&self, prefix: &str) -> Result<usize, StorageError> {
        let location = prefix_path(prefix)?;
        let locations = self
            .store
            .list(Some(&location))
            .map_ok(|meta| meta.location)
            .boxed();
        let mut results = self.store.delete_stream(locations);
        let mut deleted = 0usize;
        while let Some(result) = results.next().await {
            match result {
                Ok(_) => deleted += 1,
                // Gone between the listing and the delete: fine.
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        tracing::debug!(prefix, deleted, "objects deleted under prefix");
        Ok(deleted)
    }

    /// Re-seals the object at `path` under the current master key if it uses
    /// another one; returns whether it changed.
    ///
    /// The object is read, fully verified and decrypted, then written again
    /// with a fresh data key. A concurrent `put` to the same path between the
    /// read and the write would be overwritten by the older content.
    pub async fn rewrap(&self, path: &str) -> Result<bool, StorageError> {
        let data = self.get_raw(path).await?;
        let sealed = parse_sealed(&data).ok_or_else(|| StorageError::Malformed(path.to_owned()))?;
        if sealed.key_id == self.keys.current_id() {
            return Ok(false);
        }
        let old = sealed.key_id.to_owned();
        let plaintext = open_sealed(&self.keys, path, &data)?;
        let new = self.put(path, &plaintext).await?;
        tracing::info!(path, from = %old, to = %new, "object re-sealed under the current master key");
        Ok(true)
    }

    /// [`rewrap`](Self::rewrap) for every object under `prefix`; returns how
    /// many changed. Stops at the first error.
    pub async fn rewrap_prefix(&self, prefix: &str) -> Result<usize, StorageError> {
        let mut changed = 0;
        for path in self.list_prefix(prefix).await? {
            if self.rewrap(&path).await? {
                changed += 1;
            }
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring1() -> Keyring {
        Keyring::new(vec![MasterKey::new("k1", [5; 32]).unwrap()]).unwrap()
    }

    #[test]
    fn layout_matches_the_documented_format() {
        let keys = ring1();
        let sealed = seal(keys.current(), "a/b", b"hello").unwrap();
        assert_eq!(&sealed[..4], b"U1E1");
        assert_eq!(sealed[4], 2);
        assert_eq!(&sealed[5..7], b"k1");
        assert_eq!(sealed.len(), 7 + 12 + 48 + 12 + 5 + 16);
        let s = parse_sealed(&sealed).unwrap();
        assert_eq!(s.key_id, "k1");
        assert_eq!(s.prefix, b"U1E1\x02k1");
        assert_eq!(s.body.len(), 5 + 16);
        assert_eq!(open_sealed(&keys, "a/b", &sealed).unwrap(), b"hello");
        assert!(matches!(
            open_sealed(&keys, "a/c", &sealed),
            Err(StorageError::Tampered(_))
        ));
    }

    #[test]
    fn header_is_bound_to_the_key_id() {
        // Two keys with the same material: relabelling the header with the
        // other id must still fail (the id is in the key-wrap AAD).
        let keys = Keyring::new(vec![
            MasterKey::new("ka", [5; 32]).unwrap(),
            MasterKey::new("kb", [5; 32]).unwrap(),
        ])
        .unwrap();
        let mut sealed = seal(keys.current(), "p", b"x").unwrap();
        sealed[6] = b'b';
        assert!(matches!(
            open_sealed(&keys, "p", &sealed),
            Err(StorageError::Tampered(_))
        ));
    }

    #[test]
    fn bad_headers_are_malformed() {
        let keys = ring1();
        let good = seal(keys.current(), "p", b"").unwrap();
        assert_eq!(good.len(), 94 + 1);
        let mut zero_len = good.clone();
        zero_len[4] = 0;
        let mut long_len = good.clone();
        long_len[4] = 33;
        let mut bad_char = good.clone();
        bad_char[5] = b'/';
        for data in [
            &good[..94],
            &b"U1E2"[..],
            &zero_len,
            &long_len,
            &bad_char,
            &[][..],
        ] {
            assert!(matches!(
                open_sealed(&keys, "p", data),
                Err(StorageError::Malformed(_))
            ));
        }
    }

    #[test]
    fn paths() {
        for ok in [
            "a",
            "a/b",
            "users/0193-ab/images/x_1/original.png",
            "a=b/c.d-e",
        ] {
            object_path(ok).unwrap();
        }
        for bad in [
            "", "/a", "a/", "a//b", "..", "a/..", ".", "a b", "a\\b", "ä",
        ] {
            assert!(
                matches!(object_path(bad), Err(StorageError::BadPath { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(prefix_path("users/u1/").unwrap().as_ref(), "users/u1");
        assert_eq!(prefix_path("users/u1").unwrap().as_ref(), "users/u1");
        for bad in ["", "/", "//", "users//", "/users/"] {
            assert!(
                matches!(prefix_path(bad), Err(StorageError::BadPath { .. })),
                "{bad:?}"
            );
        }
    }
}
