//! The per-Execution data kept beside the Execution object: its append-only journal and the
//! current record of each of its nodes. Both are keyed by the Execution's uid, written with
//! [`WriteOp`](crate::WriteOp)s (atomically with the object), and deleted with it.

use serde_json::Value;

/// The kind whose objects own journals and node records.
pub const EXECUTION_KIND: &str = "Execution";

/// One entry of an Execution's journal.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry {
    /// Its position: the journal's entries are numbered 0, 1, 2 … without gaps.
    pub seq: u64,
    /// The entry as appended; the store does not interpret it.
    pub entry: Value,
}

/// The current record of one node of an Execution.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRecord {
    /// The node's id, unique within the Execution.
    pub node_id: String,
    /// Its phase (`Pending`, `Running`, …), which [`NodeRecordQuery::phase`] selects on.
    pub phase: String,
    /// The record; the store does not interpret it.
    pub record: Value,
}

/// Which node records [`Store::list_node_records`](crate::Store::list_node_records) returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeRecordQuery {
    /// The Execution's uid.
    pub execution_uid: String,
    /// Only the nodes in this phase (`None`: every node).
    pub phase: Option<String>,
    /// Only the instances of this matrix node: records whose id starts with `<node>-` and
    /// whose `matrix` field names it (`None`: every node).
    pub matrix: Option<String>,
    /// Page size: at most this many records; `None` or `Some(0)` returns all.
    pub limit: Option<usize>,
    /// Resume after this node id (a previous page's [`NodeRecordPage::continue_after`]).
    pub continue_after: Option<String>,
}

impl NodeRecordQuery {
    /// Every node record of the Execution with uid `execution_uid`.
    pub fn all(execution_uid: impl Into<String>) -> Self {
        NodeRecordQuery {
            execution_uid: execution_uid.into(),
            ..Default::default()
        }
    }
}

/// One page of node records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeRecordPage {
    /// The records, in node-id order.
    pub records: Vec<NodeRecord>,
    /// Set when more records follow: the node id to resume after.
    pub continue_after: Option<String>,
}
