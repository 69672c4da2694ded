//! The owner index: `list_owned_by`.

use super::*;

/// A document of `k` whose `metadata.ownerReferences` is `refs`.
fn owned(k: &ObjectKey, refs: Value) -> Value {
    let mut o = doc(k, &[], json!({}));
    o["metadata"]["ownerReferences"] = refs;
    o
}

fn owner_ref(uid: &str) -> Value {
    json!({ "apiVersion": "planspec.io/v1alpha1", "kind": "Goal", "name": "g", "uid": uid })
}

/// `list_owned_by` returns exactly the objects whose `ownerReferences` array names the uid,
/// in (kind, namespace, name) order, as owner references are added, removed and objects
/// deleted; malformed references are ignored; failed transactions leave no trace.
pub async fn owner_index_follows_writes(store: Arc<dyn Store>) {
    let store = &*store;
    let names = |objects: Vec<StoredObject>| -> Vec<String> {
        objects.into_iter().map(|o| format!("{}", o.key)).collect()
    };
    let put = |k: &ObjectKey, object: Value| {
        let k = k.clone();
        async move {
            store
                .create(k.clone(), uid_of(&k), object)
                .await
                .unwrap_or_else(|e| panic!("creating {k}: {e}"))
        }
    };
    let d1 = key(PLAN, "a", "d1");
    let d2 = key(GOAL, "b", "d2");
    let d3 = key(PLAN, "a", "d3");
    let d6 = key(PLAN, "b", "d6");
    let first = put(&d1, owned(&d1, json!([owner_ref("o-1")]))).await;
    put(&d2, owned(&d2, json!([owner_ref("o-1"), owner_ref("o-2")]))).await;
    put(&d3, owned(&d3, json!([owner_ref("o-2")]))).await;
    put(&d6, owned(&d6, json!([owner_ref("o-1"), owner_ref("o-1")]))).await;
    // Not owner references of o-1: not an array, uids that are not strings, elements that
    // are not objects, the word in the spec only, a reference elsewhere in metadata.
    for (i, object) in [
        json!({ "metadata": { "ownerReferences": { "uid": "o-1" } } }),
        json!({ "metadata": { "ownerReferences": [ { "uid": 1 }, "o-1", ["o-1"], null ] } }),
        json!({ "metadata": {}, "spec": { "ownerReferences": [ owner_ref("o-1") ] } }),
        json!({ "metadata": { "annotations": { "ownerReferences": "o-1" } } }),
    ]
    .into_iter()
    .enumerate()
    {
        put(&key(PLAN, "a", &format!("odd{i}")), object).await;
    }

    let o1 = store.list_owned_by("o-1").await.unwrap();
    assert_eq!(
        names(o1.clone()),
        ["Goal b/d2", "Plan a/d1", "Plan b/d6"],
        "in (kind, namespace, name) order, once each"
    );
    assert_eq!(o1[1], first, "the stored objects themselves");
    assert_eq!(
        names(store.list_owned_by("o-2").await.unwrap()),
        ["Goal b/d2", "Plan a/d3"]
    );
    assert!(store.list_owned_by("nobody").await.unwrap().is_empty());

    // References change with updates; an update that keeps them keeps the entries.
    store
        .update(d1.clone(), None, owned(&d1, json!([owner_ref("o-3")])))
        .await
        .unwrap();
    store
        .update(
            d3.clone(),
            None,
            owned(&d3, json!([owner_ref("o-2"), owner_ref("o-1")])),
        )
        .await
        .unwrap();
    let mut d2_doc = owned(&d2, json!([owner_ref("o-1"), owner_ref("o-2")]));
    d2_doc["spec"] = json!({ "changed": true });
    store.update(d2.clone(), None, d2_doc).await.unwrap();
    store
        .update(d6.clone(), None, doc(&d6, &[], json!({})))
        .await
        .unwrap();
    assert_eq!(
        names(store.list_owned_by("o-1").await.unwrap()),
        ["Goal b/d2", "Plan a/d3"]
    );
    assert_eq!(
        names(store.list_owned_by("o-3").await.unwrap()),
        ["Plan a/d1"]
    );

    // Deletes remove the entries; a failed transaction adds none and removes none.
    store.delete(d2.clone(), None).await.unwrap();
    let d7 = key(PLAN, "a", "d7");
    let err = store
        .transact(vec![
            WriteOp::Create {
                key: d7.clone(),
                uid: uid_of(&d7),
                object: owned(&d7, json!([owner_ref("o-1")])),
            },
            WriteOp::Delete {
                key: d3.clone(),
                expected_revision: None,
            },
            WriteOp::Create {
                key: d1.clone(),
                uid: "x".into(),
                object: json!({}),
            },
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)));
    assert_eq!(
        names(store.list_owned_by("o-1").await.unwrap()),
        ["Plan a/d3"]
    );
    assert_eq!(
        names(store.list_owned_by("o-2").await.unwrap()),
        ["Plan a/d3"]
    );
    // Re-created, it is found again.
    put(&d2, owned(&d2, json!([owner_ref("o-2")]))).await;
    assert_eq!(
        names(store.list_owned_by("o-2").await.unwrap()),
        ["Goal b/d2", "Plan a/d3"]
    );
}
