//! Secrets the database must not hold in the clear (TOTP seeds today) are
//! sealed with AES-256-GCM under the application key. The associated data
//! binds a value to its row (e.g. the user's id), so a sealed value copied
//! onto another row does not open. Each sealed value carries the key's id:
//! today one key is configured and a value sealed under another key is
//! refused (`CryptoError::UnknownKey`); the id is there so that a keyring
//! (seal with the newest, open by id) can add rotation without a migration.
//! Until then, changing `UNI1_APP_KEY` locks out everyone who uses
//! two-factor (their sealed seeds no longer open).

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Why a sealed value could not be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("the application key must be 32 bytes, base64-encoded")]
    BadKey,
    #[error("the sealed value is malformed")]
    Malformed,
    #[error("the sealed value was made with a key that is not configured (key id {0})")]
    UnknownKey(String),
    #[error("the sealed value does not open: it was altered, or belongs to another row")]
    Tampered,
}

/// The application key (32 bytes) and its id.
#[derive(Clone)]
pub struct AppKey {
    key: [u8; 32],
    id: String,
}

impl std::fmt::Debug for AppKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AppKey(id {})", self.id)
    }
}

impl AppKey {
    /// Reads a base64-encoded 32-byte key.
    pub fn from_base64(encoded: &str) -> Result<Self, CryptoError> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| CryptoError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadKey)?;
        Ok(Self::from_bytes(key))
    }

    /// A key from raw bytes.
    pub fn from_bytes(key: [u8; 32]) -> Self {
        let digest = Sha256::digest(key);
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        Self { key, id }
    }

    /// A fresh random key, base64-encoded (for `uni1` to write on first run).
    pub fn generate_base64() -> String {
        STANDARD.encode(Aes256Gcm::generate_key(OsRng))
    }

    /// The key's id: the first 4 bytes of its SHA-256, in hex.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A separate 32-byte key for `purpose`, derived from this one (so one
    /// configured secret can seed, e.g., the storage master key).
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"uni1 key derivation v1\0");
        h.update(purpose.as_bytes());
        h.update([0]);
        h.update(self.key);
        h.finalize().into()
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.key))
    }

    /// Seals `plaintext` for the row identified by `aad`:
    /// `v1.<key id>.<base64(nonce ‖ ciphertext)>`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("v1.{}.{}", self.id, STANDARD.encode(out))
    }

    /// Opens a value sealed by [`AppKey::seal`] with the same `aad`.
    pub fn open(&self, sealed: &str, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some("v1"), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(CryptoError::Malformed);
        };
        if key_id != self.id {
            return Err(CryptoError::UnknownKey(key_id.to_owned()));
        }
        let bytes = STANDARD.decode(body).map_err(|_| CryptoError::Malformed)?;
        if bytes.len() < 12 + 16 {
            return Err(CryptoError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        self.cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| CryptoError::Tampered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_and_detects_tampering() {
        let key = AppKey::from_base64(&AppKey::generate_base64()).unwrap();
        let sealed = key.seal(b"JBSWY3DPEHPK3PXP", b"user-1");
        assert!(sealed.starts_with(&format!("v1.{}.", key.id())));
        assert!(!sealed.contains("JBSWY3DP"));
        assert_eq!(key.open(&sealed, b"user-1").unwrap(), b"JBSWY3DPEHPK3PXP");
        assert_eq!(
            key.open(&sealed, b"user-2"),
            Err(CryptoError::Tampered),
            "bound to its row"
        );

        let mut flipped = sealed.clone().into_bytes();
        let last = flipped.len() - 3;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            key.open(&String::from_utf8(flipped).unwrap(), b"user-1"),
            Err(CryptoError::Tampered)
        );

        let other = AppKey::from_base64(&AppKey::generate_base64()).unwrap();
        assert!(matches!(
            other.open(&sealed, b"user-1"),
            Err(CryptoError::UnknownKey(_))
        ));
        assert_ne!(
            key.seal(b"x", b"a"),
            key.seal(b"x", b"a"),
            "fresh nonce every time"
        );
    }

    #[test]
    fn bad_keys_are_refused() {
        assert_eq!(
            AppKey::from_base64("short").unwrap_err(),
            CryptoError::BadKey
        );
        assert_eq!(
            AppKey::from_base64(&STANDARD.encode([0u8; 31])).unwrap_err(),
            CryptoError::BadKey
        );
    }
}
