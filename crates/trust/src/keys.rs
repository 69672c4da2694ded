//! Ed25519 key pairs as PlanSpec stores them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::canonical::sha256_prefixed;

/// Why a key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key file is not the JSON document `planspec provider keygen` writes.
    #[error("not a PlanSpec key file: {0}")]
    Format(String),
    /// The key bytes are not base64 of the right length.
    #[error("the {0} is not standard base64 of 32 bytes")]
    Bytes(&'static str),
    /// The public key does not belong to the private key.
    #[error("the public key does not match the private key")]
    Mismatch,
}

/// An ed25519 key pair, stored as a small JSON document (`planspec provider keygen`):
/// `{"algorithm": "ed25519", "keyId": …, "publicKey": <base64>, "privateKey": <base64 seed>}`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyPair {
    /// Always `ed25519`.
    pub algorithm: String,
    /// The key's fingerprint ([`fingerprint`]), what trust policies pin in `keyIds`.
    pub key_id: String,
    /// The public key, standard base64 of 32 bytes.
    pub public_key: String,
    /// The 32-byte seed, standard base64. Keep the file private (mode 0600).
    pub private_key: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("key_id", &self.key_id)
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    /// The key pair of a 32-byte seed (the caller draws it from the OS's random source).
    pub fn from_seed(seed: [u8; 32]) -> KeyPair {
        let signing = SigningKey::from_bytes(&seed);
        let public = signing.verifying_key().to_bytes();
        KeyPair {
            algorithm: "ed25519".into(),
            key_id: fingerprint(&public),
            public_key: STANDARD.encode(public),
            private_key: STANDARD.encode(seed),
        }
    }

    /// Reads a key file's text.
    pub fn from_json(text: &str) -> Result<KeyPair, KeyError> {
        let pair: KeyPair =
            serde_json::from_str(text).map_err(|e| KeyError::Format(e.to_string()))?;
        if pair.algorithm != "ed25519" {
            return Err(KeyError::Format(format!(
                "algorithm `{}` is not supported (only ed25519)",
                pair.algorithm
            )));
        }
        let signing = pair.signing_key()?;
        if STANDARD.encode(signing.verifying_key().to_bytes()) != pair.public_key {
            return Err(KeyError::Mismatch);
        }
        Ok(pair)
    }

    /// The key file's text (pretty JSON and a newline).
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    pub(crate) fn signing_key(&self) -> Result<SigningKey, KeyError> {
        let seed = decode32(&self.private_key).ok_or(KeyError::Bytes("private key"))?;
        Ok(SigningKey::from_bytes(&seed))
    }
}

/// A public key's fingerprint: `sha256:` and the hex SHA-256 of its 32 raw bytes. Unlike a
/// free-form key id it cannot be claimed by another key, so trust policies pin these.
pub fn fingerprint(public_key: &[u8; 32]) -> String {
    sha256_prefixed(public_key)
}

pub(crate) fn decode32(text: &str) -> Option<[u8; 32]> {
    STANDARD.decode(text.trim()).ok()?.try_into().ok()
}

pub(crate) fn verifying_key(text: &str) -> Option<([u8; 32], VerifyingKey)> {
    let bytes = decode32(text)?;
    VerifyingKey::from_bytes(&bytes).ok().map(|k| (bytes, k))
}
