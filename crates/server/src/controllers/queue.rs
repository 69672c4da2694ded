//! A controller's work queue: keys in arrival order, each at most once, with delayed re-adds
//! and per-key exponential backoff after failures.

use planspec_store::ObjectKey;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// Backoff after a key's first failure; doubled per failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Default)]
pub(super) struct Queue {
    state: Mutex<State>,
    ready: Notify,
}

#[derive(Default)]
struct State {
    order: VecDeque<ObjectKey>,
    queued: HashSet<ObjectKey>,
    failures: HashMap<ObjectKey, u32>,
}

impl Queue {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `key` unless it is already waiting.
    pub(super) fn push(&self, key: ObjectKey) {
        let mut state = self.state();
        if state.queued.insert(key.clone()) {
            state.order.push_back(key);
            drop(state);
            self.ready.notify_one();
        }
    }

    /// Queues `key` after `delay` (a background timer; cheap).
    pub(super) fn push_after(self: &Arc<Self>, key: ObjectKey, delay: Duration) {
        let queue = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(queue) = queue.upgrade() {
                queue.push(key);
            }
        });
    }

    /// The next key, waiting for one if the queue is empty.
    pub(super) async fn pop(&self) -> ObjectKey {
        loop {
            let notified = self.ready.notified();
            {
                let mut state = self.state();
                if let Some(key) = state.order.pop_front() {
                    state.queued.remove(&key);
                    return key;
                }
            }
            notified.await;
        }
    }

    /// Records a failure of `key` and returns how long to wait before trying it again.
    pub(super) fn failed(&self, key: &ObjectKey) -> Duration {
        let mut state = self.state();
        let n = state.failures.entry(key.clone()).or_insert(0);
        *n = n.saturating_add(1);
        FIRST_BACKOFF
            .saturating_mul(1u32 << (*n - 1).min(16))
            .min(MAX_BACKOFF)
    }

    /// Clears `key`'s failure count after a success.
    pub(super) fn forget_failures(&self, key: &ObjectKey) {
        self.state().failures.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(name: &str) -> ObjectKey {
        ObjectKey::new("Goal", "default", name)
    }

    #[tokio::test]
    async fn keys_are_queued_once_in_order() {
        let q = Queue::default();
        q.push(k("a"));
        q.push(k("b"));
        q.push(k("a"));
        assert_eq!(q.pop().await, k("a"));
        assert_eq!(q.pop().await, k("b"));
        q.push(k("a"));
        assert_eq!(q.pop().await, k("a"));
    }

    #[tokio::test]
    async fn failures_back_off_exponentially_up_to_a_cap() {
        let q = Queue::default();
        assert_eq!(q.failed(&k("a")), Duration::from_millis(200));
        assert_eq!(q.failed(&k("a")), Duration::from_millis(400));
        for _ in 0..20 {
            q.failed(&k("a"));
        }
        assert_eq!(q.failed(&k("a")), MAX_BACKOFF);
        q.forget_failures(&k("a"));
        assert_eq!(q.failed(&k("a")), Duration::from_millis(200));
    }

    #[tokio::test]
    async fn delayed_pushes_arrive() {
        let q = Arc::new(Queue::default());
        q.push_after(k("late"), Duration::from_millis(10));
        assert_eq!(q.pop().await, k("late"));
    }
}
