//! The audit log's API semantics, without HTTP types: reading it as an `AuditRecordList`
//! (paged by `seq`, optionally filtered), appending one record for a request, and
//! [`RequestAudit`]: the pending record of the request being handled, which the write that
//! carries the request out commits in its own transaction.
//!
//! The log itself — record type, hash chain, verification — is `planspec_model::audit`; the
//! store assigns `seq` and the hashes in commit order (`WriteOp::AppendAudit`).

use super::Api;
use crate::status::{Reason, Status};
use planspec_model::audit::{AuditEntry, AuditOutcome, AuditRecord, ChainHead};
use planspec_store::{AuditQuery, WriteOp};
use serde::Serialize;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// The kind of the list the audit endpoint answers.
pub const LIST_KIND: &str = "AuditRecordList";
/// The plural the audit endpoint is addressed by (RBAC: `list` on `auditrecords`).
pub const RESOURCE: &str = "auditrecords";
/// Records per page when the client gives no `limit`.
pub const DEFAULT_LIMIT: usize = 500;
/// The most records one page holds.
pub const MAX_LIMIT: usize = 5000;

/// What a client asks of the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditListOptions {
    /// Page size (`None`: [`DEFAULT_LIMIT`]; capped at [`MAX_LIMIT`]).
    pub limit: Option<usize>,
    /// The previous page's `continue` (the last `seq` it held).
    pub continue_after: Option<u64>,
    /// Only this actor's records.
    pub actor: Option<String>,
    /// Only records about this namespace.
    pub namespace: Option<String>,
    /// Only records about this resource (plural).
    pub resource: Option<String>,
}

/// One page of the log.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecordList {
    /// `planspec.io/v1alpha1`.
    pub api_version: &'static str,
    /// [`LIST_KIND`].
    pub kind: &'static str,
    /// Paging and the chain's head.
    pub metadata: AuditListMeta,
    /// The records, ascending by `seq`.
    pub items: Vec<AuditRecord>,
}

/// The list's metadata.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditListMeta {
    /// Set when more records follow: pass it back as `continue`.
    #[serde(rename = "continue", skip_serializing_if = "Option::is_none")]
    pub continue_token: Option<String>,
    /// The head the store recorded, read in the same snapshot as the page: a client that
    /// reads the whole chain checks that it ends exactly here.
    pub head: ChainHead,
}

/// Parses a `continue` token (the last `seq` of the previous page).
pub fn parse_continue(token: &str) -> Result<u64, Status> {
    token.parse().map_err(|_| {
        Status::failure(
            400,
            Reason::BadRequest,
            format!("invalid continue token {token:?}: pass back the one a previous page gave"),
        )
    })
}

/// An audit timestamp: RFC 3339 in UTC with milliseconds (`2026-01-02T03:04:05.678Z`).
pub fn audit_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    let at = at
        .replace_nanosecond(at.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(at);
    let text = at
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned());
    // `time` drops a zero fraction and keeps nine digits otherwise: always three.
    match text.split_once('.') {
        Some((seconds, fraction)) => {
            let digits: String = fraction.trim_end_matches('Z').chars().take(3).collect();
            format!("{seconds}.{digits:0<3}Z")
        }
        None => format!("{}.000Z", text.trim_end_matches('Z')),
    }
}

impl Api {
    /// One page of the audit log.
    pub async fn audit_records(
        &self,
        options: AuditListOptions,
    ) -> Result<AuditRecordList, Status> {
        let limit = options
            .limit
            .filter(|l| *l > 0)
            .unwrap_or(DEFAULT_LIMIT)
            .min(MAX_LIMIT);
        let query = AuditQuery {
            after_seq: options.continue_after.unwrap_or(0),
            limit,
            actor: options.actor,
            namespace: options.namespace,
            resource: options.resource,
        };
        let page = self
            .store()
            .read_audit(&query)
            .await
            .map_err(Status::internal_error)?;
        let continue_token = match (page.more, page.records.last()) {
            (true, Some(last)) => Some(last.seq.to_string()),
            _ => None,
        };
        Ok(AuditRecordList {
            api_version: planspec_model::API_VERSION,
            kind: LIST_KIND,
            metadata: AuditListMeta {
                continue_token,
                head: page.head,
            },
            items: page.records,
        })
    }

