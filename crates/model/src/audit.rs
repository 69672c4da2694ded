//! The audit log's record and its hash chain.
//!
//! Every mutating API request and every governance decision (policy verdict, approval,
//! override) is appended to an append-only log. Each [`AuditRecord`] carries the SHA-256 of
//! the record before it, so editing, deleting or reordering any record breaks the chain at
//! that point, and the store's recorded [`ChainHead`] catches a truncated tail.
//!
//! The hash of record *n* is
//!
//! ```text
//! hash(n) = SHA-256( raw 32 bytes of prev_hash(n) || canonical JSON of record n without `hash` )
//! ```
//!
//! where `prev_hash(1)` is [`GENESIS_HASH`] (64 zeros) and `prev_hash(n) = hash(n-1)`. The
//! canonical JSON ([`canonical_json`]) sorts object keys by their UTF-16 code units (RFC 8785),
//! has no whitespace and writes strings and integers as RFC 8785 does. Hashes are lowercase hex.
//!
//! The store assigns `seq`, `prev_hash` and `hash` in commit order ([`AuditRecord::seal`]);
//! anyone holding the records verifies them with [`verify_chain`] — the API server, the CLI
//! (`planspec audit verify`) and offline tools run this same code.
//!
//! Compatibility: the hash covers the serialised record, so a field added later must be
//! optional and skipped when empty; old records then serialise, and hash, as they did.

use crate::actor::UserInfo;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// The `prev_hash` of the first record: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The identity recorded for a request that carried none (no authentication ran).
pub const UNAUTHENTICATED: &str = "system:unauthenticated";

/// What was acted on: the request's resource coordinates, in the shape of Kubernetes'
/// `ResourceAttributes`. Empty fields are omitted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditResource {
    /// The API group (`planspec.io`; empty for the core group).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// The plural resource (`plans`, `executions`, `namespaces`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource: String,
    /// The namespace; empty for cluster-scoped resources and cross-namespace requests.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The object's name; empty for collection requests.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The subresource (`status`, `cancel`, `review`, a node path …).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subresource: String,
    /// The request path, for requests that name no resource (bulk routes, `validate`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
}

/// How the action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Decision {
    /// Allowed and carried out (HTTP 2xx/3xx, an `allow` verdict, an approval).
    Allowed,
    /// Refused by authentication, authorization, policy or a person (HTTP 401/403, `deny`,
    /// a rejection).
    Denied,
    /// Allowed, but the action failed (HTTP 4xx other than 401/403, 5xx).
    Error,
}

impl Decision {
    /// `allowed`, `denied` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::Denied => "denied",
            Decision::Error => "error",
        }
    }

    /// The decision an HTTP status code stands for.
    pub fn of_status(code: u16) -> Decision {
        match code {
            401 | 403 => Decision::Denied,
            c if c >= 400 => Decision::Error,
            _ => Decision::Allowed,
        }
    }
}

/// The outcome of the action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditOutcome {
    /// The HTTP status code of the answer; absent for decisions made outside a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// Allowed, denied or failed.
    pub decision: Decision,
    /// A short reason (`Forbidden`, `policy_denied`, …); empty when there is none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

impl AuditOutcome {
    /// The outcome of an HTTP answer with `code`.
    pub fn http(code: u16) -> AuditOutcome {
        AuditOutcome {
            code: Some(code),
            decision: Decision::of_status(code),
            reason: String::new(),
        }
    }
}

/// One event to append: everything but the chain fields, which the store assigns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// When it happened (RFC 3339, UTC), as the caller observed it. The chain orders records
    /// by commit, so times of concurrent requests may be slightly out of order.
    pub time: String,
    /// Who acted.
    pub actor: UserInfo,
    /// The verb (`create`, `update`, `patch`, `delete`, `deletecollection`, `approve`,
    /// `cancel`, `verdict` …).
    pub verb: String,
    /// What was acted on.
    pub resource: AuditResource,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// The request id (`X-Request-Id`), linking the record to the access log; empty outside
    /// a request.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub request_id: String,
    /// Details of a decision (a verdict's rule and reason, an approval's comment …).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub details: Value,
}

