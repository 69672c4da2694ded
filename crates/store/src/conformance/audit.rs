//! The audit log: a hash chain the store extends in commit order.

use super::*;
use crate::{AuditEntry, AuditQuery, ChainHead};
use planspec_model::actor::UserInfo;
use planspec_model::audit::{verify_chain, AuditOutcome, AuditResource, GENESIS_HASH};

fn entry(actor: &str, namespace: &str, resource: &str, verb: &str) -> AuditEntry {
    AuditEntry {
        time: "2026-01-01T00:00:00.000Z".to_owned(),
        actor: UserInfo::new(actor, ["team"]),
        verb: verb.to_owned(),
        resource: AuditResource {
            group: "planspec.io".to_owned(),
            resource: resource.to_owned(),
            namespace: namespace.to_owned(),
            name: "x".to_owned(),
            ..Default::default()
        },
        outcome: AuditOutcome::http(201),
        request_id: format!("req-{verb}"),
        details: json!({"n": verb, "nested": {"b": 1, "a": [1, 2]}}),
    }
}

async fn append(store: &dyn Store, entry: AuditEntry) {
    store
        .transact(vec![WriteOp::AppendAudit(entry)])
        .await
        .expect("append audit");
}

/// Records get seq 1, 2, 3 … with their hashes linked from the genesis, read back exactly as
/// written; the head follows; appends take no revision; paging and filters work.
pub async fn audit_chain_appends_and_reads(store: Arc<dyn Store>) {
    let store = &*store;
    assert_eq!(store.audit_head().await.unwrap(), ChainHead::genesis());
    let empty = store.read_audit(&AuditQuery::default()).await.unwrap();
    assert!(empty.records.is_empty() && !empty.more);
    assert_eq!(empty.head, ChainHead::genesis());

    let before = current(store).await;
    for i in 0..7 {
        let (actor, ns) = if i % 2 == 0 {
            ("alice", "a")
        } else {
            ("bob", "b")
        };
        let resource = if i < 4 { "plans" } else { "executions" };
        append(store, entry(actor, ns, resource, &format!("v{i}"))).await;
    }
    assert_eq!(
        current(store).await,
        before,
        "audit appends take no revision"
    );

    let all = store.read_audit(&AuditQuery::default()).await.unwrap();
    assert_eq!(all.records.len(), 7);
    assert!(!all.more);
    assert_eq!(
        all.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..=7).collect::<Vec<_>>()
    );
    assert_eq!(all.records[0].prev_hash, GENESIS_HASH);
    assert_eq!(all.records[3].entry, entry("bob", "b", "plans", "v3"));
    assert_eq!(all.head, all.records[6].head());
    assert_eq!(store.audit_head().await.unwrap(), all.head);
    verify_chain(&all.records, &all.head).expect("the chain verifies");

    let first = store.read_audit(&AuditQuery::after(0, 3)).await.unwrap();
    assert_eq!(first.records.len(), 3);
    assert!(first.more);
    let rest = store.read_audit(&AuditQuery::after(3, 4)).await.unwrap();
    assert_eq!(rest.records.len(), 4);
    assert!(!rest.more, "exactly the rest: nothing more");
    assert_eq!(rest.records[0].seq, 4);

    let alice = store
        .read_audit(&AuditQuery {
            actor: Some("alice".into()),
            limit: 2,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        alice.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [1, 3]
    );
    assert!(alice.more);
    let b_exec = store
        .read_audit(&AuditQuery {
            namespace: Some("b".into()),
            resource: Some("executions".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        b_exec.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [6]
    );
}

/// An audit record commits or fails with its transaction: a refused transaction leaves no
/// record and no gap, and a record written with an object write lands with it.
pub async fn audit_commits_with_its_transaction(store: Arc<dyn Store>) {
    let store = &*store;
    let plan = key(PLAN, "default", "p");
    append(store, entry("alice", "default", "plans", "first")).await;
    let refused = store
        .transact(vec![
            WriteOp::AppendAudit(entry("alice", "default", "plans", "refused")),
            WriteOp::Update {
                key: plan.clone(),
                expected_revision: None,
                object: doc(&plan, &[], json!({})),
            },
        ])
        .await;
    assert!(
        matches!(refused, Err(StoreError::NotFound(_))),
        "{refused:?}"
    );
    store
        .transact(vec![
            WriteOp::Create {
                key: plan.clone(),
                uid: uid_of(&plan),
                object: doc(&plan, &[], json!({})),
            },
            WriteOp::AppendAudit(entry("alice", "default", "plans", "with-create")),
        ])
        .await
        .unwrap();
    let page = store.read_audit(&AuditQuery::default()).await.unwrap();
    assert_eq!(
        page.records
            .iter()
            .map(|r| (r.seq, r.entry.verb.as_str()))
            .collect::<Vec<_>>(),
        [(1, "first"), (2, "with-create")]
    );
    verify_chain(&page.records, &page.head).expect("no gap left by the refused transaction");
}

/// Many concurrent appenders (grouped into shared commits, some refused) still form one
/// unbroken chain.
pub async fn audit_concurrent_appends_form_one_chain(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for i in 0..40u32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut ops = vec![WriteOp::AppendAudit(entry(
                &format!("u{}", i % 4),
                "default",
                "plans",
                &format!("v{i}"),
            ))];
            if i % 5 == 0 {
                // Refused: a check that a missing object exists.
                ops.push(WriteOp::Check {
                    key: key(PLAN, "default", "missing"),
                    revision: Some(1),
                });
            }
            store.transact(ops).await.is_ok()
        }));
    }
    let mut committed = 0;
    for task in tasks {
        committed += usize::from(task.await.unwrap());
    }
    assert_eq!(committed, 32);
    let page = store.read_audit(&AuditQuery::default()).await.unwrap();
    assert_eq!(page.records.len(), committed);
    assert_eq!(page.head.seq, committed as u64);
    verify_chain(&page.records, &page.head).expect("one chain");
}
