//! Keyed concurrency leases: the runtime side of a Task's `concurrency`.
//!
//! A key of limit `n` is `n` store leases, `concurrency/<namespace>/<key>#0` … `#n-1`, each
//! held by at most one Task at a time (the store's leases are exclusive, carry a fencing
//! token and expire: see `planspec_store::Lease`). A holder is one runtime instance's claim
//! for one Execution node, written as JSON (`instance`, `execution`, `node`, `since`), so the
//! holders are visible to anyone who lists the leases.
//!
//! * **Waiting.** `AcquireLease` queues the node under its key, ordered by the Goal's
//!   `priority` (higher first), then first come first served. Only the queue's head tries
//!   for a free (or expired) slot, so nobody jumps the queue.
//! * **Held.** Every lease this runtime holds is renewed every third of the TTL; the queue is
//!   tried again on every release (at once) and every second (the backstop for leases that
//!   expired, or were released by another process).
//! * **Released** when the node ends (the engine's `ReleaseLease`), when its Execution is
//!   cancelled or deleted or its driver ends, and — when the runtime dies — by the TTL: a
//!   SIGKILLed runtime's leases stay held until they expire, then the next waiter takes them
//!   (with a new fencing token). Two holders never hold one slot; a lease is never leaked
//!   beyond its TTL.
//! * A node waiting shows it: `waitingOn` of its node record says `waiting for lease KEY
//!   (held by NS/EXECUTION/NODE)`.

use super::execution::{Driver, End, Msg};
use super::now_ms;
use planspec_engine::Input;
use planspec_store::Store;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// The prefix of every concurrency lease's name in the store.
pub const LEASE_PREFIX: &str = "concurrency/";

/// The default time a lease outlives its holder's last renewal.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);

/// How often the queues are tried again at most (the backstop for leases that expired or
/// were released by another process); less with a TTL under 3 s.
const QUEUE_POLL: Duration = Duration::from_secs(1);

/// The waiters at the head of a queue that are told who holds the key (and kept told).
const TOLD_IN_DETAIL: usize = 16;

/// Who holds a lease, as stored in the lease's `holder`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Holder {
    /// The runtime instance (one per server process).
    pub instance: String,
    /// `namespace/name` of the Execution.
    pub execution: String,
    /// The Execution's uid.
    pub uid: String,
    /// The node.
    pub node: String,
    /// When this tenure began (ms since the epoch).
    pub since: u64,
}

/// A lease as people see it: the store's lease with its key, slot and holder decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseView {
    /// The namespace of the key.
    pub namespace: String,
    /// The key.
    pub key: String,
    /// The slot (`0..limit`).
    pub slot: u32,
    /// The holder (`None` if the stored holder is not one this runtime writes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<Holder>,
    /// The stored holder, verbatim.
    pub holder_raw: String,
    /// The fencing token.
    pub token: u64,
    /// When it expires unless renewed (ms since the epoch).
    pub expires_at: i64,
    /// `false` if it has expired (a dead holder's lease, free to take).
    pub held: bool,
}

/// A node waiting for a lease, as people see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WaiterView {
    /// The namespace of the key.
    pub namespace: String,
    /// The key.
    pub key: String,
    /// `namespace/name` of the Execution.
    pub execution: String,
    /// The node.
    pub node: String,
    /// The Goal's priority.
    pub priority: u32,
    /// Since when it waits (ms since the epoch).
    pub since: u64,
}

/// The store name prefix of a key's slots: `concurrency/<namespace>/<key>#`.
fn slot_prefix(namespace: &str, key: &str) -> String {
    format!("{LEASE_PREFIX}{namespace}/{key}#")
}

/// The slot of a lease named `<prefix><digits>`.
fn slot_of(name: &str, prefix: &str) -> Option<u32> {
    let slot = name.strip_prefix(prefix)?;
    if slot.is_empty() || !slot.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    slot.parse().ok()
}

