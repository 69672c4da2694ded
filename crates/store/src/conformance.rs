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
    ChangeType, FieldSelector, ListQuery, ObjectKey, Selector, Store, StoreError, StoredObject,
    WriteOp,
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

/// Create, get, update, delete and re-create one object; every field of every answer.
pub async fn create_get_update_delete(store: Arc<dyn Store>) {
    let store = &*store;
    let k = key(PLAN, "default", "build");
    assert_eq!(
        store.get(&k).await.unwrap(),
        None,
        "an empty store has no objects"
    );
    let base = current(store).await;

    let given = doc(&k, &[("app", "web")], json!({ "steps": 1 }));
    let changes = store
        .transact(vec![WriteOp::Create {
            key: k.clone(),
            uid: "u-1".into(),
            object: given.clone(),
        }])
        .await
        .unwrap();
    assert_eq!(changes.len(), 1);
    let added = &changes[0];
    let r1 = base + 1;
    assert_eq!(added.revision, r1);
    assert_eq!(added.change_type, ChangeType::Added);
    assert_eq!(added.object.key, k);
    assert_eq!(added.object.uid, "u-1");
    assert_eq!(added.object.revision, r1);
    assert_eq!(added.object.created_revision, r1);
    assert_eq!(added.object.object, stamped(given.clone(), r1));
    assert_eq!(
        store.get(&k).await.unwrap().as_ref(),
        Some(&added.object),
        "get returns what create wrote"
    );
    assert_eq!(current(store).await, r1);

    let changed = doc(&k, &[("app", "web")], json!({ "steps": 2 }));
    let updated = store
        .update(k.clone(), Some(r1), changed.clone())
        .await
        .unwrap();
    let r2 = r1 + 1;
    assert_eq!(updated.revision, r2);
    assert_eq!(updated.uid, "u-1", "an update keeps the uid");
    assert_eq!(
        updated.created_revision, r1,
        "an update keeps created_revision"
    );
    assert_eq!(updated.object, stamped(changed.clone(), r2));
    assert_eq!(store.get(&k).await.unwrap(), Some(updated.clone()));

    let deleted = store.delete(k.clone(), Some(r2)).await.unwrap();
    let r3 = r2 + 1;
    assert_eq!(
        deleted.revision, r3,
        "a delete's change carries the deletion's revision"
    );
    assert_eq!(deleted.uid, "u-1");
    assert_eq!(deleted.created_revision, r1);
    assert_eq!(
        deleted.object,
        stamped(changed, r3),
        "a delete returns the last state"
    );
    assert_eq!(store.get(&k).await.unwrap(), None);
    assert_eq!(current(store).await, r3);

    let again = store
        .create(k.clone(), "u-2".into(), given.clone())
        .await
        .unwrap();
    assert_eq!(
        (again.revision, again.created_revision, again.uid.as_str()),
        (r3 + 1, r3 + 1, "u-2")
    );
}

/// Creating an existing key fails with `AlreadyExists` and changes nothing.
pub async fn create_existing_fails(store: Arc<dyn Store>) {
    let store = &*store;
    let k = key(PLAN, "default", "dup");
    let first = create(store, &k, json!({ "n": 1 })).await;
    let before = current(store).await;
    let err = store
        .create(k.clone(), "other".into(), doc(&k, &[], json!({ "n": 2 })))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::AlreadyExists(e) if *e == k),
        "got {err:?}"
    );
    assert_eq!(
        current(store).await,
        before,
        "a failed create uses no revision"
    );
    assert_eq!(
        store.get(&k).await.unwrap(),
        Some(first),
        "a failed create changes nothing"
    );
    assert!(store
        .changes_since(before, 0)
        .await
        .unwrap()
        .changes
        .is_empty());
    // The same name in another namespace or kind is another object.
    create(store, &key(PLAN, "other", "dup"), json!({})).await;
    create(store, &key(GOAL, "default", "dup"), json!({})).await;
}

/// Updating or deleting a missing object fails with `NotFound`, with or without a
/// precondition.
pub async fn missing_objects_not_found(store: Arc<dyn Store>) {
    let store = &*store;
    create(store, &key(PLAN, "default", "present"), json!({})).await;
    let before = current(store).await;
    let k = key(PLAN, "default", "absent");
    for expected in [None, Some(1), Some(before)] {
        let err = store
            .update(k.clone(), expected, doc(&k, &[], json!({})))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::NotFound(e) if *e == k),
            "update {expected:?}: {err:?}"
        );
        let err = store.delete(k.clone(), expected).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::NotFound(e) if *e == k),
            "delete {expected:?}: {err:?}"
        );
    }
    assert_eq!(store.get(&k).await.unwrap(), None);
    assert_eq!(current(store).await, before);
}

