//! The conformance suite: what every [`Store`] implementation must do, written once against
//! the trait. Each case is a `pub async fn(Arc<dyn Store>)` that panics on a violation and
//! expects a fresh, empty store on a multi-threaded tokio runtime.
//!
//! An implementation's tests instantiate every case with
//! [`conformance_tests!`](crate::conformance_tests), given an async factory returning
//! `(Arc<dyn Store>, guard)`, where `guard` is kept alive until the case ends (a temp dir, a
//! database server …):
//!
//! ```text
//! async fn fresh() -> (Arc<dyn Store>, tempfile::TempDir) {
//!     let dir = tempfile::tempdir().unwrap();
//!     let store = SqliteStore::open(dir.path().join("store.db"), SqliteOptions::default());
//!     (Arc::new(store.await.unwrap()), dir)
//! }
//! planspec_store::conformance_tests!(fresh);
//! ```

use crate::{
    ChangeType, FieldSelector, ListQuery, NodeRecord, NodeRecordQuery, ObjectKey, Selector, Store,
    StoreError, StoredObject, WriteOp, EXECUTION_KIND,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Generates one `#[tokio::test]` per conformance case, each on a fresh store from
/// `$make`, an async function (or closure) returning `(Arc<dyn Store>, guard)`.
/// The calling crate needs `tokio` with the `macros` and `rt-multi-thread` features.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@cases $make;
            create_get_update_delete,
            create_existing_fails,
            missing_objects_not_found,
            stale_revision_conflicts,
            revisions_increase_across_kinds,
            resource_version_written_fields_kept,
            invalid_objects_rejected,
            transactions_all_or_nothing,
            transaction_ops_see_earlier_ops,
            list_order_paging_namespaces,
            list_is_one_snapshot,
            list_selectors,
            changes_in_order_with_deletes,
            changes_paging,
            compaction,
            subscribe_signals_commits,
            slow_watcher_loses_nothing,
            concurrent_counter_increments,
            concurrent_transactions_isolated,
            check_guards_transactions,
            label_index_follows_writes,
            selector_list_is_one_snapshot,
            owner_index_follows_writes,
            journal_append_and_read,
            journal_commits_with_its_transaction,
            journal_appenders_never_interleave,
            node_records_upsert_and_page,
            execution_data_goes_with_the_execution,
            lease_lifecycle,
            lease_contenders_one_winner,
            audit_chain_appends_and_reads,
            audit_commits_with_its_transaction,
            audit_concurrent_appends_form_one_chain,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, guard) = ($make)().await;
                $crate::conformance::$case(store).await;
                drop(guard);
            }
        )*
    };
}

mod audit;
mod changes;
mod execution;
mod leases;
mod lists;
mod objects;
mod owners;

pub use audit::*;
pub use changes::*;
pub use execution::*;
pub use leases::*;
pub use lists::*;
pub use objects::*;
pub use owners::*;

const PLAN: &str = "Plan";

const GOAL: &str = "Goal";

const NAMESPACE: &str = "Namespace";

fn key(kind: &str, namespace: &str, name: &str) -> ObjectKey {
    ObjectKey::new(kind, namespace, name)
}

/// A document for `key` with the given labels and spec.
fn doc(key: &ObjectKey, labels: &[(&str, &str)], spec: Value) -> Value {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
        .collect();
    let mut metadata = json!({ "name": key.name, "labels": labels });
    if !key.namespace.is_empty() {
        metadata["namespace"] = json!(key.namespace);
    }
    json!({ "apiVersion": "planspec.io/v1alpha1", "kind": key.kind, "metadata": metadata, "spec": spec })
}

fn uid_of(key: &ObjectKey) -> String {
    format!("uid-{}-{}-{}", key.kind, key.namespace, key.name)
}

async fn create(store: &dyn Store, key: &ObjectKey, spec: Value) -> StoredObject {
    store
        .create(key.clone(), uid_of(key), doc(key, &[], spec))
        .await
        .unwrap_or_else(|e| panic!("creating {key}: {e}"))
}

async fn current(store: &dyn Store) -> i64 {
    store.current_revision().await.expect("current_revision")
}

fn rv(object: &Value) -> &str {
    object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_else(|| panic!("no resourceVersion in {object}"))
}

/// The document as given, with `metadata.resourceVersion` = `revision`.
fn stamped(mut object: Value, revision: i64) -> Value {
    object["metadata"]["resourceVersion"] = json!(revision.to_string());
    object
}

/// Every object of `kind`, in every namespace, from one unpaged list.
async fn list_all(store: &dyn Store, kind: &str) -> Vec<StoredObject> {
    store.list(&ListQuery::all(kind)).await.expect("list").items
}

/// Applies the change log up to `revision` to rebuild the state at that revision.
fn replay(changes: &[crate::Change], revision: i64) -> BTreeMap<ObjectKey, StoredObject> {
    let mut state = BTreeMap::new();
    for c in changes.iter().take_while(|c| c.revision <= revision) {
        match c.change_type {
            ChangeType::Deleted => state.remove(&c.object.key),
            _ => state.insert(c.object.key.clone(), c.object.clone()),
        };
    }
    state
}
