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
//! # Selectors
//!
//! With label or field selectors the events follow Kubernetes: a change is judged by the
//! object's state before it and after it.
//!
//! | before | after | event |
//! |---|---|---|
//! | matched | matches | `MODIFIED` |
//! | did not match (or did not exist) | matches | `ADDED` |
//! | matched | does not match | `DELETED`, carrying the state that matched, with the change's `resourceVersion` |
//! | matched | deleted | `DELETED` (the last state) |
//!
//! A deletion is reported when the deleted state matched. Selectors on `metadata.name` and
//! `metadata.namespace` alone select an object for its whole life, so nothing more is
//! needed for them. Otherwise, for a modification the watcher
//! needs the state before it: the previous change of the same object in the store's change
//! log. It keeps, for the objects it has seen, whether their last state matched and at which
//! revision (after initial events it knows every object). When it resumes from a
//! `resourceVersion` and meets an object it has not seen, it reads back the change log before
//! that revision once — at most [`PREVIOUS_STATE_LOOKBACK`] revisions, which the store's
//! in-memory ring normally holds — to learn each object's state there. An object whose last
//! change before the resume point is older than that (or compacted away) is undecidable; the
//! watcher then errs towards the client holding nothing stale: it sends `MODIFIED` if the
//! object matches now (a client that did not have it adds it) and `DELETED` (with the new
//! state) if it does not (a client that did not have it ignores it).

use crate::api::params::{ListOptions, WatchStart};
use crate::api::{object, store_error, Api};
use crate::resource::ResourceType;
use crate::status::Status;
use planspec_store::{ChangeType, ListQuery, ObjectKey, Store, StoreError};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::{Duration, Instant};

/// The annotation of the bookmark that ends the initial events.
pub const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