/// A write that expects a stale revision fails with `Conflict` naming both revisions; an
/// unconditional write succeeds.
pub async fn stale_revision_conflicts(store: Arc<dyn Store>) {
    let store = &*store;
    let k = key(PLAN, "default", "contested");
    let r1 = create(store, &k, json!({ "v": 1 })).await.revision;
    let r2 = store
        .update(k.clone(), Some(r1), doc(&k, &[], json!({ "v": 2 })))
        .await
        .unwrap()
        .revision;

    let err = store
        .update(k.clone(), Some(r1), doc(&k, &[], json!({ "v": 3 })))
        .await
        .unwrap_err();
    match err {
        StoreError::Conflict {
            key: ck,
            expected,
            actual,
        } => {
            assert_eq!((ck, expected, actual), (k.clone(), r1, r2));
        }
        other => panic!("a stale update must conflict, got {other:?}"),
    }
    let err = store.delete(k.clone(), Some(r1)).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { expected, actual, .. } if expected == r1 && actual == r2),
        "{err:?}"
    );
    let err = store
        .update(k.clone(), Some(r2 + 100), doc(&k, &[], json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { .. }),
        "a future revision conflicts too: {err:?}"
    );
    let stored = store.get(&k).await.unwrap().unwrap();
    assert_eq!(
        (stored.revision, &stored.object["spec"]),
        (r2, &json!({ "v": 2 })),
        "conflicts change nothing"
    );
    assert_eq!(current(store).await, r2);

    let r3 = store
        .update(k.clone(), None, doc(&k, &[], json!({ "v": 4 })))
        .await
        .unwrap()
        .revision;
    assert_eq!(r3, r2 + 1, "an unconditional update succeeds");
    store.delete(k.clone(), None).await.unwrap();
    assert_eq!(
        store.get(&k).await.unwrap(),
        None,
        "an unconditional delete succeeds"
    );
}

/// One revision sequence orders writes of every kind and namespace, without gaps.
pub async fn revisions_increase_across_kinds(store: Arc<dyn Store>) {
    let store = &*store;
    let start = current(store).await;
    let mut last = start;
    let keys = [
        key(NAMESPACE, "", "team-a"),
        key(PLAN, "team-a", "p"),
        key(GOAL, "team-a", "g"),
        key(PLAN, "team-b", "p"),
        key(GOAL, "", "cluster-goal"),
    ];
    for k in &keys {
        let o = create(store, k, json!({})).await;
        assert_eq!(
            o.revision,
            last + 1,
            "{k} got revision {} after {last}",
            o.revision
        );
        last = o.revision;
    }
    for k in keys.iter().rev() {
        let o = store
            .update(k.clone(), None, doc(k, &[], json!({ "x": 1 })))
            .await
            .unwrap();
        assert_eq!(o.revision, last + 1);
        last = o.revision;
    }
    let o = store.delete(keys[2].clone(), None).await.unwrap();
    assert_eq!(o.revision, last + 1);
    last = o.revision;
    assert_eq!(current(store).await, last);
    let page = store.changes_since(start, 0).await.unwrap();
    let revisions: Vec<i64> = page.changes.iter().map(|c| c.revision).collect();
    assert_eq!(revisions, ((start + 1)..=last).collect::<Vec<_>>());
    assert_eq!(page.revision, last);
}

/// The store writes `metadata.resourceVersion` and keeps every other field, order included.
pub async fn resource_version_written_fields_kept(store: Arc<dyn Store>) {
    let store = &*store;
    let k = key(PLAN, "default", "fields");
    let given = json!({
        "apiVersion": "planspec.io/v1alpha1",
        "kind": "Plan",
        "metadata": {
            "name": "fields", "namespace": "default", "uid": "given-uid",
            "resourceVersion": "999999", "generation": 3,
            "annotations": { "z": "last", "a": "first" },
            "labels": { "tier": "1" }
        },
        "spec": { "zeta": [1, 2.5, "three", null, { "nested": true }], "alpha": {} },
        "status": { "phase": "Pending" }
    });
    let created = store
        .create(k.clone(), "store-uid".into(), given.clone())
        .await
        .unwrap();
    assert_eq!(
        rv(&created.object),
        created.revision.to_string(),
        "a stale resourceVersion is overwritten"
    );
    assert_eq!(created.object, stamped(given.clone(), created.revision));
    assert_eq!(created.uid, "store-uid");
    assert_eq!(
        created.object["metadata"]["uid"], "given-uid",
        "metadata.uid is kept as given"
    );
    let got = store.get(&k).await.unwrap().unwrap();
    assert_eq!(got.object, created.object);
    let keys: Vec<&String> = got.object["metadata"]["annotations"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(keys, ["z", "a"], "field order is kept");

    // No metadata at all: the store adds it.
    let bare = key(PLAN, "default", "bare");
    let o = store
        .create(
            bare.clone(),
            "u".into(),
            json!({ "kind": "Plan", "spec": {} }),
        )
        .await
        .unwrap();
    assert_eq!(
        o.object,
        json!({ "kind": "Plan", "spec": {}, "metadata": { "resourceVersion": o.revision.to_string() } })
    );
    let listed = list_all(store, PLAN).await;
    for item in &listed {
        assert_eq!(
            rv(&item.object),
            item.revision.to_string(),
            "list items carry their resourceVersion"
        );
    }
}

/// An object that is not a JSON object is refused, and its whole transaction with it.
pub async fn invalid_objects_rejected(store: Arc<dyn Store>) {
    let store = &*store;
    let before = current(store).await;
    let k = key(PLAN, "default", "bad");
    for object in [
        json!("a string"),
        json!([1]),
        json!({ "metadata": "not an object" }),
    ] {
        let err = store
            .transact(vec![
                WriteOp::Create {
                    key: key(PLAN, "default", "fine"),
                    uid: "u".into(),
                    object: json!({}),
                },
                WriteOp::Create {
                    key: k.clone(),
                    uid: "u".into(),
                    object: object.clone(),
                },
            ])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Backend(_)), "{object}: {err:?}");
    }
    assert_eq!(current(store).await, before);
    assert!(list_all(store, PLAN).await.is_empty());
}

