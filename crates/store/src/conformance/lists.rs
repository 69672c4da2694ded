//! Lists: key order, paging, one snapshot per page, label and field selectors, the label index.

use super::*;

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

/// The selectors the label-index cases try: equality and `in` terms (which a store may serve
/// from an index) alone and mixed with every other kind of term.
const INDEX_SELECTORS: &[&str] = &[
    "shard=3",
    "shard==3",
    "shard in (3,4)",
    "app=web",
    "app=web,shard=3",
    "shard=3,app=web",
    "app=web,shard in (1,2),tier",
    "app=web,tier!=front",
    "shard=3,!tier",
    "app in (web,api),shard notin (1)",
    "app=web,size>2",
    "app=web,app=api",
    "shard=99",
    "tier=",
    "app=web,tier in (front,)",
    "!tier,shard!=3",
];

/// Every selector of [`INDEX_SELECTORS`], in every namespace and in `a`, unpaged and in
/// pages of 7, gives exactly what the in-memory filter gives over an unfiltered list.
async fn lists_agree_with_filter(store: &dyn Store, when: &str) {
    let everything = list_all(store, PLAN).await;
    for selector in INDEX_SELECTORS {
        for namespace in [None, Some("a")] {
            let q = ListQuery {
                namespace: namespace.map(str::to_owned),
                label_selector: Selector::parse(selector).unwrap(),
                ..ListQuery::all(PLAN)
            };
            let want: Vec<&StoredObject> = everything.iter().filter(|o| q.matches(o)).collect();
            let got = store.list(&q).await.unwrap();
            assert_eq!(
                got.items.iter().collect::<Vec<_>>(),
                want,
                "{when}: {selector:?} in {namespace:?}"
            );
            let mut paged = Vec::new();
            let mut page_q = ListQuery {
                limit: Some(7),
                ..q.clone()
            };
            loop {
                let page = store.list(&page_q).await.unwrap();
                paged.extend(page.items.iter().map(|o| o.key.clone()));
                match page.continue_after {
                    Some(after) => {
                        assert_eq!(page.items.len(), 7, "a page with more to come is full");
                        page_q.continue_after = Some(after);
                    }
                    None => break,
                }
            }
            assert_eq!(
                paged,
                want.iter().map(|o| o.key.clone()).collect::<Vec<_>>(),
                "{when}: {selector:?} in {namespace:?}, pages of 7"
            );
        }
    }
}

/// Lists with label selectors stay exact while labels are added, changed, removed, made
/// non-strings, and objects deleted and re-created; failed transactions leave no trace.
pub async fn label_index_follows_writes(store: Arc<dyn Store>) {
    let store = &*store;
    let apps = ["web", "api", "db"];
    let labels_of = |i: usize, round: usize| -> Vec<(String, String)> {
        let mut labels = vec![
            ("app".to_owned(), apps[(i + round) % 3].to_owned()),
            ("shard".to_owned(), ((i * 7 + round) % 10).to_string()),
            ("size".to_owned(), (i % 5).to_string()),
        ];
        match (i + round) % 4 {
            0 => labels.push(("tier".into(), "front".into())),
            1 => labels.push(("tier".into(), String::new())),
            2 => labels.push(("tier".into(), "back".into())),
            _ => {}
        }
        labels
    };
    let object = |k: &ObjectKey, labels: &[(String, String)]| {
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        doc(k, &pairs, json!({}))
    };
    let keys: Vec<ObjectKey> = (0..120)
        .map(|i| key(PLAN, ["a", "b", "c"][i % 3], &format!("p{i:03}")))
        .collect();
    for (i, k) in keys.iter().enumerate() {
        store
            .create(k.clone(), uid_of(k), object(k, &labels_of(i, 0)))
            .await
            .unwrap();
        // The same labels on another kind must not leak into Plan lists.
        let g = key(GOAL, &k.namespace, &k.name);
        store
            .create(g.clone(), uid_of(&g), object(&g, &labels_of(i, 1)))
            .await
            .unwrap();
    }
    lists_agree_with_filter(store, "after creates").await;

    for (i, k) in keys.iter().enumerate() {
        let op = match i % 6 {
            0 => WriteOp::Update {
                key: k.clone(),
                expected_revision: None,
                object: object(k, &labels_of(i, 1)),
            },
            1 => WriteOp::Update {
                key: k.clone(),
                expected_revision: None,
                object: json!({ "metadata": { "name": k.name } }),
            },
            2 => WriteOp::Update {
                key: k.clone(),
                expected_revision: None,
                object: json!({ "metadata": { "labels": { "app": 1, "shard": null, "tier": "front" } } }),
            },
            3 => WriteOp::Delete {
                key: k.clone(),
                expected_revision: None,
            },
            // Unchanged labels, changed spec.
            4 => WriteOp::Update {
                key: k.clone(),
                expected_revision: None,
                object: {
                    let mut o = object(k, &labels_of(i, 0));
                    o["spec"] = json!({ "changed": true });
                    o
                },
            },
            _ => continue,
        };
        store.transact(vec![op]).await.unwrap();
    }
    lists_agree_with_filter(store, "after updates and deletes").await;

    // Re-created with other labels; a failed transaction changes no label.
    for (i, k) in keys.iter().enumerate().filter(|(i, _)| i % 6 == 3) {
        store
            .create(k.clone(), uid_of(k), object(k, &labels_of(i, 2)))
            .await
            .unwrap();
    }
    let taken = keys[0].clone();
    for (i, k) in keys.iter().enumerate().filter(|(i, _)| i % 6 == 5) {
        let err = store
            .transact(vec![
                WriteOp::Update {
                    key: k.clone(),
                    expected_revision: None,
                    object: object(k, &labels_of(i, 3)),
                },
                WriteOp::Create {
                    key: taken.clone(),
                    uid: "x".into(),
                    object: json!({}),
                },
            ])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::AlreadyExists(_)));
    }
    lists_agree_with_filter(store, "after re-creates and failed updates").await;
}