/// Splits a lease name into (namespace, key, slot), if it is a concurrency lease.
pub fn parse_name(name: &str) -> Option<(&str, &str, u32)> {
    let rest = name.strip_prefix(LEASE_PREFIX)?;
    let (namespace, rest) = rest.split_once('/')?;
    let (key, slot) = rest.rsplit_once('#')?;
    if slot.is_empty() || !slot.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((namespace, key, slot.parse().ok()?))
}

/// Decodes a store lease for people.
pub fn view(lease: &planspec_store::Lease, now: u64) -> Option<LeaseView> {
    let (namespace, key, slot) = parse_name(&lease.name)?;
    Some(LeaseView {
        namespace: namespace.to_owned(),
        key: key.to_owned(),
        slot,
        holder: serde_json::from_str(&lease.holder).ok(),
        holder_raw: lease.holder.clone(),
        token: lease.token,
        expires_at: lease.expires_at_ms,
        held: lease.is_held_at(i64::try_from(now).unwrap_or(i64::MAX)),
    })
}

/// What a driver asks for.
pub(crate) struct Request {
    pub(crate) uid: String,
    pub(crate) namespace: String,
    pub(crate) execution: String,
    pub(crate) node: String,
    pub(crate) key: String,
    pub(crate) limit: u32,
    pub(crate) priority: u32,
    pub(crate) inbox: UnboundedSender<Msg>,
}

struct Waiter {
    request: Request,
    seq: u64,
    since: u64,
    /// The last `waitingOn` message sent to the driver.
    told: Option<String>,
}

struct Held {
    name: String,
    holder: String,
    token: u64,
    prefix: String,
}

#[derive(Default)]
struct Inner {
    /// Slot prefix → its waiters, in the order they are served.
    waiting: BTreeMap<String, Vec<Waiter>>,
    /// (uid, node) → the lease held.
    held: HashMap<(String, String), Held>,
    seq: u64,
}

/// The runtime's lease manager (one per runtime instance).
pub(crate) struct LeaseManager {
    store: Arc<dyn Store>,
    instance: String,
    ttl: Duration,
    inner: Mutex<Inner>,
    /// One pass over the queues at a time, so a waiter is never granted twice.
    pump: tokio::sync::Mutex<()>,
}

impl LeaseManager {
    pub(crate) fn new(store: Arc<dyn Store>, ttl: Duration) -> LeaseManager {
        LeaseManager {
            store,
            instance: instance_id(),
            ttl: ttl.max(Duration::from_millis(100)),
            inner: Mutex::new(Inner::default()),
            pump: tokio::sync::Mutex::new(()),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX)
    }

    /// Queues `request` (replacing an earlier one of the same node) and tries to grant.
    pub(crate) async fn acquire(&self, request: Request) {
        let prefix = slot_prefix(&request.namespace, &request.key);
        // Asked again for a lease it holds (its driver was restarted): taken anew.
        let held = self
            .inner()
            .held
            .remove(&(request.uid.clone(), request.node.clone()));
        if let Some(held) = held {
            let _ = self
                .store
                .release_lease(&held.name, &held.holder, held.token)
                .await;
        }
        {
            let mut inner = self.inner();
            remove_waiter(&mut inner, &request.uid, Some(&request.node));
            inner.seq += 1;
            let seq = inner.seq;
            let queue = inner.waiting.entry(prefix.clone()).or_default();
            let waiter = Waiter {
                request,
                seq,
                since: now_ms(),
                told: None,
            };
            let at = queue
                .iter()
                .position(|w| {
                    (std::cmp::Reverse(w.request.priority), w.seq)
                        > (std::cmp::Reverse(waiter.request.priority), waiter.seq)
                })
                .unwrap_or(queue.len());
            queue.insert(at, waiter);
        }
        self.pump(&prefix).await;
    }