/// How many revisions before its starting point a resumed watch with selectors reads back to
/// learn whether the objects it meets matched before their first change (see the module
/// documentation).
pub const PREVIOUS_STATE_LOOKBACK: i64 = 10_000;

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
    /// What is known of the objects' last states (only with selectors).
    matching: Option<Matching>,
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
        // Selectors on the object's identity alone (name, namespace) select the same objects
        // before and after any change: no need to know previous states for them.
        let selective = !query.label_selector.is_empty()
            || query
                .field_selector
                .requirements()
                .iter()
                .any(|r| !matches!(r.field.as_str(), "metadata.name" | "metadata.namespace"));
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
            matching: None,
            batch: api_options.watch_batch.max(1),
            done: false,
            _open: api.count_watch(),
        };
        match options.watch_start() {
            WatchStart::After(rv) => {
                watcher.from = rv;
                watcher.matching = selective.then(|| Matching::after(rv));
            }
            WatchStart::Now => {
                watcher.from = watcher
                    .store
                    .current_revision()
                    .await
                    .map_err(|e| store_error(resource, "", e))?;
                watcher.matching = selective.then(|| Matching::after(watcher.from));
            }
            WatchStart::InitialEvents { end_bookmark } => {
                let page = watcher
                    .store
                    .list(&watcher.query)
                    .await
                    .map_err(|e| store_error(resource, "", e))?;
                watcher.from = page.revision;
                watcher.matching = selective.then(Matching::complete);
                for item in page.items {
                    if let Some(m) = &mut watcher.matching {
                        m.known.insert(item.key.clone(), Some(item.revision));
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
                    // Each change is fully handled (state updated after every await) before
                    // `from` moves past it, so a cancelled call loses and repeats nothing.
                    for change in page.changes {
                        let revision = change.revision;
                        if let Some(event) = self.select(change).await {
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
    async fn select(&mut self, change: planspec_store::Change) -> Option<WatchEvent> {
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
        let revision = change.revision;
        let event = |event_type: EventType, object: Value| WatchEvent {
            event_type,
            object: object::with_resource_version(object, revision),
        };
        if self.matching.is_none() {
            return matches.then(|| {
                let event_type = match change.change_type {
                    ChangeType::Added => EventType::Added,
                    ChangeType::Modified => EventType::Modified,
                    ChangeType::Deleted => EventType::Deleted,
                };
                event(event_type, change.object.object)
            });
        }
        let before = match change.change_type {
            ChangeType::Modified => self.previous_state(key).await,
            _ => Before::Known(None),
        };
        let key = change.object.key.clone();
        let matching = self.matching.as_mut()?;
        match change.change_type {
            ChangeType::Deleted => matching.forget(key),
            _ => matching.record(key, matches.then_some(revision)),
        }
        match (change.change_type, before, matches) {
            (ChangeType::Added, _, true) => Some(event(EventType::Added, change.object.object)),
            (ChangeType::Deleted, _, true) => Some(event(EventType::Deleted, change.object.object)),
            (ChangeType::Modified, Before::Known(Some(_)) | Before::Unknown, true) => {
                Some(event(EventType::Modified, change.object.object))
            }
            (ChangeType::Modified, Before::Known(None), true) => {
                Some(event(EventType::Added, change.object.object))
            }
            (ChangeType::Modified, Before::Known(Some(at)), false) => {
                let last = self.state_at(&change.object.key, at).await;
                Some(event(
                    EventType::Deleted,
                    last.unwrap_or(change.object.object),
                ))
            }
            (ChangeType::Modified, Before::Unknown, false) => {
                Some(event(EventType::Deleted, change.object.object))
            }
            _ => None,
        }
    }

    /// Whether `key`'s state before its next change matched, reading back the change log
    /// before the watch's starting point the first time an unknown object comes up.
    async fn previous_state(&mut self, key: &ObjectKey) -> Before {
        let Some(matching) = &self.matching else {
            return Before::Unknown;
        };
        if let Some(known) = matching.get(key) {
            return known;
        }
        if !matching.looked_back {
            let start = matching.start;
            let found = self.look_back(start).await;
            let Some(matching) = &mut self.matching else {
                return Before::Unknown;
            };
            matching.looked_back = true;
            if let Some((states, from_the_beginning)) = found {
                for (k, state) in states {
                    matching.known.entry(k).or_insert(state);
                }
                matching.complete |= from_the_beginning;
            }
            if let Some(known) = matching.get(key) {
                return known;
            }
        }
        Before::Unknown
    }

    /// The last state at or before `start` of every object of this watch changed within
    /// [`PREVIOUS_STATE_LOOKBACK`] revisions before it: matching (at which revision) or not;
    /// and whether that reached back to the beginning of the log. `None` if the log cannot be
    /// read there.
    async fn look_back(&self, start: i64) -> Option<(HashMap<ObjectKey, Option<i64>>, bool)> {
        let mut from = (start - PREVIOUS_STATE_LOOKBACK).max(0);
        let mut states = HashMap::new();
        let page = match self.store.changes_since(from, self.batch).await {
            Err(StoreError::Compacted { oldest, .. }) if oldest <= start => {
                from = oldest;
                self.store.changes_since(from, self.batch).await.ok()?
            }
            other => other.ok()?,
        };
        let from_the_beginning = from == 0;
        let mut page = Some(page);
        while let Some(current) = page.take() {
            let mut last = from;
            for change in current.changes {
                if change.revision > start {
                    return Some((states, from_the_beginning));
                }
                last = change.revision;
                let key = &change.object.key;
                if key.kind != self.query.kind
                    || self
                        .query
                        .namespace
                        .as_ref()
                        .is_some_and(|ns| *ns != key.namespace)
                {
                    continue;
                }
                let state = match change.change_type {
                    ChangeType::Deleted => None,
                    _ => self
                        .query
                        .matches(&change.object)
                        .then_some(change.revision),
                };
                states.insert(change.object.key, state);
            }
            if last >= start || last == from {
                break;
            }
            from = last;
            page = Some(self.store.changes_since(from, self.batch).await.ok()?);
        }
        Some((states, from_the_beginning))
    }

    /// The object `key` as the change at `revision` left it, if the log still has it.
    async fn state_at(&self, key: &ObjectKey, revision: i64) -> Option<Value> {
        let page = self.store.changes_since(revision - 1, 1).await.ok()?;
        let change = page.changes.into_iter().next()?;
        (change.revision == revision && change.object.key == *key).then_some(change.object.object)
    }
}

/// What a watch with selectors knows about the objects' last states.
#[derive(Debug)]
struct Matching {
    /// Object → the revision of its last state if that matched, `None` if it did not (or the
    /// object is gone).
    known: HashMap<ObjectKey, Option<i64>>,
    /// Whether an object missing from `known` is known not to match (after initial events,
    /// or when the log was read back to its beginning).
    complete: bool,
    /// The revision the watch started after.
    start: i64,
    /// Whether the log before `start` has been read back.
    looked_back: bool,
}

/// The state of an object before a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Before {
    /// Known: it matched at that revision (`Some`) or did not match or exist (`None`).
    Known(Option<i64>),
    /// Not known (see the module documentation).
    Unknown,
}

impl Matching {
    /// After initial events: every object is known.
    fn complete() -> Matching {
        Matching {
            known: HashMap::new(),
            complete: true,
            start: 0,
            looked_back: true,
        }
    }

    /// Resuming after `start`: nothing is known yet.
    fn after(start: i64) -> Matching {
        Matching {
            known: HashMap::new(),
            complete: false,
            start,
            looked_back: false,
        }
    }

    fn get(&self, key: &ObjectKey) -> Option<Before> {
        match self.known.get(key) {
            Some(state) => Some(Before::Known(*state)),
            None if self.complete => Some(Before::Known(None)),
            None => None,
        }
    }

    /// Records `key`'s new state. When every object is known, only matching ones are kept.
    fn record(&mut self, key: ObjectKey, state: Option<i64>) {
        if state.is_none() && self.complete {
            self.known.remove(&key);
        } else {
            self.known.insert(key, state);
        }
    }

    /// `key` is gone. Its next change can only be a creation, which needs no previous
    /// state, so nothing is kept.
    fn forget(&mut self, key: ObjectKey) {
        self.known.remove(&key);
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