    /// Appends one record to the audit log, durably.
    pub async fn append_audit(&self, entry: AuditEntry) -> Result<(), Status> {
        self.store()
            .transact(vec![WriteOp::AppendAudit(entry)])
            .await
            .map(|_| ())
            .map_err(|e| Status::internal_error(format!("cannot write the audit record: {e}")))
    }
}

tokio::task_local! {
    /// The audit record of the request this task is handling (set by the HTTP audit layer).
    static REQUEST_AUDIT: Arc<RequestAudit>;
}

/// The audit record of one request, handed from the HTTP audit layer to the write that carries
/// the request out, so that the record lands **in the same transaction** as the change it
/// records (one durable commit, and no change without its record). When no such write happens
/// (a refusal, a dry run, an operation carried out elsewhere) the layer appends the record on
/// its own once the answer is known.
#[derive(Debug)]
pub struct RequestAudit {
    entry: Mutex<AuditEntry>,
    written: AtomicBool,
}

impl RequestAudit {
    /// A pending record; its outcome is filled in by whoever writes it.
    pub fn new(entry: AuditEntry) -> Arc<RequestAudit> {
        Arc::new(RequestAudit {
            entry: Mutex::new(entry),
            written: AtomicBool::new(false),
        })
    }

    /// Runs `work` (the rest of the request) with this record pending.
    pub async fn scope<F: Future>(self: &Arc<Self>, work: F) -> F::Output {
        REQUEST_AUDIT.scope(self.clone(), work).await
    }

    /// Whether a write already committed the record.
    pub fn written(&self) -> bool {
        self.written.load(Ordering::Acquire)
    }

    /// The record as it stands (for the layer to complete and append).
    pub fn entry(&self) -> AuditEntry {
        self.entry
            .lock()
            .map(|e| e.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }
}

/// The current request's record as a write op for a transaction that carries the request out
/// with answer `code` on object `namespace`/`name`, or `None` outside a request or once the
/// record was written. Call [`committed`] with the handle once the transaction commits.
pub(crate) fn request_record(
    code: u16,
    namespace: &str,
    name: &str,
) -> Option<(WriteOp, Arc<RequestAudit>)> {
    let pending = REQUEST_AUDIT.try_with(Arc::clone).ok()?;
    if pending.written() {
        return None;
    }
    let mut entry = pending.entry();
    if entry.resource.namespace.is_empty() {
        entry.resource.namespace = namespace.to_owned();
    }
    if entry.resource.name.is_empty() {
        entry.resource.name = name.to_owned();
    }
    entry.outcome = AuditOutcome::http(code);
    if let Ok(mut stored) = pending.entry.lock() {
        *stored = entry.clone();
    }
    Some((WriteOp::AppendAudit(entry), pending))
}

/// Marks the record of [`request_record`] as committed with its transaction.
pub(crate) fn committed(pending: Option<Arc<RequestAudit>>) {
    if let Some(p) = pending {
        p.written.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_milliseconds() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_767_225_600_123_456_789).unwrap();
        assert_eq!(audit_time(at), "2026-01-01T00:00:00.123Z");
        let whole = OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap();
        assert_eq!(audit_time(whole), "2026-01-01T00:00:00.000Z");
        let tenth = OffsetDateTime::from_unix_timestamp_nanos(1_767_225_600_100_000_000).unwrap();
        assert_eq!(audit_time(tenth), "2026-01-01T00:00:00.100Z");
    }

    #[test]
    fn continue_tokens_are_seqs() {
        assert_eq!(parse_continue("42").unwrap(), 42);
        assert_eq!(parse_continue("x").unwrap_err().code, 400);
    }
}