    /// Gives up the lease of `node` of `uid`: releases the slot held, or stops waiting.
    pub(crate) async fn release(&self, uid: &str, node: &str) {
        let (held, prefixes) = {
            let mut inner = self.inner();
            let held = inner.held.remove(&(uid.to_owned(), node.to_owned()));
            let prefixes = remove_waiter(&mut inner, uid, Some(node));
            (held, prefixes)
        };
        self.settle(held.into_iter().collect(), prefixes).await;
    }

    /// Gives up every lease of Execution `uid` (its driver ended).
    pub(crate) async fn release_all(&self, uid: &str) {
        let (held, prefixes) = {
            let mut inner = self.inner();
            let ids: Vec<(String, String)> = inner
                .held
                .keys()
                .filter(|(u, _)| u == uid)
                .cloned()
                .collect();
            let held: Vec<Held> = ids.iter().filter_map(|id| inner.held.remove(id)).collect();
            let prefixes = remove_waiter(&mut inner, uid, None);
            (held, prefixes)
        };
        self.settle(held, prefixes).await;
    }

    async fn settle(&self, held: Vec<Held>, mut prefixes: Vec<String>) {
        for lease in held {
            if let Err(e) = self
                .store
                .release_lease(&lease.name, &lease.holder, lease.token)
                .await
            {
                eprintln!(
                    "planspec: runtime: releasing lease {}: {e} (it expires with its TTL)",
                    lease.name
                );
            }
            prefixes.push(lease.prefix);
        }
        prefixes.sort();
        prefixes.dedup();
        for prefix in prefixes {
            self.pump(&prefix).await;
        }
    }