impl AuditEntry {
    /// A decision made outside an HTTP request — a policy verdict, a Gate's resolution, an
    /// override — to append in the transaction that journals it: no status code, no request
    /// id. `time` is RFC 3339 in UTC (milliseconds, like the server's records).
    pub fn decision(
        time: impl Into<String>,
        actor: UserInfo,
        verb: impl Into<String>,
        resource: AuditResource,
        decision: Decision,
        reason: impl Into<String>,
        details: Value,
    ) -> AuditEntry {
        AuditEntry {
            time: time.into(),
            actor,
            verb: verb.into(),
            resource,
            outcome: AuditOutcome {
                code: None,
                decision,
                reason: reason.into(),
            },
            request_id: String::new(),
            details,
        }
    }
}

/// One record of the chain: an [`AuditEntry`] with its sequence number and hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// Position in the log: 1, 2, 3 … without gaps, in commit order.
    pub seq: u64,
    /// The event.
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// The hash of the record before (lowercase hex), [`GENESIS_HASH`] for the first.
    pub prev_hash: String,
    /// The hash of this record; see the module documentation.
    pub hash: String,
}

/// The newest record of a chain, as the store records it apart from the records, so that
/// removing records from the end is detected too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainHead {
    /// The newest record's `seq` (`0`: an empty log).
    pub seq: u64,
    /// The newest record's hash ([`GENESIS_HASH`] for an empty log).
    pub hash: String,
}

impl ChainHead {
    /// The head of an empty log.
    pub fn genesis() -> ChainHead {
        ChainHead {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
        }
    }
}

impl Default for ChainHead {
    fn default() -> Self {
        ChainHead::genesis()
    }
}

impl AuditRecord {
    /// The record that follows `head`: `seq = head.seq + 1`, `prev_hash = head.hash`, and its
    /// hash computed. The store calls this in commit order.
    pub fn seal(entry: AuditEntry, head: &ChainHead) -> AuditRecord {
        let mut record = AuditRecord {
            seq: head.seq + 1,
            entry,
            prev_hash: head.hash.clone(),
            hash: String::new(),
        };
        record.hash = record.compute_hash();
        record
    }

    /// The hash this record should carry, from its other fields.
    pub fn compute_hash(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(object) = value.as_object_mut() {
            object.remove("hash");
        }
        let mut hasher = Sha256::new();
        // A malformed prev_hash (not 64 hex digits) hashes as its text, so it can never match.
        match decode_hex32(&self.prev_hash) {
            Some(bytes) => hasher.update(bytes),
            None => hasher.update(self.prev_hash.as_bytes()),
        }
        hasher.update(canonical_json(&value).as_bytes());
        hex(&hasher.finalize())
    }

    /// This record as the head of its chain.
    pub fn head(&self) -> ChainHead {
        ChainHead {
            seq: self.seq,
            hash: self.hash.clone(),
        }
    }
}

/// Where and how a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// A record's stored hash is not the hash of its content: the record was edited.
    #[error("record {seq} was altered: its content hashes to {computed}, but it carries {stored}")]
    Altered {
        /// The record.
        seq: u64,
        /// The hash it carries.
        stored: String,
        /// The hash of its content.
        computed: String,
    },
    /// A record does not follow the one before: records were deleted, inserted or reordered.
    #[error("the chain is broken at record {seq}: expected seq {expected_seq} after hash {expected_prev}, found seq {seq} with prev_hash {found_prev}")]
    Broken {
        /// The record's `seq`.
        seq: u64,
        /// The `seq` that should come here.
        expected_seq: u64,
        /// The hash of the record before (the one that should be its `prev_hash`).
        expected_prev: String,
        /// Its `prev_hash`.
        found_prev: String,
    },
    /// The chain ends before the recorded head: records were removed from the end.
    #[error("the log is truncated: it ends at record {last_seq}, but the recorded head is record {head_seq}")]
    Truncated {
        /// The last record present (`0`: none).
        last_seq: u64,
        /// The head's `seq`.
        head_seq: u64,
    },
    /// The chain's last record is not the recorded head (the head or the tail was rewritten).
    #[error("the recorded head (record {head_seq}, {head_hash}) does not match the chain, which ends at record {last_seq} with {last_hash}")]
    HeadMismatch {
        /// The head's `seq`.
        head_seq: u64,
        /// The head's hash.
        head_hash: String,
        /// The last record's `seq`.
        last_seq: u64,
        /// The last record's hash.
        last_hash: String,
    },
}

