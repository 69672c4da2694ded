//! Watch: a stream of `WatchEvent`s (`ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`, `ERROR`) for
//! the objects a list would select, read from the store's change log.
//!
//! A [`Watcher`] is pulled with [`Watcher::next`]:
//!
//! 1. it starts either with synthetic `ADDED` events for every selected object (from one
//!    consistent list; `sendInitialEvents=true` closes them with a bookmark annotated
//!    `k8s.io/initial-events-end: "true"`), or right after a given `resourceVersion`;
//! 2. then it reads [`Store::changes_since`] from the last revision it delivered, and waits on
//!    [`Store::subscribe`] when it has caught up; a watcher that falls behind loses nothing
//!    while the change log still reaches back to it;
//! 3. a revision that has been compacted away ends the stream with an `ERROR` event carrying
//!    a `410 Expired` `Status`, as Kubernetes does (clients then list again);
//! 4. it ends at its timeout, or when the server shuts down.
//!
//! With label or field selectors, an object that stops matching is reported as `DELETED` and
//! one that starts matching as `ADDED` (as Kubernetes does) — exactly when the watcher knows
//! whether the object matched before: always after initial events; after a given
//! `resourceVersion` only for objects it has seen since (others that start matching are
//! `MODIFIED`).

use crate::api::params::{ListOptions, WatchStart};
use crate::api::{object, store_error, Api};
use crate::resource::ResourceType;
use crate::status::Status;
use planspec_store::{ChangeType, ListQuery, ObjectKey, Store, StoreError};
use serde_json::{json, Value};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::{Duration, Instant};

/// The annotation of the bookmark that ends the initial events.
pub const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

/// The `type` of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// The object was created (or started to match).
    Added,
    /// The object changed.
    Modified,
    /// The object was deleted (or stopped matching); the event carries its last state.
    Deleted,
    /// No object changed; the watcher is at `metadata.resourceVersion`.
    Bookmark,
    /// The watch failed; the object is a `Status`.
    Error,
}

impl EventType {
    /// `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` or `ERROR`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
            EventType::Bookmark => "BOOKMARK",
            EventType::Error => "ERROR",
        }
    }
}

/// One event of a watch.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchEvent {
    /// What happened.
    pub event_type: EventType,
    /// The object (a `Status` for `ERROR`).
    pub object: Value,
}

impl WatchEvent {
    /// `{"type": "ADDED", "object": {…}}`.
    pub fn to_json(&self) -> Value {
        json!({"type": self.event_type.as_str(), "object": self.object})
    }

    fn error(status: &Status) -> WatchEvent {
        WatchEvent {
            event_type: EventType::Error,
            object: serde_json::to_value(status).unwrap_or(Value::Null),
        }
    }
}

