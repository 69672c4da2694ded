//! `planspec-trust` — verifying Provider manifests.
//!
//! A Provider may carry a manifest its publisher signed with ed25519. This crate computes the
//! canonical forms (RFC 8785 JSON), signs ([`sign`]) and verifies ([`verify`]) manifests
//! against a [`TrustPolicy`](planspec_model::provider::TrustPolicy) and the facts of the
//! runtime that would run the Provider ([`RuntimeFacts`]), and reports every problem as an
//! [`Issue`] with a stable [`IssueCode`].
//!
//! Pure: no I/O, no clock — the caller passes the time in — so the CLI (offline), the server's
//! status controller and the runtime at Execution start all reach the same verdict.

#![warn(missing_docs)]

mod canonical;
mod issue;
mod keys;
mod sign;
mod verify;

pub use canonical::{artifact_digest, canonical_json, manifest_digest, sha256_prefixed};
pub use issue::{Issue, IssueCode};
pub use keys::{fingerprint, KeyError, KeyPair};
pub use sign::{sign, SignError, SignOptions};
pub use verify::{verify, RuntimeFacts, Verification, RUNTIME_CAPABILITIES};

#[cfg(test)]
mod tests;