impl ChainError {
    /// The first record at which the chain is wrong.
    pub fn seq(&self) -> u64 {
        match self {
            ChainError::Altered { seq, .. } | ChainError::Broken { seq, .. } => *seq,
            ChainError::Truncated { last_seq, .. } => last_seq + 1,
            ChainError::HeadMismatch {
                head_seq, last_seq, ..
            } => (*head_seq).min(*last_seq).max(1),
        }
    }
}

/// Checks records one at a time, in order; for logs too big to hold in memory (the CLI reads
/// the chain page by page).
#[derive(Debug, Clone, Default)]
pub struct ChainVerifier {
    last: ChainHead,
}

impl ChainVerifier {
    /// A verifier for a chain that starts at record 1.
    pub fn new() -> ChainVerifier {
        ChainVerifier::default()
    }

    /// A verifier that continues after `anchor` (a head recorded earlier): the next record
    /// must be `anchor.seq + 1` with `prev_hash = anchor.hash`.
    pub fn after(anchor: ChainHead) -> ChainVerifier {
        ChainVerifier { last: anchor }
    }

    /// Checks the next record: its link to the one before, then its own hash.
    pub fn push(&mut self, record: &AuditRecord) -> Result<(), ChainError> {
        if record.seq != self.last.seq + 1 || record.prev_hash != self.last.hash {
            return Err(ChainError::Broken {
                seq: record.seq,
                expected_seq: self.last.seq + 1,
                expected_prev: self.last.hash.clone(),
                found_prev: record.prev_hash.clone(),
            });
        }
        let computed = record.compute_hash();
        if computed != record.hash {
            return Err(ChainError::Altered {
                seq: record.seq,
                stored: record.hash.clone(),
                computed,
            });
        }
        self.last = record.head();
        Ok(())
    }

    /// The last record checked (the genesis or the anchor before any).
    pub fn last(&self) -> &ChainHead {
        &self.last
    }

    /// Ends the check against the head the store recorded: the chain must end exactly there.
    pub fn finish(&self, head: &ChainHead) -> Result<(), ChainError> {
        if self.last == *head {
            return Ok(());
        }
        if self.last.seq < head.seq {
            return Err(ChainError::Truncated {
                last_seq: self.last.seq,
                head_seq: head.seq,
            });
        }
        Err(ChainError::HeadMismatch {
            head_seq: head.seq,
            head_hash: head.hash.clone(),
            last_seq: self.last.seq,
            last_hash: self.last.hash.clone(),
        })
    }
}

/// Verifies a whole chain (records in the order read) against its recorded head; returns the
/// first break.
pub fn verify_chain<'a>(
    records: impl IntoIterator<Item = &'a AuditRecord>,
    head: &ChainHead,
) -> Result<(), ChainError> {
    let mut verifier = ChainVerifier::new();
    for record in records {
        verifier.push(record)?;
    }
    verifier.finish(head)
}

/// `value` as canonical JSON (RFC 8785): object members sorted by the UTF-16 code units of
/// their names, no insignificant whitespace, strings escaped minimally, integers in decimal.
/// Non-integral numbers are written as the shortest representation that reads back exactly
/// (RFC 8785's form for the values audit details carry).
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (key, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
    }
}

