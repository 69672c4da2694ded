//! One Execution's driver: load (or start), then one input at a time — engine step, one durable
//! write, effects. See the module documentation of `driver`.

use super::start::{pin, Pinned, StartFailure};
use super::status::{execution_status, node_record, start_failed_status, Extras};
use super::{now_ms, RuntimeError, Shared};
use crate::CancellationToken;
use planspec_engine::{Decision, Event, Execution, Input, Outcome, ReasonCode, Step, TimerId};
use planspec_model::execution::Execution as ExecutionResource;
use planspec_store::{ObjectKey, StoreError, WriteOp};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Journal entries read per store call while loading.
const JOURNAL_PAGE: usize = 10_000;

/// A message to a driver.
pub(crate) enum Msg {
    /// A fact from an effect (a result, a timer).
    Input(Input),
    /// A request from the API; answered once journaled.
    Request {
        input: Input,
        reply: oneshot::Sender<Result<(), RuntimeError>>,
    },
    /// A person finishes a node (`planspec complete` / `fail`).
    Manual {
        node: String,
        result: Result<Map<String, Value>, String>,
        by: Option<String>,
        reply: oneshot::Sender<Result<(), RuntimeError>>,
    },
    /// A person fills a Placeholder (`planspec resolve`).
    Resolve {
        node: String,
        value: Value,
        by: Option<String>,
        reply: oneshot::Sender<Result<(), RuntimeError>>,
    },
    /// A provider handed the attempt to a person.
    AwaitingHuman {
        node: String,
        attempt: u32,
        prompt: String,
        kind: HumanWait,
    },
    /// Machines checked a Task's criteria; the manual ones wait for a person.
    CriteriaNeedPerson {
        node: String,
        attempt: u32,
        verdicts: Vec<planspec_engine::Verdict>,
        prompt: String,
    },
    /// An object the driver watches changed (`None`: deleted).
    Watched {
        key: ObjectKey,
        object: Option<Value>,
    },
    /// Look at every watched object again (changes may have been missed).
    Poke,
    /// The Execution object was deleted.
    Deleted,
    /// What a node waits for outside the engine (a lease, a run slot) changed; `None`: it
    /// waits no more.
    Waiting {
        node: String,
        message: Option<String>,
    },
}

/// What a person's `complete`/`fail` finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HumanWait {
    /// A `human://` provider's attempt.
    Provider,
    /// A manual acceptance criterion (or several) of a Task.
    Criteria,
    /// A manual (or webhook) External node.
    External,
}

/// A node handed to a person.
#[derive(Debug, Clone)]
pub(crate) struct Waiting {
    pub(crate) attempt: u32,
    pub(crate) kind: HumanWait,
    /// For criteria: the verdicts already decided by machines.
    pub(crate) verdicts: Vec<planspec_engine::Verdict>,
}

/// Why the driver stops.
pub(crate) enum End {
    Finished,
    Deleted,
    Shutdown,
}

pub(crate) struct Driver {
    pub(crate) shared: Arc<Shared>,
    pub(crate) uid: String,
    pub(crate) key: ObjectKey,
    /// This driver's own inbox, for effects to answer on.
    pub(crate) tx: mpsc::UnboundedSender<Msg>,
    even_if_finished: bool,
    /// Loaded state (None until `load` succeeds).
    pub(crate) run: Option<Run>,
    /// Steps handled but not yet written (see [`Driver::flush`]).
    batch: Batch,
    /// Set when the Execution failed before it started (nothing to retry or cancel).
    never_started: Option<String>,
}

/// Where a request's answer goes.
type Reply = oneshot::Sender<Result<(), RuntimeError>>;

/// Steps the engine has taken that are not durable yet: written together by one
/// [`Driver::flush`], after which the replies go out and the commands are carried out, in order.
#[derive(Default)]
struct Batch {
    entries: Vec<Value>,
    touched: BTreeSet<String>,
    all_nodes: bool,
    replies: Vec<(Reply, Result<(), RuntimeError>)>,
    commands: Vec<planspec_engine::Command>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.replies.is_empty()
    }
}

/// Most inputs handled before one write: under load a driver catches up in few transactions.
const MAX_BATCH: usize = 256;