    /// Grants slots of `prefix` to its waiters, head first, while slots are free.
    async fn pump(&self, prefix: &str) {
        let _one = self.pump.lock().await;
        loop {
            let head = {
                let inner = self.inner();
                let Some(w) = inner.waiting.get(prefix).and_then(|q| q.first()) else {
                    return;
                };
                (w.seq, w.request.limit)
            };
            let now = now_ms();
            let leases = match self.store.list_leases(prefix).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("planspec: runtime: listing leases {prefix}: {e}; retrying");
                    return;
                }
            };
            let now_i = i64::try_from(now).unwrap_or(i64::MAX);
            let taken: BTreeMap<u32, &planspec_store::Lease> = leases
                .iter()
                .filter(|l| l.is_held_at(now_i))
                .filter_map(|l| slot_of(&l.name, prefix).map(|slot| (slot, l)))
                .collect();
            let free = (0..head.1).find(|slot| !taken.contains_key(slot));
            let Some(slot) = free else {
                self.tell_waiters(prefix, &taken);
                return;
            };
            let (holder, name, request) = {
                let inner = self.inner();
                let Some(w) = inner.waiting.get(prefix).and_then(|q| q.first()) else {
                    return;
                };
                if w.seq != head.0 {
                    continue;
                }
                let holder = Holder {
                    instance: self.instance.clone(),
                    execution: w.request.execution.clone(),
                    uid: w.request.uid.clone(),
                    node: w.request.node.clone(),
                    since: now,
                };
                (
                    serde_json::to_string(&holder).unwrap_or_default(),
                    format!("{prefix}{slot}"),
                    (w.request.uid.clone(), w.request.node.clone()),
                )
            };
            let lease = match self
                .store
                .acquire_lease(&name, &holder, self.ttl_ms(), now_i)
                .await
            {
                Ok(Some(lease)) => lease,
                // Taken meanwhile (another process): look again on the next tick.
                Ok(None) => return,
                Err(e) => {
                    eprintln!("planspec: runtime: acquiring lease {name}: {e}; retrying");
                    return;
                }
            };
            let granted = {
                let mut inner = self.inner();
                let queue = inner.waiting.get_mut(prefix);
                let waiter = queue.and_then(|q| {
                    let at = q.iter().position(|w| {
                        (w.request.uid.as_str(), w.request.node.as_str())
                            == (request.0.as_str(), request.1.as_str())
                    })?;
                    Some(q.remove(at))
                });
                if inner.waiting.get(prefix).is_some_and(Vec::is_empty) {
                    inner.waiting.remove(prefix);
                }
                if let Some(w) = &waiter {
                    inner.held.insert(
                        request.clone(),
                        Held {
                            name: name.clone(),
                            holder: holder.clone(),
                            token: lease.token,
                            prefix: prefix.to_owned(),
                        },
                    );
                    let _ = w.request.inbox.send(Msg::Waiting {
                        node: w.request.node.clone(),
                        message: None,
                    });
                    let _ = w.request.inbox.send(Msg::Input(Input::LeaseAcquired {
                        at: now_ms(),
                        node: w.request.node.as_str().into(),
                        key: w.request.key.clone(),
                        slot,
                        token: lease.token,
                        holder: holder.clone(),
                    }));
                }
                waiter
            };
            if granted.is_none() {
                // The waiter left while the lease was taken: give it back.
                let _ = self.store.release_lease(&name, &holder, lease.token).await;
            }
        }
    }

    /// Tells the first waiters of `prefix` who holds the key (once per change; the others
    /// once that they are queued, so a long queue costs no write per grant).
    fn tell_waiters(&self, prefix: &str, taken: &BTreeMap<u32, &planspec_store::Lease>) {
        let holders: Vec<String> = taken
            .values()
            .map(|l| match serde_json::from_str::<Holder>(&l.holder) {
                Ok(h) => format!("{}/{}", h.execution, h.node),
                Err(_) => l.holder.clone(),
            })
            .collect();
        let mut inner = self.inner();
        let Some(queue) = inner.waiting.get_mut(prefix) else {
            return;
        };
        for (ahead, w) in queue.iter_mut().enumerate() {
            let message = if ahead < TOLD_IN_DETAIL {
                let mut message = format!(
                    "waiting for lease {} (held by {})",
                    w.request.key,
                    if holders.is_empty() {
                        "nobody".to_owned()
                    } else {
                        holders.join(", ")
                    }
                );
                if ahead > 0 {
                    message.push_str(&format!("; {ahead} waiting ahead"));
                }
                message
            } else {
                format!(
                    "waiting for lease {} (queued behind {TOLD_IN_DETAIL} or more others)",
                    w.request.key
                )
            };
            if w.told.as_deref() != Some(message.as_str()) {
                let _ = w.request.inbox.send(Msg::Waiting {
                    node: w.request.node.clone(),
                    message: Some(message.clone()),
                });
                w.told = Some(message);
            }
        }
    }

    /// Renews the leases held every third of the TTL and tries every queue again every
    /// second (or third of the TTL, if shorter), until `stop` says so.
    pub(crate) async fn tick(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let renew_every = (self.ttl / 3).max(Duration::from_millis(30));
        let every = renew_every.min(QUEUE_POLL);
        let mut renewed = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            if renewed.elapsed() + every / 2 >= renew_every {
                renewed = tokio::time::Instant::now();
                self.renew().await;
            }
            let prefixes: Vec<String> = self.inner().waiting.keys().cloned().collect();
            for prefix in prefixes {
                self.pump(&prefix).await;
            }
        }
    }

    /// Extends every lease this runtime holds by the TTL.
    async fn renew(&self) {
        let held: Vec<(String, String, String, u64)> = self
            .inner()
            .held
            .iter()
            .map(|(id, h)| (id.0.clone(), h.name.clone(), h.holder.clone(), h.token))
            .collect();
        for (uid, name, holder, token) in held {
            let now = i64::try_from(now_ms()).unwrap_or(i64::MAX);
            match self
                .store
                .renew_lease(&name, &holder, token, self.ttl_ms(), now)
                .await
            {
                Ok(Some(_)) => {}
                Ok(None) => {
                    // Not ours any more: forget it (its node keeps running; see the docs).
                    eprintln!(
                        "planspec: runtime: execution {uid}: lease {name} was lost (it expired before it could be renewed)"
                    );
                    self.inner()
                        .held
                        .retain(|_, h| !(h.name == name && h.token == token));
                }
                Err(e) => eprintln!("planspec: runtime: renewing lease {name}: {e}"),
            }
        }
    }

    /// The nodes waiting, in the order they will be served (per key).
    pub(crate) fn waiters(&self) -> Vec<WaiterView> {
        let inner = self.inner();
        inner
            .waiting
            .values()
            .flatten()
            .map(|w| WaiterView {
                namespace: w.request.namespace.clone(),
                key: w.request.key.clone(),
                execution: w.request.execution.clone(),
                node: w.request.node.clone(),
                priority: w.request.priority,
                since: w.since,
            })
            .collect()
    }
}