/// A transaction that fails at any op writes nothing; one that succeeds writes every op
/// with consecutive revisions.
pub async fn transactions_all_or_nothing(store: Arc<dyn Store>) {
    let store = &*store;
    let existing = key(PLAN, "default", "existing");
    let existing_obj = create(store, &existing, json!({ "v": 1 })).await;
    let before = current(store).await;
    let a = key(PLAN, "default", "a");
    let b = key(GOAL, "default", "b");
    let create_op = |k: &ObjectKey| WriteOp::Create {
        key: k.clone(),
        uid: uid_of(k),
        object: doc(k, &[], json!({})),
    };

    let failing: Vec<(Vec<WriteOp>, &str)> = vec![
        (
            vec![create_op(&a), create_op(&b), create_op(&existing)],
            "AlreadyExists",
        ),
        (
            vec![
                create_op(&a),
                WriteOp::Update {
                    key: existing.clone(),
                    expected_revision: None,
                    object: doc(&existing, &[], json!({ "v": 9 })),
                },
                WriteOp::Delete {
                    key: key(PLAN, "default", "nope"),
                    expected_revision: None,
                },
            ],
            "NotFound",
        ),
        (
            vec![
                WriteOp::Delete {
                    key: existing.clone(),
                    expected_revision: Some(existing_obj.revision),
                },
                create_op(&b),
                WriteOp::Update {
                    key: a.clone(),
                    expected_revision: Some(1),
                    object: doc(&a, &[], json!({})),
                },
            ],
            "NotFound",
        ),
        (
            vec![
                create_op(&a),
                WriteOp::Update {
                    key: existing.clone(),
                    expected_revision: Some(existing_obj.revision + 7),
                    object: json!({}),
                },
            ],
            "Conflict",
        ),
    ];
    for (ops, want) in failing {
        let err = store.transact(ops).await.unwrap_err();
        let got = match err {
            StoreError::AlreadyExists(_) => "AlreadyExists",
            StoreError::NotFound(_) => "NotFound",
            StoreError::Conflict { .. } => "Conflict",
            _ => "other",
        };
        assert_eq!(got, want, "{err:?}");
        assert_eq!(
            current(store).await,
            before,
            "a failed transaction uses no revision"
        );
        assert_eq!(
            store.get(&a).await.unwrap(),
            None,
            "a failed transaction leaves no object"
        );
        assert_eq!(store.get(&b).await.unwrap(), None);
        assert_eq!(
            store.get(&existing).await.unwrap().as_ref(),
            Some(&existing_obj),
            "… and changes none"
        );
        assert!(
            store
                .changes_since(before, 0)
                .await
                .unwrap()
                .changes
                .is_empty(),
            "… and logs no change"
        );
    }

    let changes = store
        .transact(vec![
            create_op(&a),
            create_op(&b),
            WriteOp::Update {
                key: existing.clone(),
                expected_revision: Some(existing_obj.revision),
                object: doc(&existing, &[], json!({ "v": 2 })),
            },
            WriteOp::Delete {
                key: b.clone(),
                expected_revision: Some(before + 2),
            },
        ])
        .await
        .unwrap();
    let got: Vec<(i64, ChangeType)> = changes
        .iter()
        .map(|c| (c.revision, c.change_type))
        .collect();
    assert_eq!(
        got,
        [
            (before + 1, ChangeType::Added),
            (before + 2, ChangeType::Added),
            (before + 3, ChangeType::Modified),
            (before + 4, ChangeType::Deleted)
        ]
    );
    assert_eq!(current(store).await, before + 4);
    assert_eq!(store.get(&a).await.unwrap().unwrap().revision, before + 1);
    assert_eq!(store.get(&b).await.unwrap(), None);
    assert_eq!(
        store.get(&existing).await.unwrap().unwrap().revision,
        before + 3
    );
    let logged = store.changes_since(before, 0).await.unwrap();
    assert_eq!(
        logged.changes, changes,
        "the log holds exactly the transaction's changes"
    );
}

