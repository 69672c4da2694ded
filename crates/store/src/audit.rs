//! Reading the audit log: which records a read returns ([`AuditQuery`]) and one page of them
//! ([`AuditPage`]). Records are appended with [`crate::WriteOp::AppendAudit`]; the record
//! type and the chain check are `planspec_model::audit`'s.

pub use planspec_model::audit::{AuditEntry, AuditRecord, ChainHead};

/// Which audit records a read returns, in `seq` order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only records with a greater `seq` (`0`: from the first).
    pub after_seq: u64,
    /// At most this many (`0`: no limit).
    pub limit: usize,
    /// Only records of this actor (username).
    pub actor: Option<String>,
    /// Only records about this namespace.
    pub namespace: Option<String>,
    /// Only records about this resource (plural, `executions`).
    pub resource: Option<String>,
}

impl AuditQuery {
    /// Every record after `after_seq`, at most `limit` (`0`: all).
    pub fn after(after_seq: u64, limit: usize) -> AuditQuery {
        AuditQuery {
            after_seq,
            limit,
            ..AuditQuery::default()
        }
    }

    /// Whether the query filters (then its pages are not a contiguous piece of the chain).
    pub fn filters(&self) -> bool {
        self.actor.is_some() || self.namespace.is_some() || self.resource.is_some()
    }
}

/// One page of audit records, read in one snapshot with the chain's head.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditPage {
    /// The records, ascending by `seq`.
    pub records: Vec<AuditRecord>,
    /// The head the store recorded, in the same snapshot as `records`.
    pub head: ChainHead,
    /// Whether more selected records follow the last one (read on after its `seq`).
    pub more: bool,
}