/// A loaded Execution.
pub(crate) struct Run {
    pub(crate) exec: Execution,
    pub(crate) pinned: Arc<Pinned>,
    next_seq: u64,
    pub(crate) object: Value,
    revision: i64,
    pub(crate) extras: Extras,
    /// Work in flight per (node, attempt): provider calls, criteria checks, polls.
    pub(crate) inflight: HashMap<(String, u32), CancellationToken>,
    /// node → a token per attempt task (provider call, leftover reap) that is cancelled when
    /// the task has returned — for an `exec` attempt, when its process group is gone. A
    /// lease is released only after them (see [`Run::still_running`]).
    pub(crate) running: HashMap<String, Vec<CancellationToken>>,
    pub(crate) timers: HashMap<TimerId, JoinHandle<()>>,
    /// Open Gates: node → (Gate key, attempt).
    pub(crate) gates: HashMap<String, (ObjectKey, u32)>,
    /// External nodes waiting on a resource: node → (key, attempt).
    pub(crate) resources: HashMap<String, (ObjectKey, u32)>,
    /// Nodes handed to a person.
    pub(crate) human: HashMap<String, Waiting>,
}

impl Run {
    /// Tracks an attempt task of `node`; returns the token the task cancels (through a
    /// drop guard) when it returns.
    pub(crate) fn track(&mut self, node: &str) -> CancellationToken {
        // Forget tasks long done, now and then (amortised: at each doubling).
        let n = self.running.len();
        if n >= 1024 && n.is_power_of_two() {
            self.running.retain(|_, tasks| {
                tasks.retain(|t| !t.is_cancelled());
                !tasks.is_empty()
            });
        }
        let done = CancellationToken::new();
        let tasks = self.running.entry(node.to_owned()).or_default();
        tasks.retain(|t| !t.is_cancelled());
        tasks.push(done.clone());
        done
    }

    /// The attempt tasks of `node` that have not returned yet (forgotten here).
    pub(crate) fn still_running(&mut self, node: &str) -> Vec<CancellationToken> {
        self.running
            .remove(node)
            .unwrap_or_default()
            .into_iter()
            .filter(|t| !t.is_cancelled())
            .collect()
    }
}

impl Driver {
    pub(crate) fn new(
        shared: Arc<Shared>,
        uid: String,
        key: ObjectKey,
        tx: mpsc::UnboundedSender<Msg>,
        even_if_finished: bool,
    ) -> Driver {
        Driver {
            shared,
            uid,
            key,
            tx,
            even_if_finished,
            run: None,
            batch: Batch::default(),
            never_started: None,
        }
    }

