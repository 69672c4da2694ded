//! Leases.

use super::*;

/// Acquire, renew, expire, release and list leases; tokens increase with every new tenure
/// (across leases and releases) and stay the same across renewals; leases take no revision.
pub async fn lease_lifecycle(store: Arc<dyn Store>) {
    let store = &*store;
    let before = current(store).await;
    let a = store
        .acquire_lease("exec/a", "h1", 1000, 0)
        .await
        .unwrap()
        .expect("a free lease is acquired");
    assert_eq!(
        (a.name.as_str(), a.holder.as_str(), a.expires_at_ms),
        ("exec/a", "h1", 1000)
    );
    assert!(a.is_held_at(999) && !a.is_held_at(1000));
    assert_eq!(
        store
            .acquire_lease("exec/a", "h2", 1000, 500)
            .await
            .unwrap(),
        None,
        "held by another"
    );
    let again = store
        .acquire_lease("exec/a", "h1", 1000, 600)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (again.token, again.expires_at_ms),
        (a.token, 1600),
        "the holder re-acquiring renews: same token"
    );
    let renewed = store
        .renew_lease("exec/a", "h1", a.token, 1000, 1500)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((renewed.token, renewed.expires_at_ms), (a.token, 2500));
    assert_eq!(
        store
            .renew_lease("exec/a", "h1", a.token + 1, 1000, 1500)
            .await
            .unwrap(),
        None,
        "another token"
    );
    assert_eq!(
        store
            .renew_lease("exec/a", "h2", a.token, 1000, 1500)
            .await
            .unwrap(),
        None,
        "another holder"
    );
    assert!(!store.release_lease("exec/a", "h2", a.token).await.unwrap());

    // Expired at 2500: another holder takes it with a greater token; the old tenure is over.
    let b = store
        .acquire_lease("exec/a", "h2", 1000, 2500)
        .await
        .unwrap()
        .expect("an expired lease is acquired");
    assert!(b.token > a.token, "{} > {}", b.token, a.token);
    assert_eq!(
        store
            .renew_lease("exec/a", "h1", a.token, 1000, 2600)
            .await
            .unwrap(),
        None
    );
    assert!(!store.release_lease("exec/a", "h1", a.token).await.unwrap());

    let c = store
        .acquire_lease("exec/b", "h1", 1000, 2500)
        .await
        .unwrap()
        .unwrap();
    let d = store
        .acquire_lease("other", "h3", 1000, 2500)
        .await
        .unwrap()
        .unwrap();
    assert!(d.token > c.token && c.token > b.token);
    let listed = |prefix: &'static str| async move {
        store
            .list_leases(prefix)
            .await
            .unwrap()
            .into_iter()
            .map(|l| (l.name, l.holder, l.token))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        listed("exec/").await,
        [
            ("exec/a".to_owned(), "h2".to_owned(), b.token),
            ("exec/b".to_owned(), "h1".to_owned(), c.token)
        ]
    );
    assert_eq!(listed("").await.len(), 3);
    assert_eq!(listed("exec/a").await.len(), 1);
    assert!(listed("exec/c").await.is_empty());
    assert_eq!(store.list_leases("exec/").await.unwrap()[0], b);

    assert!(store.release_lease("exec/a", "h2", b.token).await.unwrap());
    assert!(
        !store.release_lease("exec/a", "h2", b.token).await.unwrap(),
        "released once"
    );
    assert_eq!(listed("exec/").await.len(), 1);
    let e = store
        .acquire_lease("exec/a", "h1", 1000, 2600)
        .await
        .unwrap()
        .unwrap();
    assert!(e.token > d.token, "tokens keep growing after a release");
    // The same holder after expiry: a new tenure, a new token.
    let f = store
        .acquire_lease("exec/a", "h1", 1000, 10_000)
        .await
        .unwrap()
        .unwrap();
    assert!(f.token > e.token);
    assert_eq!(current(store).await, before, "leases take no revision");
}

/// Many holders racing for one lease: exactly one gets it, each time it is free.
pub async fn lease_contenders_one_winner(store: Arc<dyn Store>) {
    let mut last = 0;
    for now in [0, 20_000, 40_000] {
        let tasks: Vec<_> = (0..16)
            .map(|h| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .acquire_lease("mutex", &format!("h{h}"), 10_000, now)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            winners.extend(t.await.unwrap());
        }
        assert_eq!(winners.len(), 1, "at {now}: {winners:?}");
        assert!(winners[0].token > last);
        last = winners[0].token;
        assert_eq!(store.list_leases("mutex").await.unwrap(), winners);
    }
}
