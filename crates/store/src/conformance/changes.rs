//! The change log: `changes_since`, compaction, `subscribe`, slow watchers.

use super::*;

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