fn write_number(n: &serde_json::Number, out: &mut String) {
    if let Some(i) = n.as_i64() {
        out.push_str(&i.to_string());
    } else if let Some(u) = n.as_u64() {
        out.push_str(&u.to_string());
    } else {
        match n.as_f64() {
            // Integral values print without a fraction, as ECMAScript does below 1e21.
            Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => {
                out.push_str(&format!("{f:.0}"));
            }
            Some(f) if f.is_finite() => out.push_str(&f.to_string()),
            _ => out.push_str("null"),
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

fn decode_hex32(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(verb: &str) -> AuditEntry {
        AuditEntry {
            time: "2026-01-01T00:00:00.000Z".into(),
            actor: UserInfo::new("alice", ["dev"]),
            verb: verb.into(),
            resource: AuditResource {
                group: "planspec.io".into(),
                resource: "plans".into(),
                namespace: "default".into(),
                name: "build".into(),
                ..Default::default()
            },
            outcome: AuditOutcome::http(201),
            request_id: "r1".into(),
            details: Value::Null,
        }
    }

    fn chain(n: usize) -> (Vec<AuditRecord>, ChainHead) {
        let mut head = ChainHead::genesis();
        let mut records = Vec::new();
        for i in 0..n {
            let record = AuditRecord::seal(entry(&format!("create{i}")), &head);
            head = record.head();
            records.push(record);
        }
        (records, head)
    }

    #[test]
    fn a_sealed_chain_verifies() {
        let (records, head) = chain(5);
        assert_eq!(records[0].prev_hash, GENESIS_HASH);
        assert_eq!(records[4].seq, 5);
        verify_chain(&records, &head).unwrap();
        verify_chain(&[], &ChainHead::genesis()).unwrap();
    }

    #[test]
    fn decisions_have_no_status_code() {
        let e = AuditEntry::decision(
            "2026-01-01T00:00:00.000Z",
            UserInfo::control_plane(),
            "verdict",
            AuditResource::default(),
            Decision::Denied,
            "policy_denied",
            json!({"rule": "no-prod-fridays"}),
        );
        let value = serde_json::to_value(&e).unwrap();
        assert_eq!(
            value["outcome"],
            json!({"decision": "denied", "reason": "policy_denied"})
        );
        assert!(value.get("requestId").is_none());
        let record = AuditRecord::seal(e, &ChainHead::genesis());
        verify_chain([&record], &record.head()).unwrap();
    }

    #[test]
    fn the_hash_survives_a_round_trip_through_json() {
        let mut e = entry("verdict");
        e.details = json!({"z": 1, "a": [1.5, "x\u{1}"], "rule": {"b": true}});
        let record = AuditRecord::seal(e, &ChainHead::genesis());
        let text = serde_json::to_string(&record).unwrap();
        let back: AuditRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back.compute_hash(), record.hash);
    }

    #[test]
    fn edits_deletions_reorderings_and_truncation_are_caught() {
        let (records, head) = chain(5);

        let mut edited = records.clone();
        edited[2].entry.actor.username = "mallory".into();
        assert!(matches!(
            verify_chain(&edited, &head),
            Err(ChainError::Altered { seq: 3, .. })
        ));

        let mut deleted = records.clone();
        deleted.remove(1);
        let error = verify_chain(&deleted, &head).unwrap_err();
        assert!(
            matches!(error, ChainError::Broken { seq: 3, .. }),
            "{error}"
        );

        let mut swapped = records.clone();
        swapped.swap(1, 2);
        assert_eq!(verify_chain(&swapped, &head).unwrap_err().seq(), 3);

        let truncated = &records[..3];
        let error = verify_chain(truncated, &head).unwrap_err();
        assert_eq!(
            error,
            ChainError::Truncated {
                last_seq: 3,
                head_seq: 5
            }
        );
        assert_eq!(error.seq(), 4);

        // A resealed tail (every hash recomputed after an edit) no longer meets the head.
        let mut resealed = records[..4].to_vec();
        resealed[3].entry.verb = "delete".into();
        resealed[3].hash = resealed[3].compute_hash();
        let mut forged = resealed.clone();
        forged.push(AuditRecord::seal(entry("x"), &resealed[3].head()));
        assert!(matches!(
            verify_chain(&forged, &head),
            Err(ChainError::HeadMismatch { .. })
        ));
    }

    #[test]
    fn a_verifier_continues_after_an_anchor() {
        let (records, head) = chain(4);
        let mut verifier = ChainVerifier::after(records[1].head());
        for record in &records[2..] {
            verifier.push(record).unwrap();
        }
        verifier.finish(&head).unwrap();
        let mut wrong = ChainVerifier::after(ChainHead {
            seq: 2,
            hash: GENESIS_HASH.into(),
        });
        assert!(wrong.push(&records[2]).is_err());
    }

    #[test]
    fn canonical_json_sorts_and_escapes() {
        let value = json!({"b": 1, "a": {"d": [true, null, -2], "c": "é\"\n"}, "n": 2.5, "i": 3.0});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":{"c":"é\"\n","d":[true,null,-2]},"b":1,"i":3,"n":2.5}"#
        );
        // UTF-16 order: U+FB01 sorts after U+1F600's surrogates (0xD83D), unlike UTF-8 order.
        let value = json!({"\u{fb01}": 1, "\u{1f600}": 2});
        assert_eq!(canonical_json(&value), "{\"\u{1f600}\":2,\"\u{fb01}\":1}");
    }
}