/// Ops in one transaction see the effects of the ops before them.
pub async fn transaction_ops_see_earlier_ops(store: Arc<dyn Store>) {
    let store = &*store;
    let k = key(PLAN, "default", "seq");
    let before = current(store).await;
    let changes = store
        .transact(vec![
            WriteOp::Create {
                key: k.clone(),
                uid: "u".into(),
                object: doc(&k, &[], json!({ "v": 1 })),
            },
            WriteOp::Update {
                key: k.clone(),
                expected_revision: Some(before + 1),
                object: doc(&k, &[], json!({ "v": 2 })),
            },
            WriteOp::Delete {
                key: k.clone(),
                expected_revision: Some(before + 2),
            },
            WriteOp::Create {
                key: k.clone(),
                uid: "u2".into(),
                object: doc(&k, &[], json!({ "v": 3 })),
            },
        ])
        .await
        .unwrap();
    assert_eq!(changes.len(), 4);
    let o = store.get(&k).await.unwrap().unwrap();
    assert_eq!(
        (o.revision, o.created_revision, o.uid.as_str()),
        (before + 4, before + 4, "u2")
    );
    assert_eq!(o.object["spec"]["v"], 3);
    assert_eq!(
        changes[2].object.object["spec"]["v"], 2,
        "the delete saw the update"
    );

    // An op that conflicts with an earlier op of the same transaction fails the whole.
    let err = store
        .transact(vec![
            WriteOp::Update {
                key: k.clone(),
                expected_revision: Some(before + 4),
                object: doc(&k, &[], json!({})),
            },
            WriteOp::Update {
                key: k.clone(),
                expected_revision: Some(before + 4),
                object: doc(&k, &[], json!({})),
            },
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { expected, actual, .. } if expected == before + 4 && actual == before + 5)
    );
    assert_eq!(store.get(&k).await.unwrap().unwrap(), o);
    assert_eq!(
        store.transact(Vec::new()).await.unwrap(),
        Vec::new(),
        "an empty transaction is a no-op"
    );
    assert_eq!(current(store).await, before + 4);
}

/// Lists are in key order, filter by kind and namespace, and page with `limit` and
/// `continue_after` without gap or repeat.
pub async fn list_order_paging_namespaces(store: Arc<dyn Store>) {
    let store = &*store;
    let mut expected = Vec::new();
    for ns in ["beta", "alpha", "gamma"] {
        for name in ["m", "b", "z", "a-1", "a"] {
            let k = key(PLAN, ns, name);
            create(store, &k, json!({})).await;
            expected.push((ns.to_owned(), name.to_owned()));
            create(store, &key(GOAL, ns, name), json!({})).await;
        }
    }
    for name in ["zz", "aa"] {
        create(store, &key(NAMESPACE, "", name), json!({})).await;
    }
    expected.sort();
    let names = |items: &[StoredObject]| -> Vec<(String, String)> {
        items
            .iter()
            .map(|o| (o.key.namespace.clone(), o.key.name.clone()))
            .collect()
    };

    let all = store.list(&ListQuery::all(PLAN)).await.unwrap();
    assert_eq!(
        names(&all.items),
        expected,
        "cross-namespace list in (namespace, name) order"
    );
    assert!(
        all.items.iter().all(|o| o.key.kind == PLAN),
        "only the asked kind"
    );
    assert_eq!(all.continue_after, None);
    assert_eq!(all.revision, current(store).await);

    let beta = store
        .list(&ListQuery::in_namespace(PLAN, "beta"))
        .await
        .unwrap();
    let want: Vec<_> = expected
        .iter()
        .filter(|(ns, _)| ns == "beta")
        .cloned()
        .collect();
    assert_eq!(names(&beta.items), want);
    assert!(store
        .list(&ListQuery::in_namespace(PLAN, "nowhere"))
        .await
        .unwrap()
        .items
        .is_empty());

    let cluster = store
        .list(&ListQuery::in_namespace(NAMESPACE, ""))
        .await
        .unwrap();
    assert_eq!(
        names(&cluster.items),
        [
            (String::new(), "aa".to_owned()),
            (String::new(), "zz".to_owned())
        ]
    );

    for (limit, namespace) in [
        (1, None),
        (2, None),
        (4, None),
        (7, Some("gamma")),
        (5, Some("gamma")),
        (15, None),
    ] {
        let mut q = ListQuery {
            kind: PLAN.into(),
            namespace: namespace.map(str::to_owned),
            limit: Some(limit),
            ..Default::default()
        };
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let page = store.list(&q).await.unwrap();
            pages += 1;
            assert!(page.items.len() <= limit);
            seen.extend(names(&page.items));
            match page.continue_after {
                Some(after) => {
                    assert_eq!(page.items.len(), limit, "a page with more to come is full");
                    assert_eq!(
                        Some(&after),
                        seen.last(),
                        "continue_after is the last key returned"
                    );
                    q.continue_after = Some(after);
                }
                None => break,
            }
            assert!(pages < 100, "paging does not end");
        }
        let want: Vec<_> = expected
            .iter()
            .filter(|(ns, _)| namespace.is_none_or(|n| n == ns))
            .cloned()
            .collect();
        assert_eq!(seen, want, "pages of {limit} in {namespace:?}");
        assert_eq!(
            pages,
            want.len().div_ceil(limit).max(1),
            "no empty trailing page when the count divides"
        );
    }
    let zero = store
        .list(&ListQuery {
            limit: Some(0),
            ..ListQuery::all(PLAN)
        })
        .await
        .unwrap();
    assert_eq!(zero.items.len(), expected.len(), "limit 0 means no limit");
    let after_last = ListQuery {
        continue_after: Some(("gamma".into(), "z".into())),
        ..ListQuery::all(PLAN)
    };
    assert!(store.list(&after_last).await.unwrap().items.is_empty());
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