    pub(crate) async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        let mut shutdown = self.shared.shutdown.subscribe();
        let end = match self.load().await {
            Ok(true) => loop {
                // A finished run still answers what is already queued (a retry that restarted
                // this driver is waiting in the inbox), then ends.
                let msg = if self.finished() {
                    match rx.try_recv() {
                        Ok(msg) => msg,
                        Err(_) => break End::Finished,
                    }
                } else {
                    let msg = tokio::select! {
                        msg = rx.recv() => msg,
                        _ = shutdown.changed() => None,
                    };
                    let Some(msg) = msg else {
                        break End::Shutdown;
                    };
                    msg
                };
                match self.receive_batch(msg, &mut rx).await {
                    Ok(()) => {}
                    Err(end) => break end,
                }
            },
            Ok(false) => End::Finished,
            Err(end) => end,
        };
        // A run that ends (or is deleted, or whose driver stops while the runtime lives on,
        // such as after a journal conflict) gives up its leases — after its work in flight
        // is stopped and gone, so the next holder never runs beside it. One left by a
        // shutting-down runtime is resumed by the next start, and expires with its TTL
        // otherwise.
        let release = !matches!(end, End::Shutdown) || !self.shared.shutting_down();
        let after = self.stop(end);
        if release {
            self.shared.leases.release_all(&self.uid, after).await;
        }
        self.shared.driver_ended(&self.uid);
        // Requests that raced with the end hear that the driver is gone.
        rx.close();
        while let Ok(msg) = rx.try_recv() {
            match msg {
                Msg::Request { reply, .. }
                | Msg::Manual { reply, .. }
                | Msg::Resolve { reply, .. } => {
                    let _ = reply.send(Err(match &self.never_started {
                        Some(why) => RuntimeError::Conflict(why.clone()),
                        None => RuntimeError::Unavailable(super::DRIVER_ENDED.to_owned()),
                    }));
                }
                _ => {}
            }
        }
    }

    fn finished(&self) -> bool {
        self.run.as_ref().is_none_or(|r| r.exec.is_finished())
    }

    /// Stops timers always; kills work in flight unless the process is shutting down (then
    /// it is left for the next start to resume with the same keys — killing it would turn a
    /// restart into failures). Returns the tokens of the attempt tasks not returned yet.
    fn stop(&mut self, end: End) -> Vec<CancellationToken> {
        let Some(run) = self.run.as_mut() else {
            return Vec::new();
        };
        for (_, timer) in run.timers.drain() {
            timer.abort();
        }
        match end {
            End::Shutdown => {}
            End::Finished | End::Deleted => {
                for (_, token) in run.inflight.drain() {
                    token.cancel();
                }
            }
        }
        run.running
            .drain()
            .flat_map(|(_, tasks)| tasks)
            .filter(|t| !t.is_cancelled())
            .collect()
    }

    /// Loads the journal and resumes, or starts the Execution. `Ok(false)`: nothing to drive.
    async fn load(&mut self) -> Result<bool, End> {
        let Some(stored) = self.get_object().await? else {
            return Err(End::Deleted);
        };
        let journal = match self.read_journal().await? {
            Ok(j) => j,
            Err(why) => return self.unresumable(&stored, why).await,
        };
        if journal.is_empty() {
            let phase = stored.0.pointer("/status/phase").and_then(Value::as_str);
            if matches!(phase, Some("Succeeded" | "Failed" | "Cancelled")) {
                let why = stored
                    .0
                    .pointer("/status/reason")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown");
                self.never_started = Some(format!(
                    "execution {} never started ({why}): there is nothing to retry or cancel; create a new Execution",
                    self.key.name
                ));
                return Ok(false);
            }
            return self.start(stored).await;
        }
        let pinned = match first_pinned(&journal) {
            Ok(p) => p,
            Err(message) => return self.unresumable(&stored, message).await,
        };
        let graph = match pinned.compile() {
            Ok(g) => Arc::new(g),
            Err(f) => return self.unresumable(&stored, f.message).await,
        };
        let exec = match Execution::fold(graph, &journal) {
            Ok(e) => e,
            Err(e) => {
                return self
                    .unresumable(&stored, format!("the journal does not fold: {e}"))
                    .await
            }
        };
        let finished = exec.is_finished();
        self.run = Some(Run {
            exec,
            pinned: Arc::new(pinned),
            next_seq: journal.len() as u64,
            object: stored.0,
            revision: stored.1,
            extras: Extras::default(),
            inflight: HashMap::new(),
            running: HashMap::new(),
            timers: HashMap::new(),
            gates: HashMap::new(),
            resources: HashMap::new(),
            human: HashMap::new(),
        });
        if finished && !self.even_if_finished {
            return Ok(false);
        }
        let commands = self
            .run
            .as_ref()
            .map(|r| r.exec.recover())
            .unwrap_or_default();
        self.write_status_only().await?;
        self.carry_out(commands).await;
        Ok(true)
    }

    /// An Execution whose journal cannot be resumed is not left looking alive: unless it has
    /// already finished, it is marked `Failed` with `journal_unreadable` and the reason (its
    /// journal is kept for inspection; nothing of it runs).
    async fn unresumable(&mut self, stored: &(Value, i64), why: String) -> Result<bool, End> {
        eprintln!(
            "planspec: runtime: execution {}: the journal cannot be resumed: {why}",
            self.key
        );
        let phase = stored.0.pointer("/status/phase").and_then(Value::as_str);
        if !matches!(phase, Some("Succeeded" | "Failed" | "Cancelled")) {
            self.fail_start(
                &stored.0,
                stored.1,
                StartFailure {
                    reason: ReasonCode::JournalUnreadable,
                    message: format!("the journal cannot be resumed: {why}"),
                },
            )
            .await?;
        }
        self.never_started = Some(format!(
            "execution {}'s journal cannot be resumed: {why}",
            self.key.name
        ));
        Ok(false)
    }

    /// Starts a new Execution: pin, then `ExecutionStarted`.
    async fn start(&mut self, stored: (Value, i64)) -> Result<bool, End> {
        let (object, revision) = stored;
        let resource: ExecutionResource = match serde_json::from_value(object.clone()) {
            Ok(r) => r,
            Err(e) => {
                self.fail_start(
                    &object,
                    revision,
                    StartFailure {
                        reason: ReasonCode::ExecutionInvalid,
                        message: format!("the execution does not fit the model: {e}"),
                    },
                )
                .await?;
                return Ok(false);
            }
        };
        let (pinned, graph) = match pin(&self.shared, &self.key, &resource).await {
            Ok(p) => p,
            Err(failure) => {
                self.fail_start(&object, revision, failure).await?;
                return Ok(false);
            }
        };
        let creator = crate::governance::creator_of(&object);
        let governance = match crate::governance::read_governance(
            self.shared.store.as_ref(),
            &self.key.namespace,
            &graph,
            &pinned.providers,
            self.shared.options.default_verdict,
        )
        .await
        {
            Ok(g) => g,
            Err(e) => {
                let reason = match e {
                    crate::governance::GovernanceError::Store(_) => ReasonCode::StoreUnavailable,
                    crate::governance::GovernanceError::InvalidPolicy { .. } => {
                        ReasonCode::PolicyInvalid
                    }
                };
                self.fail_start(
                    &object,
                    revision,
                    StartFailure {
                        reason,
                        message: e.to_string(),
                    },
                )
                .await?;
                return Ok(false);
            }
        };
        let graph = Arc::new(graph);
        let input = Input::ExecutionStarted {
            at: now_ms(),
            uid: self.uid.clone(),
            name: Some(self.key.name.clone()),
            namespace: Some(self.key.namespace.clone()),
            graph_digest: graph.digest().to_owned(),
            parameters: resource.spec.parameters.clone().unwrap_or_default(),
            pinned: serde_json::to_value(&pinned).unwrap_or(Value::Null),
            deadline: None,
            creator,
            governance: Some(Box::new(governance)),
            max_parallel: resource.spec.max_parallel,
            fail_fast: resource.spec.fail_fast,
        };
        self.run = Some(Run {
            exec: Execution::new(graph),
            pinned: Arc::new(pinned),
            next_seq: 0,
            object,
            revision,
            extras: Extras::default(),
            inflight: HashMap::new(),
            running: HashMap::new(),
            timers: HashMap::new(),
            gates: HashMap::new(),
            resources: HashMap::new(),
            human: HashMap::new(),
        });
        self.process(input, None).await?;
        Ok(true)
    }

    async fn fail_start(
        &mut self,
        object: &Value,
        revision: i64,
        failure: StartFailure,
    ) -> Result<(), End> {
        let (mut object, mut revision) = (object.clone(), revision);
        loop {
            let status = start_failed_status(
                object.get("status").unwrap_or(&Value::Null),
                failure.reason.as_str(),
                &failure.message,
                now_ms(),
            );
            let mut updated = object.clone();
            updated["status"] = status;
            let op = WriteOp::Update {
                key: self.key.clone(),
                expected_revision: Some(revision),
                object: updated,
            };
            match self.shared.store.transact(vec![op]).await {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict { .. }) => match self.get_object().await? {
                    Some((o, r)) => (object, revision) = (o, r),
                    None => return Err(End::Deleted),
                },
                Err(e) => self.pause_on_store_error(&e).await?,
            }
        }
    }

    /// Handles `msg` and whatever inputs are already queued behind it, writing their steps in
    /// one transaction: a driver that fell behind (many results at once) catches up in a few
    /// writes instead of one per input. Other messages end the batch and are handled after it.
    async fn receive_batch(
        &mut self,
        msg: Msg,
        rx: &mut mpsc::UnboundedReceiver<Msg>,
    ) -> Result<(), End> {
        let mut next = Some(msg);
        let mut staged = 0;
        while let Some(msg) = next.take() {
            match msg {
                Msg::Input(input) => self.stage(input, None),
                Msg::Request { input, reply } => self.stage(input, Some(reply)),
                other => {
                    self.flush().await?;
                    return self.receive(other).await;
                }
            }
            staged += 1;
            if staged >= MAX_BATCH {
                break;
            }
            next = rx.try_recv().ok();
        }
        self.flush().await
    }

    /// Handles one message.
    async fn receive(&mut self, msg: Msg) -> Result<(), End> {
        match msg {
            Msg::Input(input) => self.process(input, None).await,
            Msg::Request { input, reply } => self.process(input, Some(reply)).await,
            Msg::Manual {
                node,
                result,
                by,
                reply,
            } => match self.manual_input(&node, result, by) {
                Ok(input) => {
                    // The person's answer is in; a later wait (criteria after the work) is a
                    // new one.
                    if let Some(run) = self.run.as_mut() {
                        run.human.remove(&node);
                        run.extras.awaiting.remove(&node);
                    }
                    self.process(input, Some(reply)).await
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                    Ok(())
                }
            },
            Msg::Resolve {
                node,
                value,
                by,
                reply,
            } => self.resolve_by_person(node, value, by, reply).await,
            Msg::AwaitingHuman {
                node,
                attempt,
                prompt,
                kind,
            } => {
                let Some(run) = self.run.as_mut() else {
                    return Ok(());
                };
                let current = run
                    .exec
                    .node(&node)
                    .is_some_and(|n| n.attempt == attempt && !n.phase.is_terminal());
                if current {
                    run.extras.awaiting.insert(node.clone(), prompt);
                    run.human.entry(node).or_insert(Waiting {
                        attempt,
                        kind,
                        verdicts: Vec::new(),
                    });
                    self.write_status_only().await?;
                }
                Ok(())
            }
            Msg::CriteriaNeedPerson {
                node,
                attempt,
                verdicts,
                prompt,
            } => {
                let current = self.run.as_ref().is_some_and(|run| {
                    run.exec
                        .node(&node)
                        .is_some_and(|n| n.attempt == attempt && !n.phase.is_terminal())
                });
                if current {
                    self.hold_verdicts(&node, attempt, verdicts);
                    if let Some(run) = self.run.as_mut() {
                        run.extras.awaiting.insert(node, prompt);
                    }
                    self.write_status_only().await?;
                }
                Ok(())
            }
            Msg::Watched { key, object } => {
                self.watched_object(key, object).await;
                Ok(())
            }
            Msg::Poke => {
                self.recheck_all().await;
                Ok(())
            }
            Msg::Deleted => Err(End::Deleted),
            Msg::Waiting { node, message } => self.waiting(node, message).await,
        }
    }

    /// The input a person's `complete`/`fail` makes for `node`.
    fn manual_input(
        &mut self,
        node: &str,
        result: Result<Map<String, Value>, String>,
        by: Option<String>,
    ) -> Result<Input, RuntimeError> {
        let run = self
            .run
            .as_mut()
            .ok_or_else(|| RuntimeError::Conflict("the execution is not loaded".into()))?;
        let Some(waiting) = run.human.get(node).cloned() else {
            let known = run.exec.node(node).is_some();
            return Err(if known {
                RuntimeError::Conflict(format!("node {node} is not waiting for a person"))
            } else {
                RuntimeError::NotFound(format!("node {node}"))
            });
        };
        let node_id: planspec_model::NodeId = node.into();
        let at = now_ms();
        let who = by.as_deref().unwrap_or("a person");
        Ok(match waiting.kind {
            HumanWait::Provider => Input::NodeResult {
                at,
                node: node_id,
                attempt: waiting.attempt,
                outcome: match result {
                    Ok(outputs) => Outcome::Succeeded {
                        outputs,
                        cost_usd: None,
                    },
                    Err(message) => Outcome::Failed {
                        reason: ReasonCode::ProviderFailed,
                        message: format!("failed by {who}: {message}"),
                        retryable: false,
                    },
                },
                exit_code: None,
            },
            HumanWait::External => Input::ExternalCompleted {
                at,
                node: node_id,
                outcome: match result {
                    Ok(outputs) => Outcome::Succeeded {
                        outputs,
                        cost_usd: None,
                    },
                    Err(message) => Outcome::Failed {
                        reason: ReasonCode::ExternalFailed,
                        message: format!("failed by {who}: {message}"),
                        retryable: false,
                    },
                },
            },
            HumanWait::Criteria => {
                let (passed, message) = match &result {
                    Ok(_) => (true, format!("confirmed by {who}")),
                    Err(m) => (false, format!("refused by {who}: {m}")),
                };
                let mut verdicts = waiting.verdicts.clone();
                for v in verdicts
                    .iter_mut()
                    .filter(|v| !v.passed && v.message.as_deref() == Some(MANUAL))
                {
                    v.passed = passed;
                    v.message = Some(message.clone());
                }
                Input::CriteriaResult {
                    at,
                    node: node_id,
                    attempt: waiting.attempt,
                    verdicts,
                }
            }
        })
    }

    /// Runs `input` through the engine, journals it, then carries out the commands.
    pub(crate) async fn process(
        &mut self,
        input: Input,
        reply: Option<oneshot::Sender<Result<(), RuntimeError>>>,
    ) -> Result<(), End> {
        self.stage(input, reply);
        self.flush().await
    }

    /// Runs `input` through the engine and adds the step to the batch; nothing is written and
    /// no command runs until [`Driver::flush`].
    fn stage(&mut self, input: Input, reply: Option<oneshot::Sender<Result<(), RuntimeError>>>) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        let step = match run.exec.handle(input.clone()) {
            Ok(step) => step,
            Err(e) => {
                if let Some(reply) = reply {
                    let _ = reply.send(Err(RuntimeError::Invalid(e.to_string())));
                }
                return;
            }
        };
        let ignored = step.decisions.iter().find_map(|d| match d {
            Decision::InputIgnored { reason, .. } => Some(*reason),
            _ => None,
        });
        self.forget_finished(&step);
        // The attempt reported back: its work is done, its cancellation token is not needed
        // (a criteria check started by this step gets its own). Without this, a run would
        // keep one token per attempt it ever dispatched until it ends.
        if let Input::NodeResult { node, attempt, .. }
        | Input::CriteriaResult { node, attempt, .. } = &input
        {
            if let Some(run) = self.run.as_mut() {
                run.inflight.remove(&(node.to_string(), *attempt));
            }
        }
        let batch = &mut self.batch;
        batch.entries.extend(
            step.journal_entries(&input)
                .iter()
                .map(|e| serde_json::to_value(e).unwrap_or(Value::Null)),
        );
        if matches!(input, Input::ExecutionStarted { .. }) {
            batch.all_nodes = true;
        }
        batch.touched.extend(touched_nodes(&step, Some(&input)));
        if let Some(reply) = reply {
            let answer = match ignored {
                Some(reason) => Err(RuntimeError::Conflict(format!(
                    "{} ({})",
                    reason.description(),
                    reason.as_str()
                ))),
                None => Ok(()),
            };
            batch.replies.push((reply, answer));
        }
        batch.commands.extend(step.commands);
    }

    /// Writes the batch in one transaction, then answers its requests and carries out its
    /// commands in the order the steps produced them.
    async fn flush(&mut self) -> Result<(), End> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        self.commit(&batch).await?;
        for (reply, answer) in batch.replies {
            let _ = reply.send(answer);
        }
        self.carry_out(batch.commands).await;
        Ok(())
    }

    /// Drops the bookkeeping of nodes the step finished (their people, gates, resources).
    fn forget_finished(&mut self, step: &Step) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        for node in touched_nodes(step, None) {
            let still_open = run
                .exec
                .node(&node)
                .is_some_and(|n| n.phase == planspec_engine::NodePhase::Running);
            let waiting_attempt = run.human.get(&node).map(|w| w.attempt);
            let current = run.exec.node(&node).map(|n| n.attempt);
            if !still_open || waiting_attempt != current {
                run.human.remove(&node);
                run.extras.awaiting.remove(&node);
            }
            if !still_open {
                run.gates.remove(&node);
                run.resources.remove(&node);
                run.extras.waiting_on.remove(&node);
            }
        }
    }

    /// One durable write: the journal entries, the status, the changed node records.
    async fn commit(&mut self, batch: &Batch) -> Result<(), End> {
        let Some(run) = self.run.as_mut() else {
            return Ok(());
        };
        let entries = batch.entries.clone();
        let touched: Vec<String> = if batch.all_nodes {
            // Every node gets its first record.
            run.exec
                .graph()
                .nodes()
                .iter()
                .map(|n| n.id.to_string())
                .collect()
        } else {
            batch.touched.iter().cloned().collect()
        };
        let records: Vec<_> = touched
            .iter()
            .filter_map(|id| {
                run.exec
                    .node(id)
                    .map(|n| node_record(id, n, &run.extras, &run.pinned, &run.exec))
            })
            .collect();
        self.write(entries, records).await
    }

    /// One transaction: `entries` appended to the journal (checked against its length), the
    /// Execution's status derived now, and `records`. A status-only write (no entries) that
    /// would change nothing is skipped. A concurrent change to the Execution object (a label)
    /// is re-read and the write retried; another journal writer stops this driver.
    async fn write(
        &mut self,
        entries: Vec<Value>,
        records: Vec<planspec_store::NodeRecord>,
    ) -> Result<(), End> {
        let limit = self.shared.options.node_status_limit;
        loop {
            let run = self.run.as_mut().ok_or(End::Deleted)?;
            let status = execution_status(
                run.object.get("status").unwrap_or(&Value::Null),
                &run.exec,
                &run.extras,
                &run.pinned,
                limit,
                now_ms(),
            );
            if entries.is_empty() && records.is_empty() && run.object.get("status") == Some(&status)
            {
                return Ok(());
            }
            let mut object = run.object.clone();
            object["status"] = status;
            let mut ops = Vec::with_capacity(3);
            if !entries.is_empty() {
                ops.push(WriteOp::AppendJournal {
                    execution_uid: self.uid.clone(),
                    expected_next_seq: run.next_seq,
                    entries: entries.clone(),
                });
                ops.extend(super::audit::decision_records(&self.key, &entries));
            }
            ops.push(WriteOp::Update {
                key: self.key.clone(),
                expected_revision: Some(run.revision),
                object,
            });
            if !records.is_empty() {
                ops.push(WriteOp::PutNodeRecords {
                    execution_uid: self.uid.clone(),
                    records: records.clone(),
                });
            }
            match self.shared.store.transact(ops).await {
                Ok(changes) => {
                    let run = self.run.as_mut().ok_or(End::Deleted)?;
                    run.next_seq += entries.len() as u64;
                    if let Some(c) = changes.into_iter().find(|c| c.object.key == self.key) {
                        run.revision = c.object.revision;
                        run.object = c.object.object;
                    }
                    return Ok(());
                }
                Err(StoreError::Conflict { .. }) => self.reload_object().await?,
                Err(StoreError::JournalConflict { .. }) => {
                    eprintln!(
                        "planspec: runtime: execution {}: another writer appended to the journal; this driver stops",
                        self.key
                    );
                    return Err(End::Shutdown);
                }
                Err(StoreError::ExecutionNotFound(_)) | Err(StoreError::NotFound(_)) => {
                    return Err(End::Deleted)
                }
                Err(e) => self.pause_on_store_error(&e).await?,
            }
        }
    }

    /// Writes the status and the records of `nodes` (no journal entry): for what the engine
    /// does not know about them, such as a wait for a lease that ended.
    pub(crate) async fn write_nodes(&mut self, nodes: &[&str]) -> Result<(), End> {
        let Some(run) = self.run.as_ref() else {
            return Err(End::Deleted);
        };
        let records = nodes
            .iter()
            .filter_map(|id| {
                run.exec
                    .node(id)
                    .map(|n| node_record(id, n, &run.extras, &run.pinned, &run.exec))
            })
            .collect();
        self.write(Vec::new(), records).await
    }

    /// Writes the status alone (no journal entry): for what the engine does not know, such
    /// as a node handed to a person, and after a resume. Only unfinished nodes the driver
    /// holds extras for get their record rewritten: a finished node's record was written by
    /// the step that finished it, and a `Plan` node's by [`Driver::write_status_for`] when its
    /// child was started (so a run of many sub-plans does not rewrite every child's record
    /// on each event).
    pub(crate) async fn write_status_only(&mut self) -> Result<(), End> {
        let Some(run) = self.run.as_ref() else {
            return Err(End::Deleted);
        };
        let ids: Vec<String> = run
            .human
            .keys()
            .chain(run.extras.waiting_on.keys())
            .chain(run.extras.gates.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|id| run.exec.node(id).is_some_and(|n| !n.phase.is_terminal()))
            .cloned()
            .collect();
        self.write_status_for(&ids).await
    }

    /// Writes the status with the records of the nodes `ids` (no journal entry).
    pub(crate) async fn write_status_for(&mut self, ids: &[String]) -> Result<(), End> {
        let Some(run) = self.run.as_ref() else {
            return Err(End::Deleted);
        };
        let records: Vec<_> = ids
            .iter()
            .filter_map(|id| {
                run.exec
                    .node(id)
                    .map(|n| node_record(id, n, &run.extras, &run.pinned, &run.exec))
            })
            .collect();
        self.write(Vec::new(), records).await
    }

    async fn reload_object(&mut self) -> Result<(), End> {
        match self.get_object().await? {
            Some((object, revision)) => {
                if let Some(run) = self.run.as_mut() {
                    run.object = object;
                    run.revision = revision;
                }
                Ok(())
            }
            None => Err(End::Deleted),
        }
    }

    async fn pause_on_store_error(&self, e: &StoreError) -> Result<(), End> {
        eprintln!(
            "planspec: runtime: execution {}: store error: {e}; retrying",
            self.key
        );
        if self.shared.shutting_down() {
            return Err(End::Shutdown);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok(())
    }

    async fn get_object(&self) -> Result<Option<(Value, i64)>, End> {
        loop {
            match self.shared.store.get(&self.key).await {
                Ok(Some(o)) if o.uid == self.uid => return Ok(Some((o.object, o.revision))),
                Ok(_) => return Ok(None),
                Err(e) => self.pause_on_store_error(&e).await?,
            }
        }
    }

    /// The whole journal; the inner `Err` says which entry does not parse.
    async fn read_journal(&self) -> Result<Result<Vec<Event>, String>, End> {
        let mut events = Vec::new();
        loop {
            let page = loop {
                match self
                    .shared
                    .store
                    .read_journal(&self.uid, events.len() as u64, JOURNAL_PAGE)
                    .await
                {
                    Ok(p) => break p,
                    Err(e) => self.pause_on_store_error(&e).await?,
                }
            };
            let n = page.len();
            for entry in page {
                match serde_json::from_value::<Event>(entry.entry) {
                    Ok(e) => events.push(e),
                    Err(e) => {
                        return Ok(Err(format!(
                            "journal entry {} does not parse: {e}",
                            entry.seq
                        )))
                    }
                }
            }
            if n < JOURNAL_PAGE {
                return Ok(Ok(events));
            }
        }
    }
}

/// The verdict message that marks a manual criterion still waiting for a person.
pub(crate) const MANUAL: &str = "awaiting a person";

/// The pinned record in the journal's first entry.
fn first_pinned(journal: &[Event]) -> Result<Pinned, String> {
    match journal.first() {
        Some(Event::Input(Input::ExecutionStarted { pinned, .. })) => {
            serde_json::from_value(pinned.clone()).map_err(|e| format!("pinned record: {e}"))
        }
        _ => Err("the first entry is not ExecutionStarted".into()),
    }
}

/// Node ids an input and its decisions name.
fn touched_nodes(step: &Step, input: Option<&Input>) -> BTreeSet<String> {
    let mut nodes = BTreeSet::new();
    let mut add = |v: Value| {
        if let Some(n) = v.get("node").and_then(Value::as_str) {
            nodes.insert(n.to_owned());
        }
    };
    if let Some(input) = input {
        add(serde_json::to_value(input).unwrap_or(Value::Null));
    }
    for d in &step.decisions {
        add(serde_json::to_value(d).unwrap_or(Value::Null));
    }
    nodes
}
