//! Execution journals and node records.

use super::*;

/// Creates an Execution named `name` in `default` with uid `uid`.
async fn execution(store: &dyn Store, name: &str, uid: &str) -> StoredObject {
    let k = key(EXECUTION_KIND, "default", name);
    store
        .create(k.clone(), uid.to_owned(), doc(&k, &[], json!({})))
        .await
        .unwrap_or_else(|e| panic!("creating {k}: {e}"))
}

fn append(uid: &str, expected_next_seq: u64, entries: Vec<Value>) -> WriteOp {
    WriteOp::AppendJournal {
        execution_uid: uid.to_owned(),
        expected_next_seq,
        entries,
    }
}

async fn journal(store: &dyn Store, uid: &str) -> Vec<Value> {
    let entries = store.read_journal(uid, 0, 0).await.unwrap();
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.seq, i as u64, "journal sequence numbers are 0, 1, 2 …");
    }
    entries.into_iter().map(|e| e.entry).collect()
}

/// Appends at the journal's length succeed, others fail with `JournalConflict`; reads page
/// by sequence number; entries are any JSON; appends take no revision; a journal needs an
/// Execution with that uid.
pub async fn journal_append_and_read(store: Arc<dyn Store>) {
    let store = &*store;
    execution(store, "run", "exec-1").await;
    assert_eq!(store.journal_len("exec-1").await.unwrap(), 0);
    assert!(journal(store, "exec-1").await.is_empty());
    let before = current(store).await;

    let first = vec![
        json!({ "type": "Started" }),
        json!("text"),
        json!(null),
        json!([1, { "deep": [true] }]),
    ];
    assert_eq!(
        store
            .transact(vec![append("exec-1", 0, first.clone())])
            .await
            .unwrap(),
        Vec::new(),
        "an append yields no change"
    );
    assert_eq!(store.journal_len("exec-1").await.unwrap(), 4);
    assert_eq!(journal(store, "exec-1").await, first);
    for stale in [0, 3, 5, u64::MAX] {
        match store
            .transact(vec![append("exec-1", stale, vec![json!("late")])])
            .await
        {
            Err(StoreError::JournalConflict {
                execution_uid,
                expected,
                actual,
            }) => assert_eq!(
                (execution_uid.as_str(), expected, actual),
                ("exec-1", stale, 4)
            ),
            other => panic!("append at {stale}: {other:?}"),
        }
    }
    store
        .transact(vec![append("exec-1", 4, Vec::new())])
        .await
        .unwrap();
    let many: Vec<Value> = (4..504).map(|i| json!({ "i": i })).collect();
    store
        .transact(vec![append("exec-1", 4, many)])
        .await
        .unwrap();
    assert_eq!(store.journal_len("exec-1").await.unwrap(), 504);
    let page = store.read_journal("exec-1", 100, 50).await.unwrap();
    assert_eq!(
        page.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (100..150).collect::<Vec<_>>()
    );
    assert_eq!(page[0].entry, json!({ "i": 100 }));
    assert_eq!(store.read_journal("exec-1", 500, 0).await.unwrap().len(), 4);
    assert!(store
        .read_journal("exec-1", 504, 0)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .read_journal("exec-1", u64::MAX, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        current(store).await,
        before,
        "journal appends take no revision"
    );
    assert!(store
        .changes_since(before, 0)
        .await
        .unwrap()
        .changes
        .is_empty());

    // Only an Execution's uid has a journal.
    let plan = create(store, &key(PLAN, "default", "p"), json!({})).await;
    for uid in ["nobody", plan.uid.as_str()] {
        match store.transact(vec![append(uid, 0, vec![json!(1)])]).await {
            Err(StoreError::ExecutionNotFound(u)) => assert_eq!(u, uid),
            other => panic!("append to {uid}: {other:?}"),
        }
        assert_eq!(store.journal_len(uid).await.unwrap(), 0);
        assert!(store.read_journal(uid, 0, 0).await.unwrap().is_empty());
    }
}

/// An append commits or fails with the ops of its transaction: a status update and the
/// entries it reflects land together or not at all.
pub async fn journal_commits_with_its_transaction(store: Arc<dyn Store>) {
    let store = &*store;
    let e = execution(store, "run", "exec-1").await;
    let status = |phase: &str| {
        let mut o = doc(&e.key, &[], json!({}));
        o["status"] = json!({ "phase": phase });
        o
    };
    let changes = store
        .transact(vec![
            WriteOp::Update {
                key: e.key.clone(),
                expected_revision: Some(e.revision),
                object: status("Running"),
            },
            append("exec-1", 0, vec![json!("started")]),
        ])
        .await
        .unwrap();
    assert_eq!(changes.len(), 1);
    let running = changes[0].object.revision;

    let failing: Vec<(Vec<WriteOp>, &str)> = vec![
        (
            vec![
                WriteOp::Update {
                    key: e.key.clone(),
                    expected_revision: Some(e.revision),
                    object: status("Failed"),
                },
                append("exec-1", 1, vec![json!("failed")]),
            ],
            "Conflict",
        ),
        (
            vec![
                append("exec-1", 1, vec![json!("failed")]),
                WriteOp::Update {
                    key: e.key.clone(),
                    expected_revision: Some(running),
                    object: status("Failed"),
                },
                WriteOp::Create {
                    key: e.key.clone(),
                    uid: "x".into(),
                    object: json!({}),
                },
            ],
            "AlreadyExists",
        ),
        (
            vec![
                WriteOp::Update {
                    key: e.key.clone(),
                    expected_revision: Some(running),
                    object: status("Failed"),
                },
                append("exec-1", 0, vec![json!("failed")]),
            ],
            "JournalConflict",
        ),
        (
            vec![
                append("exec-1", 1, vec![json!("a")]),
                append("exec-1", 1, vec![json!("b")]),
            ],
            "JournalConflict",
        ),
    ];
    for (ops, want) in failing {
        let err = store.transact(ops).await.unwrap_err();
        let got = match err {
            StoreError::Conflict { .. } => "Conflict",
            StoreError::AlreadyExists(_) => "AlreadyExists",
            StoreError::JournalConflict { .. } => "JournalConflict",
            _ => "other",
        };
        assert_eq!(got, want, "{err:?}");
        assert_eq!(journal(store, "exec-1").await, [json!("started")]);
        assert_eq!(
            store.get(&e.key).await.unwrap().unwrap().revision,
            running,
            "the status did not change either"
        );
    }

    // Appends see the ops before them: a create of the Execution, an earlier append.
    let e2 = key(EXECUTION_KIND, "default", "second");
    store
        .transact(vec![
            WriteOp::Create {
                key: e2.clone(),
                uid: "exec-2".into(),
                object: doc(&e2, &[], json!({})),
            },
            append("exec-2", 0, vec![json!("created")]),
            append("exec-2", 1, vec![json!("queued")]),
            append("exec-1", 1, vec![json!("more")]),
        ])
        .await
        .unwrap();
    assert_eq!(
        journal(store, "exec-2").await,
        [json!("created"), json!("queued")]
    );
    assert_eq!(
        journal(store, "exec-1").await,
        [json!("started"), json!("more")]
    );
}

/// Writers that append at the length they read, retrying on `JournalConflict`, never
/// interleave: each append's entries are contiguous, and none is lost or repeated.
pub async fn journal_appenders_never_interleave(store: Arc<dyn Store>) {
    execution(&*store, "run", "exec-1").await;
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut conflicts = 0;
                for i in 0..10 {
                    let entries: Vec<Value> =
                        (0..3).map(|k| json!({ "w": w, "i": i, "k": k })).collect();
                    loop {
                        let at = store.journal_len("exec-1").await.unwrap();
                        match store
                            .transact(vec![append("exec-1", at, entries.clone())])
                            .await
                        {
                            Ok(_) => break,
                            Err(StoreError::JournalConflict { .. }) => conflicts += 1,
                            Err(e) => panic!("append failed: {e}"),
                        }
                    }
                }
                conflicts
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let entries = journal(&*store, "exec-1").await;
    assert_eq!(entries.len(), 8 * 10 * 3);
    let mut seen = std::collections::BTreeSet::new();
    for group in entries.chunks(3) {
        let (w, i) = (&group[0]["w"], &group[0]["i"]);
        for (k, e) in group.iter().enumerate() {
            assert_eq!(
                (&e["w"], &e["i"], &e["k"]),
                (w, i, &json!(k)),
                "an append's entries are contiguous"
            );
        }
        assert!(seen.insert((w.to_string(), i.to_string())), "appended once");
    }
}

fn record(node: usize, phase: &str) -> NodeRecord {
    NodeRecord {
        node_id: format!("node-{node:05}"),
        phase: phase.to_owned(),
        record: json!({ "node": node, "phase": phase }),
    }
}

/// Reads every page of `query` with `limit`, checking the paging contract.
async fn all_pages(store: &dyn Store, query: &NodeRecordQuery, limit: usize) -> Vec<NodeRecord> {
    let mut q = NodeRecordQuery {
        limit: Some(limit),
        ..query.clone()
    };
    let mut all = Vec::new();
    loop {
        let page = store.list_node_records(&q).await.unwrap();
        assert!(page.records.len() <= limit);
        all.extend(page.records.iter().cloned());
        match page.continue_after {
            Some(after) => {
                assert_eq!(
                    page.records.len(),
                    limit,
                    "a page with more to come is full"
                );
                assert_eq!(Some(&after), all.last().map(|r| &r.node_id));
                q.continue_after = Some(after);
            }
            None => break,
        }
    }
    all
}

/// Node records are upserted by node id, listed in node-id order, by phase, in pages; they
/// take no revision and need an Execution.
pub async fn node_records_upsert_and_page(store: Arc<dyn Store>) {
    let store = &*store;
    execution(store, "big", "exec-1").await;
    let before = current(store).await;
    let phase_of = |i: usize| if i % 3 == 0 { "Running" } else { "Pending" };
    // Written in an order that is not the id order.
    let records: Vec<NodeRecord> = (0..1000)
        .map(|i| (i * 7) % 1000)
        .map(|i| record(i, phase_of(i)))
        .collect();
    store
        .transact(vec![WriteOp::PutNodeRecords {
            execution_uid: "exec-1".into(),
            records,
        }])
        .await
        .unwrap();
    // Upserts, one node given twice (the last wins).
    let mut updates: Vec<NodeRecord> = (0..1000)
        .step_by(10)
        .map(|i| record(i, "Succeeded"))
        .collect();
    updates.push(record(10, "Failed"));
    store
        .transact(vec![WriteOp::PutNodeRecords {
            execution_uid: "exec-1".into(),
            records: updates,
        }])
        .await
        .unwrap();
    assert_eq!(
        current(store).await,
        before,
        "node records take no revision"
    );

    let phase = |i: usize| match i {
        10 => "Failed",
        i if i % 10 == 0 => "Succeeded",
        i => phase_of(i),
    };
    let want: Vec<NodeRecord> = (0..1000).map(|i| record(i, phase(i))).collect();
    let all = NodeRecordQuery::all("exec-1");
    let page = store.list_node_records(&all).await.unwrap();
    assert_eq!(page.records, want, "every record, in node-id order");
    assert_eq!(page.continue_after, None);
    assert_eq!(all_pages(store, &all, 64).await, want);
    assert_eq!(all_pages(store, &all, 1000).await, want);
    for p in ["Running", "Pending", "Succeeded", "Failed", "Unknown"] {
        let q = NodeRecordQuery {
            phase: Some(p.into()),
            ..all.clone()
        };
        let of_phase: Vec<NodeRecord> = want.iter().filter(|r| r.phase == p).cloned().collect();
        assert_eq!(
            store.list_node_records(&q).await.unwrap().records,
            of_phase,
            "{p}"
        );
        assert_eq!(all_pages(store, &q, 33).await, of_phase, "{p} in pages");
    }
    let after = NodeRecordQuery {
        continue_after: Some("node-00990".into()),
        limit: Some(0),
        ..all.clone()
    };
    assert_eq!(
        store.list_node_records(&after).await.unwrap().records,
        want[991..]
    );
    assert!(store
        .list_node_records(&NodeRecordQuery::all("nobody"))
        .await
        .unwrap()
        .records
        .is_empty());

    // Only an Execution has node records; a failed transaction writes none.
    let err = store
        .transact(vec![WriteOp::PutNodeRecords {
            execution_uid: "nobody".into(),
            records: vec![record(1, "Running")],
        }])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ExecutionNotFound(ref u) if u == "nobody"),
        "{err:?}"
    );
    let err = store
        .transact(vec![
            WriteOp::PutNodeRecords {
                execution_uid: "exec-1".into(),
                records: vec![record(1, "Lost")],
            },
            WriteOp::Check {
                key: key(PLAN, "default", "absent"),
                revision: Some(1),
            },
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(store.list_node_records(&all).await.unwrap().records, want);
}

/// Deleting an Execution deletes its journal and node records in the same transaction; an
/// Execution re-created under the same name (with a new uid) starts empty; other
/// Executions keep theirs.
pub async fn execution_data_goes_with_the_execution(store: Arc<dyn Store>) {
    let store = &*store;
    let e1 = execution(store, "one", "exec-1").await;
    let e2 = execution(store, "two", "exec-2").await;
    for uid in ["exec-1", "exec-2"] {
        store
            .transact(vec![
                append(uid, 0, vec![json!(1), json!(2)]),
                WriteOp::PutNodeRecords {
                    execution_uid: uid.into(),
                    records: vec![record(1, "Running"), record(2, "Pending")],
                },
            ])
            .await
            .unwrap();
    }
    let records = |uid: &'static str| async move {
        store
            .list_node_records(&NodeRecordQuery::all(uid))
            .await
            .unwrap()
            .records
            .len()
    };

    // A transaction that deletes the Execution and then fails keeps everything.
    let err = store
        .transact(vec![
            WriteOp::Delete {
                key: e1.key.clone(),
                expected_revision: None,
            },
            append("exec-1", 2, vec![json!(3)]),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ExecutionNotFound(_)), "{err:?}");
    assert_eq!(store.journal_len("exec-1").await.unwrap(), 2);
    assert_eq!(records("exec-1").await, 2);

    store
        .transact(vec![
            WriteOp::Delete {
                key: e1.key.clone(),
                expected_revision: None,
            },
            WriteOp::Create {
                key: e1.key.clone(),
                uid: "exec-1b".into(),
                object: doc(&e1.key, &[], json!({})),
            },
        ])
        .await
        .unwrap();
    assert_eq!(store.journal_len("exec-1").await.unwrap(), 0);
    assert!(store.read_journal("exec-1", 0, 0).await.unwrap().is_empty());
    assert_eq!(records("exec-1").await, 0);
    assert_eq!(store.journal_len("exec-1b").await.unwrap(), 0);
    assert_eq!(store.journal_len("exec-2").await.unwrap(), 2);
    assert_eq!(records("exec-2").await, 2);

    store.delete(e2.key.clone(), None).await.unwrap();
    assert_eq!(store.journal_len("exec-2").await.unwrap(), 0);
    assert_eq!(records("exec-2").await, 0);
    let err = store
        .transact(vec![append("exec-2", 0, vec![json!("late")])])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ExecutionNotFound(_)), "{err:?}");
}