impl Driver {
    /// `AcquireLease`: queues the node for a slot of its key (in this Execution's namespace).
    pub(crate) async fn acquire_lease(
        &mut self,
        node: String,
        key: String,
        limit: u32,
        priority: u32,
    ) {
        let request = Request {
            uid: self.uid.clone(),
            namespace: self.key.namespace.clone(),
            execution: format!("{}/{}", self.key.namespace, self.key.name),
            node,
            key,
            limit,
            priority,
            inbox: self.tx.clone(),
        };
        self.shared.leases.acquire(request).await;
    }

    /// `ReleaseLease`: the node gives up the slot it holds, or stops waiting.
    pub(crate) async fn release_lease(&mut self, node: &str) {
        self.shared.leases.release(&self.uid, node).await;
        if let Some(run) = self.run.as_mut() {
            if run.extras.waiting_on.remove(node).is_some() {
                let _ = self.write_nodes(&[node]).await;
            }
        }
    }

    /// Shows (or clears) what a node waits for outside the engine.
    pub(crate) async fn waiting(
        &mut self,
        node: String,
        message: Option<String>,
    ) -> Result<(), End> {
        let Some(run) = self.run.as_mut() else {
            return Ok(());
        };
        let open = run.exec.node(&node).is_some_and(|n| !n.phase.is_terminal());
        let changed = match message {
            Some(message) if open => {
                run.extras.waiting_on.insert(node.clone(), message.clone()) != Some(message)
            }
            _ => run.extras.waiting_on.remove(&node).is_some(),
        };
        if changed {
            self.write_nodes(&[&node]).await?;
        }
        Ok(())
    }
}

/// Removes the waiters of `uid` (of `node` only, if given); returns the prefixes they left.
fn remove_waiter(inner: &mut Inner, uid: &str, node: Option<&str>) -> Vec<String> {
    let mut left = Vec::new();
    inner.waiting.retain(|prefix, queue| {
        let before = queue.len();
        queue.retain(|w| !(w.request.uid == uid && node.is_none_or(|n| w.request.node == n)));
        if queue.len() != before {
            left.push(prefix.clone());
        }
        !queue.is_empty()
    });
    left
}

/// An id for this runtime instance: host, process id and start time, so a restarted server
/// (or another one) is a different holder.
fn instance_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{host}-{}-{}", std::process::id(), now_ms())
}

#[cfg(test)]
mod tests {
    use super::*;
    use planspec_store::{SqliteOptions, SqliteStore};
    use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

    fn request(uid: &str, priority: u32) -> (Request, UnboundedReceiver<Msg>) {
        let (inbox, rx) = unbounded_channel();
        let request = Request {
            uid: uid.into(),
            namespace: "ns".into(),
            execution: format!("ns/{uid}"),
            node: "deploy".into(),
            key: "k".into(),
            limit: 1,
            priority,
            inbox,
        };
        (request, rx)
    }

    /// The grant a driver received, if any: (slot, token, holder).
    fn granted(rx: &mut UnboundedReceiver<Msg>) -> Option<(u32, u64, Holder)> {
        while let Ok(msg) = rx.try_recv() {
            if let Msg::Input(Input::LeaseAcquired {
                slot,
                token,
                holder,
                ..
            }) = msg
            {
                return Some((slot, token, serde_json::from_str(&holder).unwrap()));
            }
        }
        None
    }

