//! Secrets: reading `{secretFile}` / `{secretEnv}` references at dispatch time, and the
//! [`Redactor`] that keeps the values out of everything the runtime writes.
//!
//! A provider's pinned configuration holds only references
//! ([`SecretRef`](planspec_model::provider::SecretRef)). When an attempt is dispatched, the
//! [`ProviderRegistry`](crate::provider::ProviderRegistry) reads each one
//! ([`SecretSource::read`]), hands the provider a configuration with the values filled in, and
//! registers every value with a [`Redactor`]. The attempt's log, its outputs and its failure
//! message pass through that redactor before anything is written, so the journal, node
//! records, the Execution's status and every API response built from them only ever see
//! `[REDACTED]`.

mod materialise;
mod redact;

pub use materialise::{as_reference, materialise, references};
pub use redact::{Redactor, REDACTED};

use planspec_model::provider::SecretRef;
use std::path::PathBuf;

/// Where secrets come from: a directory of secret files and the process environment.
#[derive(Debug, Clone, Default)]
pub struct SecretSource {
    dir: Option<PathBuf>,
}

/// Why a secret could not be read. Names the reference, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The reference is malformed.
    #[error("{0}")]
    Invalid(String),
    /// No secrets directory is configured, so `secretFile` cannot be used.
    #[error(
        "{0} cannot be read: the server has no secrets directory (start it with --secrets-dir)"
    )]
    NoDirectory(String),
    /// The file or variable does not exist or cannot be read.
    #[error("{what} cannot be read: {problem}")]
    Unreadable {
        /// The reference, e.g. `secretFile deploy-token`.
        what: String,
        /// Why.
        problem: String,
    },
}

/// Largest secret read (64 KiB).
pub const MAX_SECRET_BYTES: u64 = 64 * 1024;

impl SecretSource {
    /// Secrets from files under `dir` (if any) and from `PLANSPEC_SECRET_*` variables.
    pub fn new(dir: Option<PathBuf>) -> SecretSource {
        SecretSource { dir }
    }

    /// The secrets directory, if configured.
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_deref()
    }

    /// Reads one secret. A file's one trailing newline (`\n` or `\r\n`) is dropped.
    pub async fn read(&self, reference: &SecretRef) -> Result<String, SecretError> {
        reference.check().map_err(SecretError::Invalid)?;
        let what = reference.describe();
        let unreadable = |problem: String| SecretError::Unreadable {
            what: what.clone(),
            problem,
        };
        match reference {
            SecretRef::SecretEnv(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(v),
                Ok(_) => Err(unreadable("the variable is empty".into())),
                Err(_) => Err(unreadable(
                    "the variable is not set in the server's environment".into(),
                )),
            },
            SecretRef::SecretFile(name) => {
                let Some(dir) = &self.dir else {
                    return Err(SecretError::NoDirectory(what));
                };
                let path = dir.join(name);
                // The name has no `..`; a symlink inside the directory may still point out of
                // it, which is the operator's choice (they own the directory).
                let meta = tokio::fs::metadata(&path)
                    .await
                    .map_err(|e| unreadable(e.kind().to_string()))?;
                if !meta.is_file() {
                    return Err(unreadable("not a regular file".into()));
                }
                if meta.len() > MAX_SECRET_BYTES {
                    return Err(unreadable(format!("larger than {MAX_SECRET_BYTES} bytes")));
                }
                let bytes = tokio::fs::read(&path)
                    .await
                    .map_err(|e| unreadable(e.kind().to_string()))?;
                let mut text =
                    String::from_utf8(bytes).map_err(|_| unreadable("not UTF-8".into()))?;
                if text.ends_with('\n') {
                    text.pop();
                    if text.ends_with('\r') {
                        text.pop();
                    }
                }
                if text.is_empty() {
                    return Err(unreadable("the file is empty".into()));
                }
                if text.contains('\0') {
                    return Err(unreadable("the value contains NUL".into()));
                }
                Ok(text)
            }
        }
    }
}