/// Every list page is exactly the state at its revision, while writers keep writing.
pub async fn list_is_one_snapshot(store: Arc<dyn Store>) {
    let keys: Vec<ObjectKey> = (0..12)
        .map(|i| {
            key(
                PLAN,
                if i % 2 == 0 { "even" } else { "odd" },
                &format!("o{i:02}"),
            )
        })
        .collect();
    for k in &keys {
        create(&*store, k, json!({ "n": 0 })).await;
    }
    let writer = {
        let store = store.clone();
        let keys = keys.clone();
        tokio::spawn(async move {
            for round in 1..=25 {
                for (i, k) in keys.iter().enumerate() {
                    let op = if (round + i) % 7 == 0 {
                        WriteOp::Delete {
                            key: k.clone(),
                            expected_revision: None,
                        }
                    } else if store.get(k).await.unwrap().is_none() {
                        WriteOp::Create {
                            key: k.clone(),
                            uid: uid_of(k),
                            object: doc(k, &[], json!({ "n": round })),
                        }
                    } else {
                        WriteOp::Update {
                            key: k.clone(),
                            expected_revision: None,
                            object: doc(k, &[], json!({ "n": round })),
                        }
                    };
                    // Two writes per transaction, so a torn read would show.
                    let other = &keys[(i + 5) % keys.len()];
                    let touch = WriteOp::Update {
                        key: other.clone(),
                        expected_revision: None,
                        object: doc(other, &[], json!({ "n": round })),
                    };
                    let _ = store.transact(vec![op, touch]).await;
                }
            }
        })
    };
    let odd = Some("odd".to_owned());
    let mut pages = Vec::new();
    while !writer.is_finished() {
        pages.push((None, store.list(&ListQuery::all(PLAN)).await.unwrap()));
        pages.push((
            odd.clone(),
            store
                .list(&ListQuery::in_namespace(PLAN, "odd"))
                .await
                .unwrap(),
        ));
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();
    pages.push((None, store.list(&ListQuery::all(PLAN)).await.unwrap()));
    let log = store.changes_since(0, 0).await.unwrap().changes;
    assert!(pages.len() > 2, "the test listed while writing");
    for (namespace, page) in &pages {
        let want: Vec<StoredObject> = replay(&log, page.revision)
            .into_values()
            .filter(|o| namespace.as_ref().is_none_or(|ns| *ns == o.key.namespace))
            .collect();
        assert_eq!(
            page.items, want,
            "the list at revision {} is not the state at that revision",
            page.revision
        );
    }
}

/// Label and field selectors (Kubernetes semantics, `planspec_model::selector`) select
/// exactly what [`ListQuery::matches`] selects, and pages are filled with selected items.
pub async fn list_selectors(store: Arc<dyn Store>) {
    let store = &*store;
    // (namespace, name, labels, status)
    type Fixture = (
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
        Value,
    );
    let fixtures: &[Fixture] = &[
        (
            "a",
            "web",
            &[("app", "web"), ("tier", "front"), ("replicas", "3")],
            json!({ "phase": "Running" }),
        ),
        (
            "a",
            "api",
            &[("app", "api"), ("tier", "back"), ("replicas", "10")],
            json!({ "phase": "Pending" }),
        ),
        (
            "a",
            "db",
            &[
                ("app", "db"),
                ("tier", "back"),
                ("app.kubernetes.io/name", "pg"),
                ("replicas", "-2"),
            ],
            json!({ "phase": null }),
        ),
        ("b", "web", &[("app", "web"), ("replicas", "+4")], json!({})),
        (
            "b",
            "cron",
            &[("tier", ""), ("replicas", "007")],
            json!({ "phase": 7 }),
        ),
        (
            "b",
            "bare",
            &[("replicas", "5x")],
            json!({ "phase": "Running" }),
        ),
        (
            "c",
            "web2",
            &[
                ("app", "web"),
                ("tier", "front"),
                ("replicas", "99999999999999999999"),
            ],
            json!({ "phase": "Running" }),
        ),
    ];
    for (ns, name, labels, status) in fixtures {
        let k = key(PLAN, ns, name);
        let mut object = doc(&k, labels, json!({}));
        if !status.as_object().is_some_and(|m| m.is_empty()) {
            object["status"] = status.clone();
        }
        store.create(k.clone(), uid_of(&k), object).await.unwrap();
    }
    // Labels that are not strings count as absent.
    let odd = key(PLAN, "c", "odd");
    let odd_doc = json!({ "metadata": { "labels": { "app": 5, "replicas": 6 } }, "status": { "phase": ["Running"] } });
    store
        .create(odd.clone(), "u".into(), odd_doc)
        .await
        .unwrap();
    create(store, &key(GOAL, "a", "web"), json!({})).await;

    let cases: &[(&str, &str, &[&str])] = &[
        ("app=web", "", &["a/web", "b/web", "c/web2"]),
        ("app==web", "", &["a/web", "b/web", "c/web2"]),
        (
            "app in (web,api)",
            "",
            &["a/api", "a/web", "b/web", "c/web2"],
        ),
        (
            "app!=web",
            "",
            &["a/api", "a/db", "b/bare", "b/cron", "c/odd"],
        ),
        (
            "app notin (web)",
            "",
            &["a/api", "a/db", "b/bare", "b/cron", "c/odd"],
        ),
        ("tier", "", &["a/api", "a/db", "a/web", "b/cron", "c/web2"]),
        ("!app", "", &["b/bare", "b/cron", "c/odd"]),
        ("tier=", "", &["b/cron"]),
        ("app.kubernetes.io/name=pg", "", &["a/db"]),
        ("app=web,tier=front", "", &["a/web", "c/web2"]),
        ("app=5", "", &[]),
        ("replicas>3", "", &["a/api", "b/cron", "b/web"]),
        ("replicas<0", "", &["a/db"]),
        ("replicas>1,app", "", &["a/api", "a/web", "b/web"]),
        ("", "status.phase=Running", &["a/web", "b/bare", "c/web2"]),
        ("", "status.phase==Running", &["a/web", "b/bare", "c/web2"]),
        (
            "",
            "status.phase!=Running",
            &["a/api", "a/db", "b/cron", "b/web", "c/odd"],
        ),
        ("", "status.phase=", &["a/db", "b/cron", "b/web", "c/odd"]),
        ("", "status.phase=7", &[]),
        ("", "metadata.name=web", &["a/web", "b/web"]),
        (
            "",
            "metadata.namespace!=a",
            &["b/bare", "b/cron", "b/web", "c/odd", "c/web2"],
        ),
        (
            "",
            "spec.none.deeper=",
            &[
                "a/api", "a/db", "a/web", "b/bare", "b/cron", "b/web", "c/odd", "c/web2",
            ],
        ),
        (
            "app=web",
            "status.phase=Running,metadata.namespace!=c",
            &["a/web"],
        ),
    ];
    let everything = list_all(store, PLAN).await;
    let label = |o: &StoredObject| format!("{}/{}", o.key.namespace, o.key.name);
    for (labels, fields, want) in cases {
        let q = ListQuery {
            label_selector: Selector::parse(labels).unwrap(),
            field_selector: FieldSelector::parse(fields).unwrap(),
            ..ListQuery::all(PLAN)
        };
        let got: Vec<String> = store
            .list(&q)
            .await
            .unwrap()
            .items
            .iter()
            .map(label)
            .collect();
        assert_eq!(got, *want, "labels {labels:?} fields {fields:?}");
        let in_memory: Vec<String> = everything
            .iter()
            .filter(|o| q.matches(o))
            .map(label)
            .collect();
        assert_eq!(
            in_memory, *want,
            "ListQuery::matches agrees for {labels:?} {fields:?}"
        );

        for limit in [1, 2] {
            let mut paged = Vec::new();
            let mut q = ListQuery {
                limit: Some(limit),
                ..q.clone()
            };
            loop {
                let page = store.list(&q).await.unwrap();
                paged.extend(page.items.iter().map(label));
                match page.continue_after {
                    Some(after) => {
                        assert_eq!(page.items.len(), limit, "a page with more to come is full");
                        q.continue_after = Some(after);
                    }
                    None => break,
                }
            }
            assert_eq!(paged, *want, "{labels:?} {fields:?} in pages of {limit}");
        }
    }
    let q = ListQuery {
        namespace: Some("a".into()),
        label_selector: Selector::parse("tier in (back)").unwrap(),
        ..ListQuery::all(PLAN)
    };
    let names: Vec<String> = store
        .list(&q)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|o| o.key.name)
        .collect();
    assert_eq!(names, ["api", "db"], "selectors combine with a namespace");
}

