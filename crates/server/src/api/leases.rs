//! The keyed concurrency leases (Task `concurrency`), as people see them: per key, who holds
//! its slots (execution/node, runtime instance, since, expiry) and who waits, in the order
//! they will be served. Read from the store (the holders, of every runtime that shares it)
//! and the attached runtime (its waiters). RBAC: `list` on `leases`, in the namespace or
//! across all of them.

use super::Api;
use crate::status::Status;
use planspec_runtime::driver::leases::{view, LeaseView, WaiterView, LEASE_PREFIX};
use serde::Serialize;
use std::collections::BTreeMap;

/// The plural the leases are addressed by.
pub const RESOURCE: &str = "leases";

/// The kind of the list.
const LIST_KIND: &str = "LeaseList";

/// One key with its holders and waiters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyLeases {
    /// The namespace of the key.
    pub namespace: String,
    /// The key.
    pub key: String,
    /// Its slots held (or expired and not yet taken again), by slot.
    pub holders: Vec<HolderEntry>,
    /// The nodes waiting for it, in the order they will be served.
    pub waiters: Vec<WaiterEntry>,
}

/// A slot and who holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HolderEntry {
    /// The slot.
    pub slot: u32,
    /// `namespace/name` of the Execution (empty if the holder is not a runtime's).
    pub execution: String,
    /// The node.
    pub node: String,
    /// The runtime instance.
    pub instance: String,
    /// When the tenure began (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// When it expires unless renewed (RFC 3339).
    pub expires_at: String,
    /// `true` once expired: its holder stopped renewing (a dead runtime); the next waiter
    /// takes it.
    pub expired: bool,
    /// The fencing token of the tenure.
    pub token: u64,
}

/// A node waiting for a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WaiterEntry {
    /// `namespace/name` of the Execution.
    pub execution: String,
    /// The node.
    pub node: String,
    /// The Goal's priority.
    pub priority: u32,
    /// Since when it waits (RFC 3339).
    pub since: String,
}

/// `{apiVersion, kind: LeaseList, items: [KeyLeases]}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseList {
    /// `planspec.io/v1alpha1`.
    pub api_version: &'static str,
    /// `LeaseList`.
    pub kind: &'static str,
    /// One item per key, by namespace and key.
    pub items: Vec<KeyLeases>,
}

impl Api {
    /// The leases of `namespace` (`None`: every namespace).
    pub async fn leases(&self, namespace: Option<&str>) -> Result<LeaseList, Status> {
        let prefix = match namespace {
            Some(ns) => format!("{LEASE_PREFIX}{ns}/"),
            None => LEASE_PREFIX.to_owned(),
        };
        let stored = self
            .store()
            .list_leases(&prefix)
            .await
            .map_err(Status::internal_error)?;
        let now = u64::try_from(self.now().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        let mut keys: BTreeMap<(String, String), KeyLeases> = BTreeMap::new();
        let entry = |keys: &mut BTreeMap<(String, String), KeyLeases>, ns: &str, key: &str| {
            keys.entry((ns.to_owned(), key.to_owned()))
                .or_insert_with(|| KeyLeases {
                    namespace: ns.to_owned(),
                    key: key.to_owned(),
                    holders: Vec::new(),
                    waiters: Vec::new(),
                })
                .holders
                .len()
        };
        for lease in &stored {
            let Some(LeaseView {
                namespace,
                key,
                slot,
                holder,
                holder_raw,
                token,
                expires_at,
                held,
            }) = view(lease, now)
            else {
                continue;
            };
            entry(&mut keys, &namespace, &key);
            let (execution, node, instance, since) = match holder {
                Some(h) => (h.execution, h.node, h.instance, Some(rfc3339(h.since))),
                None => (String::new(), String::new(), holder_raw, None),
            };
            if let Some(item) = keys.get_mut(&(namespace, key)) {
                item.holders.push(HolderEntry {
                    slot,
                    execution,
                    node,
                    instance,
                    since,
                    expires_at: rfc3339(u64::try_from(expires_at).unwrap_or(0)),
                    expired: !held,
                    token,
                });
            }
        }
        let waiters: Vec<WaiterView> = self
            .runtime_handle()
            .map(|r| r.lease_waiters())
            .unwrap_or_default();
        for w in waiters {
            if namespace.is_some_and(|ns| ns != w.namespace) {
                continue;
            }
            entry(&mut keys, &w.namespace, &w.key);
            if let Some(item) = keys.get_mut(&(w.namespace.clone(), w.key.clone())) {
                item.waiters.push(WaiterEntry {
                    execution: w.execution,
                    node: w.node,
                    priority: w.priority,
                    since: rfc3339(w.since),
                });
            }
        }
        Ok(LeaseList {
            api_version: planspec_model::API_VERSION,
            kind: LIST_KIND,
            items: keys.into_values().collect(),
        })
    }
}

/// Milliseconds since the epoch as RFC 3339 (UTC, milliseconds).
fn rfc3339(ms: u64) -> String {
    planspec_engine::timestamp(ms).to_string()
}