/// Every page of a list with a label selector is exactly the selected state at its revision,
/// while writers keep moving labels.
pub async fn selector_list_is_one_snapshot(store: Arc<dyn Store>) {
    let keys: Vec<ObjectKey> = (0..16)
        .map(|i| {
            key(
                PLAN,
                if i % 2 == 0 { "even" } else { "odd" },
                &format!("o{i:02}"),
            )
        })
        .collect();
    let colored = |k: &ObjectKey, round: usize, i: usize| {
        let color = if (round + i) % 3 == 0 { "red" } else { "blue" };
        doc(
            k,
            &[("color", color), ("app", "x")],
            json!({ "round": round }),
        )
    };
    for (i, k) in keys.iter().enumerate() {
        store
            .create(k.clone(), uid_of(k), colored(k, 0, i))
            .await
            .unwrap();
    }
    let writer = {
        let store = store.clone();
        let keys = keys.clone();
        tokio::spawn(async move {
            for round in 1..=20 {
                for (i, k) in keys.iter().enumerate() {
                    let j = (i + 5) % keys.len();
                    let other = &keys[j];
                    // Two label moves per transaction, so a torn read would show.
                    let ops = if (round + i) % 11 == 0 {
                        vec![WriteOp::Delete {
                            key: k.clone(),
                            expected_revision: None,
                        }]
                    } else if store.get(k).await.unwrap().is_none() {
                        vec![WriteOp::Create {
                            key: k.clone(),
                            uid: uid_of(k),
                            object: colored(k, round, i),
                        }]
                    } else {
                        vec![
                            WriteOp::Update {
                                key: k.clone(),
                                expected_revision: None,
                                object: colored(k, round, i),
                            },
                            WriteOp::Update {
                                key: other.clone(),
                                expected_revision: None,
                                object: colored(other, round, j + 1),
                            },
                        ]
                    };
                    let _ = store.transact(ops).await;
                }
            }
        })
    };
    let queries: Vec<ListQuery> = ["color=red", "color=red,app=x", "color in (red),app"]
        .iter()
        .flat_map(|s| {
            [None, Some("odd".to_owned())].map(|namespace| ListQuery {
                namespace,
                label_selector: Selector::parse(s).unwrap(),
                ..ListQuery::all(PLAN)
            })
        })
        .collect();
    let mut pages = Vec::new();
    while !writer.is_finished() {
        for q in &queries {
            pages.push((q.clone(), store.list(q).await.unwrap()));
        }
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();
    let log = store.changes_since(0, 0).await.unwrap().changes;
    assert!(pages.len() > queries.len(), "the test listed while writing");
    for (q, page) in &pages {
        let want: Vec<StoredObject> = replay(&log, page.revision)
            .into_values()
            .filter(|o| q.matches(o))
            .collect();
        assert_eq!(
            page.items, want,
            "{:?} at revision {} is not the selected state at that revision",
            q.label_selector, page.revision
        );
    }
}