/// `changes_since` returns every change after a revision, in order, deletes included.
pub async fn changes_in_order_with_deletes(store: Arc<dyn Store>) {
    let store = &*store;
    let start = current(store).await;
    let a = key(PLAN, "ns", "a");
    let b = key(GOAL, "ns", "b");
    create(store, &a, json!({ "v": 1 })).await;
    create(store, &b, json!({ "v": 1 })).await;
    store
        .update(a.clone(), None, doc(&a, &[], json!({ "v": 2 })))
        .await
        .unwrap();
    let deleted = store.delete(b.clone(), None).await.unwrap();
    create(store, &b, json!({ "v": 3 })).await;
    store.delete(a.clone(), None).await.unwrap();

    let page = store.changes_since(start, 0).await.unwrap();
    let got: Vec<(i64, ChangeType, &str, i64)> = page
        .changes
        .iter()
        .map(|c| {
            (
                c.revision,
                c.change_type,
                c.object.key.name.as_str(),
                c.object.object["spec"]["v"].as_i64().unwrap(),
            )
        })
        .collect();
    let s = start;
    assert_eq!(
        got,
        [
            (s + 1, ChangeType::Added, "a", 1),
            (s + 2, ChangeType::Added, "b", 1),
            (s + 3, ChangeType::Modified, "a", 2),
            (s + 4, ChangeType::Deleted, "b", 1),
            (s + 5, ChangeType::Added, "b", 3),
            (s + 6, ChangeType::Deleted, "a", 2),
        ]
    );
    assert_eq!(page.revision, s + 6);
    for c in &page.changes {
        assert_eq!(c.object.revision, c.revision);
        assert_eq!(rv(&c.object.object), c.revision.to_string());
    }
    assert_eq!(
        page.changes[3].object, deleted,
        "the logged delete equals what delete returned"
    );
    assert_eq!(page.changes[3].object.created_revision, s + 2);

    let tail = store.changes_since(s + 4, 0).await.unwrap();
    assert_eq!(tail.changes, page.changes[4..].to_vec());
    let none = store.changes_since(s + 6, 0).await.unwrap();
    assert!(none.changes.is_empty());
    assert_eq!(none.revision, s + 6);
    let future = store.changes_since(s + 100, 10).await.unwrap();
    assert!(future.changes.is_empty());
    assert_eq!(
        future.revision,
        s + 100,
        "a future revision is not moved back"
    );
}