/// A running watch; see the module documentation.
pub struct Watcher {
    store: Arc<dyn Store>,
    resource: ResourceType,
    query: ListQuery,
    /// The last revision delivered (or skipped as not selected).
    from: i64,
    pending: VecDeque<WatchEvent>,
    revisions: watch::Receiver<i64>,
    shutdown: watch::Receiver<bool>,
    deadline: Instant,
    bookmarks: Option<Duration>,
    next_bookmark: Instant,
    /// Keys of the objects known to match the selectors (only with selectors).
    matched: Option<HashSet<ObjectKey>>,
    /// Whether `matched` holds every matching object (after initial events).
    complete: bool,
    batch: usize,
    done: bool,
    _open: crate::api::WatchGuard,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("resource", &self.resource)
            .field("from", &self.from)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl Watcher {
    pub(crate) async fn start(
        api: &Api,
        resource: ResourceType,
        namespace: Option<&str>,
        options: &ListOptions,
    ) -> Result<Watcher, Status> {
        let store = api.store().clone();
        let mut query = Api::list_query(resource, namespace, options);
        query.limit = None;
        query.continue_after = None;
        let selective = !query.label_selector.is_empty() || !query.field_selector.is_empty();
        let api_options = api.options();
        let now = Instant::now();
        let bookmark_interval = api_options.bookmark_interval;
        let mut watcher = Watcher {
            revisions: store.subscribe(),
            store,
            resource,
            query,
            from: 0,
            pending: VecDeque::new(),
            shutdown: api.shutdown_signal(),
            deadline: now + options.timeout.unwrap_or(api_options.default_watch_timeout),
            bookmarks: options.allow_bookmarks.then_some(bookmark_interval),
            next_bookmark: now + bookmark_interval,
            matched: selective.then(HashSet::new),
            complete: false,
            batch: api_options.watch_batch.max(1),
            done: false,
            _open: api.count_watch(),
        };
        match options.watch_start() {
            WatchStart::After(rv) => watcher.from = rv,
            WatchStart::Now => {
                watcher.from = watcher
                    .store
                    .current_revision()
                    .await
                    .map_err(|e| store_error(resource, "", e))?;
            }
            WatchStart::InitialEvents { end_bookmark } => {
                let page = watcher
                    .store
                    .list(&watcher.query)
                    .await
                    .map_err(|e| store_error(resource, "", e))?;
                watcher.from = page.revision;
                watcher.complete = true;
                for item in page.items {
                    if let Some(m) = &mut watcher.matched {
                        m.insert(item.key.clone());
                    }
                    watcher.pending.push_back(WatchEvent {
                        event_type: EventType::Added,
                        object: item.object,
                    });
                }
                if end_bookmark {
                    let mut bookmark = watcher.bookmark();
                    bookmark.object["metadata"]["annotations"] =
                        json!({INITIAL_EVENTS_END: "true"});
                    watcher.pending.push_back(bookmark);
                }
            }
        }
        Ok(watcher)
    }

    /// The revision the watcher has reached.
    pub fn revision(&self) -> i64 {
        self.from
    }

    fn bookmark(&self) -> WatchEvent {
        WatchEvent {
            event_type: EventType::Bookmark,
            object: json!({
                "kind": self.resource.kind(),
                "apiVersion": self.resource.api_version(),
                "metadata": {"resourceVersion": self.from.to_string()},
            }),
        }
    }

    /// The next event; `None` when the watch is over (timeout, shutdown, or after an
    /// `ERROR` event).
    ///
    /// Cancel-safe: dropping the future before it completes loses no event (state only
    /// changes after each await), so it can race timers in a `select!`.
    pub async fn next(&mut self) -> Option<WatchEvent> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.done || *self.shutdown.borrow() {
                return None;
            }
            self.revisions.borrow_and_update();
            match self.store.changes_since(self.from, self.batch).await {
                Ok(page) => {
                    let full = page.changes.len() >= self.batch;
                    for change in page.changes {
                        let revision = change.revision;
                        if let Some(event) = self.select(change) {
                            self.pending.push_back(event);
                        }
                        self.from = revision;
                    }
                    self.from = self.from.max(page.revision);
                    if full || !self.pending.is_empty() {
                        continue;
                    }
                }
                Err(StoreError::Compacted { requested, oldest }) => {
                    self.done = true;
                    return Some(WatchEvent::error(&Status::resource_version_too_old(
                        requested, oldest,
                    )));
                }
                Err(e) => {
                    self.done = true;
                    return Some(WatchEvent::error(&store_error(self.resource, "", e)));
                }
            }
            let bookmark_at = self.bookmarks.map(|_| self.next_bookmark);
            tokio::select! {
                biased;
                _ = self.shutdown.changed() => return None,
                changed = self.revisions.changed() => {
                    if changed.is_err() {
                        self.done = true;
                    }
                }
                () = tokio::time::sleep_until(self.deadline) => return None,
                () = sleep_until_opt(bookmark_at) => {
                    if let Some(interval) = self.bookmarks {
                        self.next_bookmark = Instant::now() + interval;
                    }
                    return Some(self.bookmark());
                }
            }
        }
    }

    /// The event for a change, if the watch selects it.
    fn select(&mut self, change: planspec_store::Change) -> Option<WatchEvent> {
        let key = &change.object.key;
        if key.kind != self.query.kind
            || self
                .query
                .namespace
                .as_ref()
                .is_some_and(|ns| *ns != key.namespace)
        {
            return None;
        }
        let matches = self.query.matches(&change.object);
        let object = object::with_resource_version(change.object.object, change.revision);
        let event_type = match &mut self.matched {
            None => matches.then_some(match change.change_type {
                ChangeType::Added => EventType::Added,
                ChangeType::Modified => EventType::Modified,
                ChangeType::Deleted => EventType::Deleted,
            }),
            Some(matched) => {
                let was = matched.contains(key);
                match change.change_type {
                    ChangeType::Added if matches => {
                        matched.insert(key.clone());
                        Some(EventType::Added)
                    }
                    ChangeType::Added => None,
                    ChangeType::Modified if matches && was => Some(EventType::Modified),
                    ChangeType::Modified if matches => {
                        matched.insert(key.clone());
                        Some(if self.complete {
                            EventType::Added
                        } else {
                            EventType::Modified
                        })
                    }
                    ChangeType::Modified if was => {
                        matched.remove(key);
                        Some(EventType::Deleted)
                    }
                    ChangeType::Modified => None,
                    ChangeType::Deleted => {
                        let removed = matched.remove(key);
                        (removed || (matches && !self.complete)).then_some(EventType::Deleted)
                    }
                }
            }
        };
        event_type.map(|event_type| WatchEvent { event_type, object })
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
