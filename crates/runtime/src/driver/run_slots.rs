//! The runtime-wide limit on running Task attempts (`planspec server --max-running-tasks N`).
//!
//! An attempt the engine dispatched takes a slot before its provider runs and gives it back
//! when the provider returns (a `human://` attempt returns at once: a person's wait holds no
//! slot). While every slot is taken, attempts wait in a queue ordered by their Execution's
//! Goal `priority` (higher first, pinned when the Execution started), then first come first
//! served; the node shows `waiting for a run slot` meanwhile. Without a limit nothing waits.

use super::execution::Msg;
use super::Shared;
use crate::CancellationToken;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::oneshot;

/// The slots and their queue.
pub(crate) struct RunSlots {
    limit: Option<usize>,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    running: usize,
    /// (reverse priority, arrival) → the waiter's channel.
    waiting: BTreeMap<(std::cmp::Reverse<u32>, u64), oneshot::Sender<RunPermit>>,
    seq: u64,
}

/// A taken slot; dropping it gives the slot to the next waiter.
pub(crate) struct RunPermit {
    slots: Option<Arc<RunSlots>>,
}

impl Drop for RunPermit {
    fn drop(&mut self) {
        if let Some(slots) = self.slots.take() {
            slots.give_back();
        }
    }
}

/// How taking a slot went.
pub(crate) enum Taken {
    /// At once.
    Now(RunPermit),
    /// After waiting behind others.
    Later(oneshot::Receiver<RunPermit>),
}

impl RunSlots {
    /// `limit`: most attempts running at once (`None`: no limit).
    pub(crate) fn new(limit: Option<usize>) -> RunSlots {
        RunSlots {
            limit: limit.map(|l| l.max(1)),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a slot now, or queues for one with `priority`.
    pub(crate) fn take(self: &Arc<Self>, priority: u32) -> Taken {
        let Some(limit) = self.limit else {
            return Taken::Now(RunPermit { slots: None });
        };
        let mut inner = self.inner();
        if inner.running < limit && inner.waiting.is_empty() {
            inner.running += 1;
            return Taken::Now(RunPermit {
                slots: Some(self.clone()),
            });
        }
        let (tx, rx) = oneshot::channel();
        inner.seq += 1;
        let seq = inner.seq;
        inner.waiting.insert((std::cmp::Reverse(priority), seq), tx);
        drop(inner);
        // A slot may have been given back meanwhile.
        self.hand_over();
        Taken::Later(rx)
    }

    /// `(running, waiting)`, for the status message.
    pub(crate) fn load(&self) -> (usize, usize, Option<usize>) {
        let inner = self.inner();
        (inner.running, inner.waiting.len(), self.limit)
    }

    fn give_back(self: &Arc<Self>) {
        {
            let mut inner = self.inner();
            inner.running = inner.running.saturating_sub(1);
        }
        self.hand_over();
    }

    /// Hands free slots to the waiters at the head of the queue. A waiter that left (its
    /// attempt was killed) drops the permit it is handed, which hands it on.
    fn hand_over(self: &Arc<Self>) {
        let Some(limit) = self.limit else {
            return;
        };
        loop {
            let next = {
                let mut inner = self.inner();
                if inner.running >= limit {
                    return;
                }
                let Some((_, tx)) = inner.waiting.pop_first() else {
                    return;
                };
                inner.running += 1;
                tx
            };
            let permit = RunPermit {
                slots: Some(self.clone()),
            };
            // If the waiter is gone, the permit comes back and is dropped here, after the
            // lock is released, which gives the slot back.
            if let Err(permit) = next.send(permit) {
                drop(permit);
                return;
            }
        }
    }
}

/// The Goal's `priority` a run was pinned with (0 without a Goal).
pub(crate) fn priority(exec: &planspec_engine::Execution) -> u32 {
    exec.graph()
        .goal_context()
        .get("priority")
        .and_then(serde_json::Value::as_u64)
        .and_then(|p| u32::try_from(p).ok())
        .unwrap_or(0)
}

/// Takes a run slot for an attempt of `node`, waiting (and saying so in the node's status)
/// while none is free. `None`: the attempt was killed while it waited.
pub(crate) async fn wait_for_slot(
    shared: &Shared,
    tx: &UnboundedSender<Msg>,
    node: &str,
    priority: u32,
    token: &CancellationToken,
) -> Option<RunPermit> {
    let rx = match shared.run_slots.take(priority) {
        Taken::Now(permit) => return Some(permit),
        Taken::Later(rx) => rx,
    };
    let (running, waiting, limit) = shared.run_slots.load();
    let _ = tx.send(Msg::Waiting {
        node: node.to_owned(),
        message: Some(format!(
            "waiting for a run slot ({running} of {} running, {waiting} waiting; priority {priority})",
            limit.unwrap_or(running)
        )),
    });
    let permit = tokio::select! {
        permit = rx => permit.ok(),
        _ = token.cancelled() => None,
    };
    let _ = tx.send(Msg::Waiting {
        node: node.to_owned(),
        message: None,
    });
    permit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_are_served_by_priority_then_arrival() {
        let slots = Arc::new(RunSlots::new(Some(1)));
        let Taken::Now(first) = slots.take(0) else {
            panic!("the first takes the free slot")
        };
        let mut order = Vec::new();
        let Taken::Later(low) = slots.take(1) else {
            panic!("full")
        };
        let Taken::Later(high_a) = slots.take(5) else {
            panic!("full")
        };
        let Taken::Later(high_b) = slots.take(5) else {
            panic!("full")
        };
        drop(first);
        let p = high_a.await.unwrap();
        order.push("high_a");
        drop(p);
        let p = high_b.await.unwrap();
        order.push("high_b");
        drop(p);
        let p = low.await.unwrap();
        order.push("low");
        drop(p);
        assert_eq!(order, ["high_a", "high_b", "low"]);
        assert_eq!(slots.load().0, 0);
    }

    #[tokio::test]
    async fn a_waiter_that_left_passes_its_slot_on() {
        let slots = Arc::new(RunSlots::new(Some(1)));
        let Taken::Now(first) = slots.take(0) else {
            panic!()
        };
        let Taken::Later(gone) = slots.take(9) else {
            panic!()
        };
        let Taken::Later(next) = slots.take(0) else {
            panic!()
        };
        drop(gone);
        drop(first);
        let p = next.await.unwrap();
        assert_eq!(slots.load().0, 1);
        drop(p);
        assert_eq!(slots.load().0, 0);
    }

    #[test]
    fn without_a_limit_nothing_waits() {
        let slots = Arc::new(RunSlots::new(None));
        for _ in 0..100 {
            assert!(matches!(slots.take(0), Taken::Now(_)));
        }
    }
}