/// `changes_since` with a limit pages through the log; each page's revision is where the
/// next one starts.
pub async fn changes_paging(store: Arc<dyn Store>) {
    let store = &*store;
    let start = current(store).await;
    for i in 0..23 {
        create(store, &key(PLAN, "ns", &format!("o{i}")), json!({})).await;
    }
    let end = current(store).await;
    for limit in [1, 5, 10, 23, 24] {
        let mut from = start;
        let mut seen = Vec::new();
        loop {
            let page = store.changes_since(from, limit).await.unwrap();
            assert!(page.changes.len() <= limit);
            if let Some(first) = page.changes.first() {
                assert_eq!(first.revision, from + 1, "no gap");
            }
            seen.extend(page.changes.iter().map(|c| c.revision));
            if page.changes.len() == limit {
                assert_eq!(page.revision, page.changes.last().unwrap().revision);
            } else {
                assert_eq!(
                    page.revision, end,
                    "a short page covers up to the current revision"
                );
            }
            if page.changes.is_empty() {
                break;
            }
            from = page.revision;
        }
        assert_eq!(
            seen,
            ((start + 1)..=end).collect::<Vec<_>>(),
            "limit {limit}"
        );
    }
}

/// After `compact`, reading from before the window fails with `Compacted`; objects stay.
pub async fn compaction(store: Arc<dyn Store>) {
    let store = &*store;
    for i in 0..10 {
        let k = key(PLAN, "ns", &format!("o{i}"));
        create(store, &k, json!({ "i": i })).await;
    }
    store.delete(key(PLAN, "ns", "o0"), None).await.unwrap();
    let end = current(store).await;
    let before = store.compacted_revision().await.unwrap();
    assert!(before < end - 4);

    let c = store.compact(4).await.unwrap();
    assert_eq!(c, end - 4, "compact keeps the newest `retain` changes");
    assert_eq!(store.compacted_revision().await.unwrap(), c);
    for old in [0, c - 3, c - 1] {
        match store.changes_since(old, 0).await {
            Err(StoreError::Compacted { requested, oldest }) => {
                assert_eq!((requested, oldest), (old, c))
            }
            other => panic!("changes_since({old}) after compaction to {c}: {other:?}"),
        }
    }
    let kept = store.changes_since(c, 0).await.unwrap();
    assert_eq!(
        kept.changes
            .iter()
            .map(|ch| ch.revision)
            .collect::<Vec<_>>(),
        ((c + 1)..=end).collect::<Vec<_>>()
    );

    assert_eq!(
        store.compact(100).await.unwrap(),
        c,
        "compaction never moves back"
    );
    assert_eq!(
        list_all(store, PLAN).await.len(),
        9,
        "objects survive compaction"
    );
    assert_eq!(
        store
            .get(&key(PLAN, "ns", "o1"))
            .await
            .unwrap()
            .unwrap()
            .object["spec"]["i"],
        1
    );

    assert_eq!(store.compact(0).await.unwrap(), end);
    let empty = store.changes_since(end, 0).await.unwrap();
    assert!(empty.changes.is_empty());
    assert_eq!(empty.revision, end);
    assert!(matches!(
        store.changes_since(end - 1, 1).await,
        Err(StoreError::Compacted { .. })
    ));

    let next = create(store, &key(PLAN, "ns", "later"), json!({})).await;
    assert_eq!(next.revision, end + 1, "revisions go on after compaction");
    let page = store.changes_since(end, 0).await.unwrap();
    assert_eq!(page.changes.len(), 1);
    assert_eq!(page.changes[0].object, next);
}

/// `subscribe` signals every commit with the newest revision.
pub async fn subscribe_signals_commits(store: Arc<dyn Store>) {
    let mut rx = store.subscribe();
    let start = current(&*store).await;
    assert_eq!(
        *rx.borrow_and_update(),
        start,
        "a new receiver holds the current revision"
    );
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            create(&*store, &key(PLAN, "ns", "signal"), json!({}))
                .await
                .revision
        })
    };
    tokio::time::timeout(Duration::from_secs(10), rx.changed())
        .await
        .expect("no signal within 10 s of a commit")
        .expect("the store dropped its sender");
    let written = writer.await.unwrap();
    let seen = *rx.borrow_and_update();
    assert!(
        seen > start && seen <= written,
        "signalled {seen}, wrote {written}"
    );
    let page = store.changes_since(start, 0).await.unwrap();
    assert_eq!(
        page.changes.len(),
        1,
        "the signal's revision is readable from the log"
    );

    // Many commits: the receiver ends at the newest revision.
    for i in 0..20 {
        create(&*store, &key(PLAN, "ns", &format!("burst{i}")), json!({})).await;
    }
    let end = current(&*store).await;
    tokio::time::timeout(Duration::from_secs(10), async {
        while *rx.borrow_and_update() < end {
            rx.changed().await.unwrap();
        }
    })
    .await
    .expect("the receiver reaches the newest revision");
}

