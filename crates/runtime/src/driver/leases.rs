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
//!   beyond its TTL. A release waits for the node's attempt tasks still in flight (a killed
//!   process in its grace period): the lease is kept and renewed (`draining`) until they
//!   have returned.
//! * **Limits.** The smallest `limit` among a key's holders (recorded in the holder) and the
//!   head waiter applies, so a mutex holder never shares its key.
//! * A node waiting shows it: `waitingOn` of its node record says `waiting for lease KEY
//!   (held by NS/EXECUTION/NODE)`.

use super::execution::{Driver, End, Msg};
use super::now_ms;
use crate::CancellationToken;
use planspec_engine::Input;
use planspec_store::Store;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::BTreeMap;
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
    /// The key's `limit` the holder asked with (absent in holders written before it was
    /// recorded): the smallest limit among a key's holders and its next waiter applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
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
    since: u64,
    /// The last `waitingOn` message sent to the driver.
    told: Option<String>,
}

struct Held {
    uid: String,
    name: String,
    holder: String,
    token: u64,
    prefix: String,
}

/// A waiter's place in its key's queue: (reverse priority, arrival).
type QueueKey = (Reverse<u32>, u64);

/// (Execution uid, node).
type NodeId = (String, String);

#[derive(Default)]
struct Inner {
    /// Slot prefix → its waiters, in the order they are served.
    waiting: BTreeMap<String, BTreeMap<QueueKey, Waiter>>,
    /// (uid, node) → where its waiter is queued (so leaving costs no scan of the queues).
    queued: BTreeMap<NodeId, (String, QueueKey)>,
    /// (uid, node) → the lease held.
    held: BTreeMap<NodeId, Held>,
    /// Leases given up whose holder's work is still stopping (a killed process in its grace
    /// period): kept (and renewed) until that work is gone, then released.
    draining: BTreeMap<u64, Held>,
    seq: u64,
}

