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
    waiting: BTreeMap<QueueKey, oneshot::Sender<RunPermit>>,
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
    /// After waiting behind others: the place in the queue (for [`RunSlots::leave`]) and
    /// where the permit comes.
    Later(QueueKey, oneshot::Receiver<RunPermit>),
}

/// A waiter's place in the queue: (reverse priority, arrival).
pub(crate) type QueueKey = (std::cmp::Reverse<u32>, u64);

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
        let key = (std::cmp::Reverse(priority), seq);
        inner.waiting.insert(key, tx);
        drop(inner);
        // A slot may have been given back meanwhile.
        self.hand_over();
        Taken::Later(key, rx)
    }

    /// Leaves the queue (the attempt was killed while it waited), so the counts stay true
    /// and no slot is handed to it. A permit already handed over is given back when the
    /// receiver holding it is dropped.
    pub(crate) fn leave(&self, key: QueueKey) {
        self.inner().waiting.remove(&key);
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

    /// Hands free slots to the waiters at the head of the queue. A waiter that is gone
    /// without leaving the queue (its receiver dropped) gets nothing: its slot is taken back
    /// here and handed to the next one, in this loop (no recursion, however many left).
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
            // If the waiter is gone, the permit comes back: take its slot back without the
            // permit's `Drop` (which would hand over again, recursively) and go on.
            if let Err(mut permit) = next.send(permit) {
                permit.slots = None;
                let mut inner = self.inner();
                inner.running = inner.running.saturating_sub(1);
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
    let (key, rx) = match shared.run_slots.take(priority) {
        Taken::Now(permit) => return Some(permit),
        Taken::Later(key, rx) => (key, rx),
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
        _ = token.cancelled() => {
            // Killed while it waited: out of the queue (a permit handed over meanwhile is
            // given back as the receiver drops).
            shared.run_slots.leave(key);
            None
        }
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
        let Taken::Later(_, low) = slots.take(1) else {
            panic!("full")
        };
        let Taken::Later(_, high_a) = slots.take(5) else {
            panic!("full")
        };
        let Taken::Later(_, high_b) = slots.take(5) else {
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
        let Taken::Later(_, gone) = slots.take(9) else {
            panic!()
        };
        let Taken::Later(_, next) = slots.take(0) else {
            panic!()
        };
        drop(gone);
        drop(first);
        let p = next.await.unwrap();
        assert_eq!(slots.load().0, 1);
        drop(p);
        assert_eq!(slots.load().0, 0);
    }

    #[tokio::test]
    async fn many_dead_waiters_are_skipped_without_recursion() {
        // 200,000 waiters whose attempts are gone: handing the slot over used to recurse
        // once per dead waiter (give_back → hand_over) and overflow the stack.
        let slots = Arc::new(RunSlots::new(Some(1)));
        let Taken::Now(first) = slots.take(0) else {
            panic!()
        };
        for _ in 0..200_000 {
            let Taken::Later(_, gone) = slots.take(0) else {
                panic!()
            };
            drop(gone);
        }
        let Taken::Later(_, alive) = slots.take(0) else {
            panic!()
        };
        drop(first);
        let p = alive.await.unwrap();
        assert_eq!(slots.load(), (1, 0, Some(1)));
        drop(p);
        assert_eq!(slots.load(), (0, 0, Some(1)));
    }

    #[tokio::test]
    async fn a_waiter_that_leaves_is_counted_no_more() {
        let slots = Arc::new(RunSlots::new(Some(1)));
        let Taken::Now(first) = slots.take(0) else {
            panic!()
        };
        let mut keys = Vec::new();
        for _ in 0..10 {
            let Taken::Later(key, rx) = slots.take(0) else {
                panic!()
            };
            keys.push((key, rx));
        }
        assert_eq!(slots.load().1, 10);
        for (key, rx) in keys {
            slots.leave(key);
            drop(rx);
        }
        assert_eq!(slots.load(), (1, 0, Some(1)));
        drop(first);
        assert_eq!(slots.load(), (0, 0, Some(1)));
    }

    #[test]
    fn without_a_limit_nothing_waits() {
        let slots = Arc::new(RunSlots::new(None));
        for _ in 0..100 {
            assert!(matches!(slots.take(0), Taken::Now(_)));
        }
    }
}
