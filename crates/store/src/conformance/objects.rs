//! Object writes: create, get, update, delete, transactions, revision checks, concurrency.

use super::*;

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

/// `WriteOp::Check` passes when the object is at the named revision (`None`: absent), fails
/// the whole transaction with `Conflict` otherwise (`0` standing for absent), sees the ops
/// before it, and takes no revision.
pub async fn check_guards_transactions(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = key(NAMESPACE, "", "team");
    let ns_rev = create(store, &ns, json!({})).await.revision;
    let absent = key(NAMESPACE, "", "absent");
    let a = key(PLAN, "team", "a");
    let create_op = |k: &ObjectKey| WriteOp::Create {
        key: k.clone(),
        uid: uid_of(k),
        object: doc(k, &[], json!({})),
    };
    let check = |k: &ObjectKey, revision: Option<i64>| WriteOp::Check {
        key: k.clone(),
        revision,
    };

    let changes = store
        .transact(vec![check(&ns, Some(ns_rev)), create_op(&a)])
        .await
        .unwrap();
    assert_eq!(changes.len(), 1, "a check yields no change");
    assert_eq!(
        (changes[0].revision, &changes[0].object.key),
        (ns_rev + 1, &a),
        "a check takes no revision"
    );
    let before = current(store).await;
    assert_eq!(
        store
            .transact(vec![check(&ns, Some(ns_rev)), check(&absent, None)])
            .await
            .unwrap(),
        Vec::new(),
        "checks alone commit nothing"
    );
    assert_eq!(current(store).await, before);

    let b = key(PLAN, "team", "b");
    for (op, expected, actual) in [
        (check(&ns, Some(ns_rev + 100)), ns_rev + 100, ns_rev),
        (check(&ns, None), 0, ns_rev),
        (check(&absent, Some(3)), 3, 0),
    ] {
        let err = store
            .transact(vec![create_op(&b), op.clone()])
            .await
            .unwrap_err();
        match err {
            StoreError::Conflict {
                key,
                expected: e,
                actual: a,
            } => assert_eq!(
                (&key, e, a),
                (op.key().unwrap(), expected, actual),
                "{op:?}"
            ),
            other => panic!("{op:?}: {other:?}"),
        }
        assert_eq!(
            store.get(&b).await.unwrap(),
            None,
            "{op:?} undid the create"
        );
        assert_eq!(current(store).await, before);
        assert!(store
            .changes_since(before, 0)
            .await
            .unwrap()
            .changes
            .is_empty());
    }

    // A check sees the ops before it in its transaction.
    let c = key(PLAN, "team", "c");
    let changes = store
        .transact(vec![
            WriteOp::Update {
                key: ns.clone(),
                expected_revision: Some(ns_rev),
                object: doc(&ns, &[("state", "busy")], json!({})),
            },
            check(&ns, Some(before + 1)),
            create_op(&c),
            check(&c, Some(before + 2)),
            WriteOp::Delete {
                key: a.clone(),
                expected_revision: None,
            },
            check(&a, None),
        ])
        .await
        .unwrap();
    assert_eq!(
        changes.iter().map(|c| c.revision).collect::<Vec<_>>(),
        [before + 1, before + 2, before + 3]
    );
    // The namespace moved on: a create that checked the old revision fails.
    let err = store
        .transact(vec![check(&ns, Some(ns_rev)), create_op(&b)])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(store.get(&b).await.unwrap(), None);
}