impl Inner {
    /// Takes out the leases `uid` holds (of `node` only, if given).
    fn take_held(&mut self, uid: &str, node: Option<&str>) -> Vec<Held> {
        let ids: Vec<NodeId> = match node {
            Some(node) => vec![(uid.to_owned(), node.to_owned())],
            None => self
                .held
                .range((uid.to_owned(), String::new())..)
                .take_while(|((u, _), _)| u == uid)
                .map(|(id, _)| id.clone())
                .collect(),
        };
        ids.iter().filter_map(|id| self.held.remove(id)).collect()
    }
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
        let held = self.inner().take_held(&request.uid, Some(&request.node));
        for held in held {
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
            let at = (Reverse(request.priority), seq);
            inner.queued.insert(
                (request.uid.clone(), request.node.clone()),
                (prefix.clone(), at),
            );
            let queue = inner.waiting.entry(prefix.clone()).or_default();
            let mut waiter = Waiter {
                request,
                since: now_ms(),
                told: None,
            };
            // Deep in a long queue: told once that it is queued (only the first waiters are
            // kept told in detail, so a long queue costs no message per grant).
            if queue.len() >= TOLD_IN_DETAIL {
                let message = format!(
                    "waiting for lease {} (queued behind {TOLD_IN_DETAIL} or more others)",
                    waiter.request.key
                );
                let _ = waiter.request.inbox.send(Msg::Waiting {
                    node: waiter.request.node.clone(),
                    message: Some(message.clone()),
                });
                waiter.told = Some(message);
            }
            queue.insert(at, waiter);
        }
        self.pump(&prefix).await;
    }

    /// Gives up the lease of `node` of `uid`: stops waiting, and releases the slot held —
    /// once the work in `after` is gone (the done-tokens of the node's attempts still in
    /// flight, such as a killed process in its grace period), so two holders never run at
    /// once. Until then the lease stays held (and renewed) for that stopping work.
    pub(crate) async fn release(
        self: &Arc<Self>,
        uid: &str,
        node: &str,
        after: Vec<CancellationToken>,
    ) {
        let (held, prefixes) = {
            let mut inner = self.inner();
            let held = inner.take_held(uid, Some(node));
            let prefixes = remove_waiter(&mut inner, uid, Some(node));
            (held, prefixes)
        };
        self.settle_after(held, prefixes, after).await;
    }

    /// Gives up every lease of Execution `uid` (its driver ended); the slots held are
    /// released once the work in `after` is gone (see [`LeaseManager::release`]).
    pub(crate) async fn release_all(self: &Arc<Self>, uid: &str, after: Vec<CancellationToken>) {
        let (held, prefixes) = {
            let mut inner = self.inner();
            let held = inner.take_held(uid, None);
            let prefixes = remove_waiter(&mut inner, uid, None);
            (held, prefixes)
        };
        self.settle_after(held, prefixes, after).await;
    }

    /// Releases `held` at once if nothing in `after` still runs, else when it is all gone
    /// (in a task of its own; the leases are renewed meanwhile).
    async fn settle_after(
        self: &Arc<Self>,
        held: Vec<Held>,
        prefixes: Vec<String>,
        after: Vec<CancellationToken>,
    ) {
        let after: Vec<CancellationToken> =
            after.into_iter().filter(|t| !t.is_cancelled()).collect();
        if after.is_empty() || held.is_empty() {
            return self.settle(held, prefixes).await;
        }
        let ids: Vec<u64> = {
            let mut inner = self.inner();
            held.into_iter()
                .map(|h| {
                    inner.seq += 1;
                    let id = inner.seq;
                    inner.draining.insert(id, h);
                    id
                })
                .collect()
        };
        // The queues its waiters left are served now; the slots held follow later.
        self.settle(Vec::new(), prefixes).await;
        let this = self.clone();
        tokio::spawn(async move {
            for done in after {
                done.cancelled().await;
            }
            let held: Vec<Held> = {
                let mut inner = this.inner();
                ids.iter()
                    .filter_map(|id| inner.draining.remove(id))
                    .collect()
            };
            this.settle(held, Vec::new()).await;
        });
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
    ///
    /// A key's holders may have asked with different `limit`s (two Plans sharing a key): the
    /// smallest limit among the holders and the head waiter applies — the head is granted
    /// only while fewer than that many hold the key, so a node that asked for a mutex never
    /// runs beside another holder, whatever the others asked.
    async fn pump(&self, prefix: &str) {
        let _one = self.pump.lock().await;
        loop {
            let head = {
                let inner = self.inner();
                let Some((at, w)) = inner.waiting.get(prefix).and_then(|q| q.first_key_value())
                else {
                    return;
                };
                (*at, w.request.limit)
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
            let holders_limit = taken
                .values()
                .filter_map(|l| serde_json::from_str::<Holder>(&l.holder).ok()?.limit)
                .min();
            let limit = head.1.min(holders_limit.unwrap_or(u32::MAX));
            let free = if taken.len() < usize::try_from(limit).unwrap_or(usize::MAX) {
                // Fewer than `head.1` are taken, so one of `0..head.1` is free.
                (0..head.1).find(|slot| !taken.contains_key(slot))
            } else {
                None
            };
            let Some(slot) = free else {
                self.tell_waiters(prefix, &taken, holders_limit);
                return;
            };
            let (holder, name, request) = {
                let inner = self.inner();
                let Some((at, w)) = inner.waiting.get(prefix).and_then(|q| q.first_key_value())
                else {
                    return;
                };
                if *at != head.0 {
                    continue;
                }
                let holder = Holder {
                    instance: self.instance.clone(),
                    execution: w.request.execution.clone(),
                    uid: w.request.uid.clone(),
                    node: w.request.node.clone(),
                    since: now,
                    limit: Some(w.request.limit),
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
                // Still the same waiter (it may have left, or left and queued again).
                let still = inner
                    .queued
                    .get(&request)
                    .is_some_and(|(p, at)| p == prefix && *at == head.0);
                let waiter = if still {
                    inner.queued.remove(&request);
                    let queue = inner.waiting.get_mut(prefix);
                    let waiter = queue.and_then(|q| q.remove(&head.0));
                    if inner.waiting.get(prefix).is_some_and(BTreeMap::is_empty) {
                        inner.waiting.remove(prefix);
                    }
                    waiter
                } else {
                    None
                };
                match waiter {
                    Some(w) => {
                        let _ = w.request.inbox.send(Msg::Waiting {
                            node: w.request.node.clone(),
                            message: None,
                        });
                        let sent = w.request.inbox.send(Msg::Input(Input::LeaseAcquired {
                            at: now_ms(),
                            node: w.request.node.as_str().into(),
                            key: w.request.key.clone(),
                            slot,
                            token: lease.token,
                            holder: holder.clone(),
                        }));
                        // A driver that is gone never learns of the grant: not held, so
                        // not renewed forever — given back below.
                        if sent.is_ok() {
                            inner.held.insert(
                                request.clone(),
                                Held {
                                    uid: request.0.clone(),
                                    name: name.clone(),
                                    holder: holder.clone(),
                                    token: lease.token,
                                    prefix: prefix.to_owned(),
                                },
                            );
                        }
                        sent.is_ok()
                    }
                    None => false,
                }
            };
            if !granted {
                // The waiter left (or its driver is gone) while the lease was taken: give
                // it back.
                if let Err(e) = self.store.release_lease(&name, &holder, lease.token).await {
                    eprintln!(
                        "planspec: runtime: releasing lease {name}: {e} (it expires with its TTL)"
                    );
                }
            }
        }
    }

    /// Tells the first waiters of `prefix` who holds the key (once per change). The others
    /// were told once, when they queued, so a long queue costs no message per grant and no
    /// work beyond its head.
    fn tell_waiters(
        &self,
        prefix: &str,
        taken: &BTreeMap<u32, &planspec_store::Lease>,
        holders_limit: Option<u32>,
    ) {
        let holders: Vec<String> = taken
            .values()
            .map(|l| match serde_json::from_str::<Holder>(&l.holder) {
                Ok(h) => format!("{}/{}", h.execution, h.node),
                Err(_) => l.holder.clone(),
            })
            .collect();
        let holders = if holders.is_empty() {
            "nobody".to_owned()
        } else {
            holders.join(", ")
        };
        let mut inner = self.inner();
        let Some(queue) = inner.waiting.get_mut(prefix) else {
            return;
        };
        for (ahead, w) in queue.values_mut().take(TOLD_IN_DETAIL).enumerate() {
            let mut message = format!("waiting for lease {} (held by {holders})", w.request.key);
            if let Some(theirs) = holders_limit.filter(|l| *l < w.request.limit) {
                message.push_str(&format!(
                    "; its holders asked for limit {theirs}, this node for {}: the smallest applies",
                    w.request.limit
                ));
            }
            if ahead > 0 {
                message.push_str(&format!("; {ahead} waiting ahead"));
            }
            if w.told.as_deref() != Some(message.as_str()) {
                let _ = w.request.inbox.send(Msg::Waiting {
                    node: w.request.node.clone(),
                    message: Some(message.clone()),
                });
                w.told = Some(message);
            }
        }
    }

    /// Tries every queue again every second (or third of the TTL, if shorter), until `stop`
    /// says so; renewal runs in a task of its own (see [`LeaseManager::renew_loop`]), so a
    /// slow pass over the queues never delays it.
    pub(crate) async fn tick(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        tokio::spawn(self.clone().renew_loop(stop.clone()));
        let every = (self.ttl / 3)
            .max(Duration::from_millis(30))
            .min(QUEUE_POLL);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            let prefixes: Vec<String> = self.inner().waiting.keys().cloned().collect();
            for prefix in prefixes {
                self.pump(&prefix).await;
            }
        }
    }

    /// Renews the leases held (and draining) every third of the TTL, until `stop` says so.
    async fn renew_loop(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let every = (self.ttl / 3).max(Duration::from_millis(30));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            self.renew().await;
        }
    }

    /// Extends every lease this runtime holds by the TTL.
    ///
    /// A lease that could not be renewed before its TTL ran out (the store was unreachable
    /// that long) is lost: it is forgotten here and its slot may go to another holder, while
    /// the node that held it keeps running — the message below says so. Its `ReleaseLease`
    /// later is then a no-op.
    async fn renew(&self) {
        let held: Vec<(String, String, String, u64)> = {
            let inner = self.inner();
            inner
                .held
                .values()
                .chain(inner.draining.values())
                .map(|h| (h.uid.clone(), h.name.clone(), h.holder.clone(), h.token))
                .collect()
        };
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
                        "planspec: runtime: execution {uid}: lease {name} was lost (it expired before it could be renewed); the node holding it keeps running"
                    );
                    let mut inner = self.inner();
                    inner
                        .held
                        .retain(|_, h| !(h.name == name && h.token == token));
                    inner
                        .draining
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
            .flat_map(BTreeMap::values)
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
        // Work of the node still stopping (a killed attempt in its grace period) keeps the
        // slot until it is gone.
        let after = self
            .run
            .as_mut()
            .map(|run| run.still_running(node))
            .unwrap_or_default();
        self.shared.leases.release(&self.uid, node, after).await;
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
/// Costs a look-up per waiter removed, not a pass over the queues.
fn remove_waiter(inner: &mut Inner, uid: &str, node: Option<&str>) -> Vec<String> {
    let ids: Vec<NodeId> = match node {
        Some(node) => vec![(uid.to_owned(), node.to_owned())],
        None => inner
            .queued
            .range((uid.to_owned(), String::new())..)
            .take_while(|((u, _), _)| u == uid)
            .map(|(id, _)| id.clone())
            .collect(),
    };
    let mut left = Vec::new();
    for id in ids {
        let Some((prefix, at)) = inner.queued.remove(&id) else {
            continue;
        };
        if let Some(queue) = inner.waiting.get_mut(&prefix) {
            queue.remove(&at);
            if queue.is_empty() {
                inner.waiting.remove(&prefix);
            }
        }
        left.push(prefix);
    }
    left.sort();
    left.dedup();
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
        manager.release("high", "deploy", Vec::new()).await;
        let (_, mid_token, _) = granted(&mut mid_rx).expect("mid at once");
        assert!(granted(&mut low_rx).is_none());
        manager.release_all("mid", Vec::new()).await;
        let (_, low_token, _) = granted(&mut low_rx).expect("low at once");
        assert!(low_token > mid_token && mid_token > token);
        manager.release("low", "deploy", Vec::new()).await;
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
        let manager = Arc::new(LeaseManager::new(store.clone(), Duration::from_secs(30)));
        let (first, mut first_rx) = request("first", 0);
        let (second, mut second_rx) = request("second", 0);
        manager.acquire(first).await;
        assert!(granted(&mut first_rx).is_some());
        manager.acquire(second).await;
        manager.release("second", "deploy", Vec::new()).await;
        manager.release("first", "deploy", Vec::new()).await;
        assert!(granted(&mut second_rx).is_none());
        assert!(manager.waiters().is_empty());
        assert!(store.list_leases("").await.unwrap().is_empty());
    }

    async fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(dir.path().join("s.db"), SqliteOptions::default())
                .await
                .unwrap(),
        );
        (dir, store)
    }

    #[tokio::test]
    async fn a_grant_to_a_driver_that_is_gone_is_given_back() {
        let (_dir, store) = store().await;
        let manager = Arc::new(LeaseManager::new(store.clone(), Duration::from_secs(30)));
        let (gone, gone_rx) = request("gone", 0);
        drop(gone_rx);
        manager.acquire(gone).await;
        assert!(manager.inner().held.is_empty(), "not held (nor renewed)");
        assert!(store.list_leases("").await.unwrap().is_empty());
        // The next one gets it at once.
        let (next, mut next_rx) = request("next", 0);
        manager.acquire(next).await;
        assert!(granted(&mut next_rx).is_some());
    }

    #[tokio::test]
    async fn a_release_waits_for_the_holders_work_to_be_gone() {
        let (_dir, store) = store().await;
        let manager = Arc::new(LeaseManager::new(store.clone(), Duration::from_millis(300)));
        let (stop, watch) = tokio::sync::watch::channel(false);
        tokio::spawn(manager.clone().tick(watch));
        let (first, mut first_rx) = request("first", 0);
        let (second, mut second_rx) = request("second", 0);
        manager.acquire(first).await;
        assert!(granted(&mut first_rx).is_some());
        manager.acquire(second).await;
        // The first's process is still stopping: the slot stays held (renewed past its TTL).
        let stopping = CancellationToken::new();
        manager
            .release("first", "deploy", vec![stopping.clone()])
            .await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert!(granted(&mut second_rx).is_none(), "never two holders");
        stopping.cancel();
        eventually(&mut second_rx).await;
        let _ = stop.send(true);
    }

    fn with_limit(uid: &str, limit: u32) -> (Request, UnboundedReceiver<Msg>) {
        let (mut r, rx) = request(uid, 0);
        r.limit = limit;
        (r, rx)
    }

    #[tokio::test]
    async fn the_smallest_limit_among_holders_and_the_waiter_applies() {
        let (_dir, store) = store().await;
        let manager = Arc::new(LeaseManager::new(store.clone(), Duration::from_secs(30)));
        // A holder of a semaphore of 2; a node asking for the same key as a mutex waits.
        let (wide, mut wide_rx) = with_limit("wide", 2);
        manager.acquire(wide).await;
        assert!(granted(&mut wide_rx).is_some());
        let (mutex, mut mutex_rx) = with_limit("mutex", 1);
        manager.acquire(mutex).await;
        assert!(
            granted(&mut mutex_rx).is_none(),
            "a mutex never runs beside another"
        );
        manager.release("wide", "deploy", Vec::new()).await;
        assert!(granted(&mut mutex_rx).is_some());
        // And while the mutex holds the key, a node asking for 2 waits too.
        let (other, mut other_rx) = with_limit("other", 2);
        manager.acquire(other).await;
        let msgs: Vec<Msg> = std::iter::from_fn(|| other_rx.try_recv().ok()).collect();
        assert!(
            !msgs.iter().any(|m| matches!(m, Msg::Input(_))),
            "the holder asked for a mutex"
        );
        let told = msgs
            .into_iter()
            .filter_map(|m| match m {
                Msg::Waiting { message, .. } => message,
                _ => None,
            })
            .last()
            .unwrap();
        assert!(told.contains("the smallest applies"), "{told}");
        manager.release("mutex", "deploy", Vec::new()).await;
        assert!(granted(&mut other_rx).is_some());
        // Two of limit 2 share it.
        let (more, mut more_rx) = with_limit("more", 2);
        manager.acquire(more).await;
        assert!(granted(&mut more_rx).is_some());
    }

    #[tokio::test]
    async fn a_long_queue_costs_no_pass_over_it_per_operation() {
        // 20,000 waiters on one key: queueing, telling and leaving are logarithmic (or
        // bounded by the first waiters), not linear in the queue — quadratic in all.
        let (_dir, store) = store().await;
        let manager = Arc::new(LeaseManager::new(store.clone(), Duration::from_secs(30)));
        let (holder, mut holder_rx) = request("holder", 0);
        manager.acquire(holder).await;
        assert!(granted(&mut holder_rx).is_some());
        const N: u32 = 20_000;
        let started = std::time::Instant::now();
        let mut rxs = Vec::new();
        for i in 0..N {
            let (r, rx) = request(&format!("w{i:05}"), i % 7);
            manager.acquire(r).await;
            rxs.push(rx);
        }
        assert_eq!(manager.waiters().len(), N as usize);
        // A waiter deep in the queue was told once, not once per pump.
        let deep = rxs.last_mut().unwrap();
        let mut told = 0;
        while let Ok(m) = deep.try_recv() {
            assert!(matches!(m, Msg::Waiting { .. }));
            told += 1;
        }
        assert_eq!(told, 1);
        // Half leave; the rest are served by priority, then arrival.
        for i in (0..N).step_by(2) {
            manager
                .release(&format!("w{i:05}"), "deploy", Vec::new())
                .await;
        }
        assert_eq!(manager.waiters().len(), N as usize / 2);
        let order: Vec<(u32, String)> = manager
            .waiters()
            .into_iter()
            .map(|w| (w.priority, w.execution))
            .collect();
        let mut sorted = order.clone();
        sorted.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        assert_eq!(order, sorted);
        manager.release_all("holder", Vec::new()).await;
        assert_eq!(manager.waiters().len(), N as usize / 2 - 1);
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{:?} for {N} waiters",
            started.elapsed()
        );
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