    async fn eventually(rx: &mut UnboundedReceiver<Msg>) -> (u32, u64, Holder) {
        for _ in 0..100 {
            if let Some(g) = granted(rx) {
                return g;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no grant within 2 s")
    }

    #[tokio::test]
    async fn a_dead_holder_blocks_until_its_ttl_then_waiters_are_served_by_priority() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(dir.path().join("s.db"), SqliteOptions::default())
                .await
                .unwrap(),
        );
        let now = i64::try_from(now_ms()).unwrap();
        let dead = store
            .acquire_lease("concurrency/ns/k#0", "a dead runtime", 600, now)
            .await
            .unwrap()
            .unwrap();
        let manager = Arc::new(LeaseManager::new(store.clone(), Duration::from_millis(300)));
        let (stop, watch) = tokio::sync::watch::channel(false);
        tokio::spawn(manager.clone().tick(watch));

        let (low, mut low_rx) = request("low", 0);
        let (high, mut high_rx) = request("high", 9);
        let (mid, mut mid_rx) = request("mid", 5);
        manager.acquire(low).await;
        manager.acquire(high).await;
        manager.acquire(mid).await;
        assert!(granted(&mut low_rx).is_none() && granted(&mut high_rx).is_none());
        let order: Vec<String> = manager.waiters().into_iter().map(|w| w.execution).collect();
        assert_eq!(order, ["ns/high", "ns/mid", "ns/low"]);

        // Taken over once the dead holder's lease expired, with a newer token.
        let (slot, token, holder) = eventually(&mut high_rx).await;
        assert!(now_ms() >= u64::try_from(dead.expires_at_ms).unwrap());
        assert_eq!((slot, holder.execution.as_str()), (0, "ns/high"));
        assert!(token > dead.token);
        assert!(granted(&mut mid_rx).is_none(), "never two holders");

        // Held across several TTLs by renewal.
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert!(granted(&mut mid_rx).is_none());
        let stored = store.list_leases("concurrency/ns/k#").await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].token, token);

        // Each release hands the slot to the next waiter at once.
        manager.release("high", "deploy").await;
        let (_, mid_token, _) = granted(&mut mid_rx).expect("mid at once");
        assert!(granted(&mut low_rx).is_none());
        manager.release_all("mid").await;
        let (_, low_token, _) = granted(&mut low_rx).expect("low at once");
        assert!(low_token > mid_token && mid_token > token);
        manager.release("low", "deploy").await;
        assert!(store.list_leases("").await.unwrap().is_empty());
        let _ = stop.send(true);
    }

    #[tokio::test]
    async fn a_waiter_that_leaves_is_not_granted() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(dir.path().join("s.db"), SqliteOptions::default())
                .await
                .unwrap(),
        );
        let manager = LeaseManager::new(store.clone(), Duration::from_secs(30));
        let (first, mut first_rx) = request("first", 0);
        let (second, mut second_rx) = request("second", 0);
        manager.acquire(first).await;
        assert!(granted(&mut first_rx).is_some());
        manager.acquire(second).await;
        manager.release("second", "deploy").await;
        manager.release("first", "deploy").await;
        assert!(granted(&mut second_rx).is_none());
        assert!(manager.waiters().is_empty());
        assert!(store.list_leases("").await.unwrap().is_empty());
    }

    #[test]
    fn names_split_into_namespace_key_and_slot() {
        assert_eq!(
            parse_name("concurrency/prod/deploy-eu#0"),
            Some(("prod", "deploy-eu", 0))
        );
        assert_eq!(parse_name("concurrency/ns/a#b#12"), Some(("ns", "a#b", 12)));
        assert_eq!(parse_name("concurrency/ns/a/b#3"), Some(("ns", "a/b", 3)));
        assert_eq!(parse_name("concurrency/ns/a#"), None);
        assert_eq!(parse_name("concurrency/ns/a#x"), None);
        assert_eq!(parse_name("exec/run"), None);
    }
}