/// A watcher that reads slowly, in small pages, while several writers commit, still sees
/// every revision exactly once.
pub async fn slow_watcher_loses_nothing(store: Arc<dyn Store>) {
    let start = current(&*store).await;
    let mut rx = store.subscribe();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..60 {
                    let k = key(PLAN, "ns", &format!("w{w}-{i}"));
                    create(&*store, &k, json!({})).await;
                    if i % 3 == 0 {
                        store.delete(k, None).await.unwrap();
                    }
                }
            })
        })
        .collect();
    let total = 4 * (60 + 20);
    let mut seen = Vec::new();
    let mut from = start;
    tokio::time::timeout(Duration::from_secs(60), async {
        while seen.len() < total {
            let page = store.changes_since(from, 7).await.unwrap();
            seen.extend(page.changes.iter().map(|c| c.revision));
            from = page.revision;
            if page.changes.is_empty() {
                rx.changed().await.unwrap();
            } else {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    })
    .await
    .expect("the watcher caught up");
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(
        seen,
        ((start + 1)..=(start + total as i64)).collect::<Vec<_>>()
    );
}

/// 20 tasks × 50 read-modify-write increments of one field, retrying on `Conflict`: the
/// final value is exactly 1000 (no lost update).
pub async fn concurrent_counter_increments(store: Arc<dyn Store>) {
    let k = key(PLAN, "default", "counter");
    let start = create(&*store, &k, json!({ "value": 0 })).await.revision;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            let k = k.clone();
            tokio::spawn(async move {
                let mut conflicts = 0u64;
                for _ in 0..50 {
                    loop {
                        let o = store.get(&k).await.unwrap().unwrap();
                        let mut next = o.object.clone();
                        next["spec"]["value"] =
                            json!(o.object["spec"]["value"].as_i64().unwrap() + 1);
                        match store.update(k.clone(), Some(o.revision), next).await {
                            Ok(_) => break,
                            Err(StoreError::Conflict { .. }) => conflicts += 1,
                            Err(e) => panic!("increment failed: {e}"),
                        }
                    }
                }
                conflicts
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let o = store.get(&k).await.unwrap().unwrap();
    assert_eq!(o.object["spec"]["value"], 1000, "lost updates");
    assert_eq!(
        o.revision,
        start + 1000,
        "exactly one revision per successful increment"
    );
    let log = store.changes_since(start, 0).await.unwrap().changes;
    assert_eq!(log.len(), 1000);
    for (i, c) in log.iter().enumerate() {
        assert_eq!(
            c.object.object["spec"]["value"],
            i as i64 + 1,
            "the log shows every increment in order"
        );
    }
}

/// Many concurrent transactions, half of which fail: the failures leave no trace and do
/// not disturb the others; revisions stay consecutive.
pub async fn concurrent_transactions_isolated(store: Arc<dyn Store>) {
    let taken = key(PLAN, "default", "taken");
    create(&*store, &taken, json!({})).await;
    let start = current(&*store).await;
    let tasks: Vec<_> = (0..16)
        .map(|t| {
            let store = store.clone();
            let taken = taken.clone();
            tokio::spawn(async move {
                let mut ok = 0;
                for i in 0..20 {
                    let good = key(PLAN, "default", &format!("t{t}-{i}"));
                    let also = key(GOAL, "default", &format!("t{t}-{i}"));
                    let mut ops = vec![
                        WriteOp::Create {
                            key: good.clone(),
                            uid: uid_of(&good),
                            object: doc(&good, &[], json!({})),
                        },
                        WriteOp::Create {
                            key: also.clone(),
                            uid: uid_of(&also),
                            object: doc(&also, &[], json!({})),
                        },
                    ];
                    let fail = i % 2 == 1;
                    if fail {
                        ops.push(WriteOp::Create {
                            key: taken.clone(),
                            uid: "x".into(),
                            object: json!({}),
                        });
                    }
                    match store.transact(ops).await {
                        Ok(changes) => {
                            assert!(!fail);
                            assert_eq!(
                                changes[1].revision,
                                changes[0].revision + 1,
                                "a transaction's revisions are consecutive"
                            );
                            ok += 2;
                        }
                        Err(StoreError::AlreadyExists(k)) => {
                            assert!(fail);
                            assert_eq!(k, taken);
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                ok
            })
        })
        .collect();
    let mut written = 0;
    for t in tasks {
        written += t.await.unwrap();
    }
    assert_eq!(written, 16 * 10 * 2);
    let end = current(&*store).await;
    assert_eq!(
        end,
        start + written,
        "failed transactions used no revisions"
    );
    let log = store.changes_since(start, 0).await.unwrap().changes;
    assert_eq!(
        log.iter().map(|c| c.revision).collect::<Vec<_>>(),
        ((start + 1)..=end).collect::<Vec<_>>()
    );
    let plans = list_all(&*store, PLAN).await;
    assert_eq!(plans.len(), 1 + 16 * 10);
    for t in 0..16 {
        for i in 0..20 {
            let exists = store
                .get(&key(GOAL, "default", &format!("t{t}-{i}")))
                .await
                .unwrap()
                .is_some();
            assert_eq!(exists, i % 2 == 0, "t{t}-{i}");
        }
    }
}
