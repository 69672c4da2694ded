//! Carrying out the engine's commands: provider attempts, acceptance checks, Gates, External
//! waits, timers, kills. Every effect answers the driver through its inbox with an input.
//!
//! * **Dispatch** runs the pinned provider in a task with a cancellation token; its log goes
//!   to `<data_dir>/executions/<uid>/logs/<node>/<attempt>.log`, its scratch directory is the
//!   Execution's `<data_dir>/executions/<uid>/work`. A `human://` attempt is handed to a person.
//! * **EvaluateCriteria** runs the acceptance checks; manual criteria wait for a person.
//! * **OpenGate** marks the Gate `Waiting` (condition `Activated`) and waits for its decision
//!   on the Gate's current generation; a missing Gate is waited for, and said so in the status.
//! * **WatchExternal**: `resource` waits for the object's phase (`Succeeded`/`Ready`/`Approved`/
//!   `Available` complete it, `Failed`/`Rejected`/`Invalid` fail it); `uri` polls the URI until
//!   it answers 2xx (a JSON object answer becomes the outputs); `manual` and `webhook` wait for
//!   `planspec complete` (the webhook's caller uses the same API call).
//! * **Timers** are tasks sleeping until `due_at`; **Kill** cancels the attempt's token. The
//!   attempt's task returns only once its process group is gone (after the grace period at
//!   most); a `ReleaseLease` of the same step releases the node's lease only then.

use super::execution::{Driver, HumanWait, Msg, Waiting, MANUAL};
use super::now_ms;
use crate::acceptance::{CriteriaContext, CriterionStatus, Evaluator};
use crate::log::{LogLimits, LogSink};
use crate::provider::{DispatchOutcome, DispatchRequest};
use crate::CancellationToken;
use planspec_engine::{Command, Input, Outcome, ReasonCode, TimerId, Verdict};
use planspec_model::plan::ExternalRef;
use planspec_model::ObjectReference;
use planspec_store::{ObjectKey, StoreError, WriteOp};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::time::Duration;

/// How often a `uri` External is polled when the node does not say.
const DEFAULT_POLL: Duration = Duration::from_secs(10);

impl Driver {
    fn execution_dir(&self) -> PathBuf {
        self.shared
            .options
            .data_dir
            .join("executions")
            .join(&self.uid)
    }

    /// Carries out `commands` in order.
    pub(crate) async fn carry_out(&mut self, commands: Vec<Command>) {
        for command in commands {
            match command {
                Command::Dispatch {
                    node,
                    attempt,
                    idempotency_key,
                    inputs,
                    timeout_ms,
                } => {
                    self.dispatch(
                        node.to_string(),
                        attempt,
                        idempotency_key,
                        inputs,
                        timeout_ms,
                    )
                    .await
                }
                Command::EvaluateCriteria {
                    node,
                    attempt,
                    criteria,
                    outputs,
                    ..
                } => self.evaluate(node.to_string(), attempt, criteria, outputs),
                Command::OpenGate {
                    node,
                    attempt,
                    gate_ref,
                } => self.open_gate(node.to_string(), attempt, gate_ref).await,
                Command::RequestApproval {
                    node,
                    approval,
                    risk,
                    reason,
                    message,
                } => {
                    self.request_approval(node.to_string(), approval, risk, reason, message)
                        .await
                }
                Command::WatchExternal {
                    node,
                    attempt,
                    external_ref,
                    poll_interval_ms,
                    ..
                } => {
                    self.watch_external(node.to_string(), attempt, external_ref, poll_interval_ms)
                        .await
                }
                Command::ResolveSelector {
                    node,
                    attempt,
                    kind,
                    selector,
                    value_type,
                } => self.resolve_selector(node.to_string(), attempt, kind, selector, value_type),
                Command::StartTimer { timer, due_at } => self.start_timer(timer, due_at),
                Command::CancelTimer { timer } => {
                    if let Some(run) = self.run.as_mut() {
                        if let Some(t) = run.timers.remove(&timer) {
                            t.abort();
                        }
                    }
                }
                Command::Kill {
                    node,
                    attempt,
                    idempotency_key,
                } => {
                    if self.kill_child(&node, attempt) {
                        continue;
                    }
                    let token = self
                        .run
                        .as_mut()
                        .and_then(|run| run.inflight.remove(&(node.to_string(), attempt)));
                    match token {
                        Some(token) => token.cancel(),
                        // Nothing in flight here: the kill is re-issued after a restart, and the
                        // attempt's processes (if a dead runtime left them) are stopped by
                        // their recorded group, checked by the key.
                        None => {
                            // The node's lease (released in this step too) waits for it.
                            let done = self.run.as_mut().map(|run| run.track(&node).drop_guard());
                            let group = crate::provider::exec::group_path(
                                &self.execution_dir().join("work"),
                                &node,
                                attempt,
                            );
                            tokio::spawn(async move {
                                crate::process::reap_leftover(
                                    &group,
                                    &format!("PLANSPEC_IDEMPOTENCY_KEY={idempotency_key}"),
                                    Duration::from_secs(10),
                                )
                                .await;
                                drop(done);
                            });
                        }
                    }
                }
                Command::StartChild {
                    node,
                    attempt,
                    inputs,
                    ..
                } => self.start_child(node.to_string(), attempt, inputs).await,
                Command::CancelChild {
                    node,
                    attempt,
                    force,
                } => self.cancel_child(&node, attempt, force),
                Command::AcquireLease {
                    node,
                    key,
                    limit,
                    priority,
                } => {
                    self.acquire_lease(node.to_string(), key, limit, priority)
                        .await
                }
                Command::ReleaseLease { node, .. } => self.release_lease(node.as_str()).await,
                Command::Finish { .. } => {}
            }
        }
    }

    async fn dispatch(
        &mut self,
        node: String,
        attempt: u32,
        idempotency_key: String,
        inputs: Value,
        timeout_ms: Option<u64>,
    ) {
        let tx = self.tx.clone();
        let Some(run) = self.run.as_mut() else {
            return;
        };
        // A matrix instance runs with its matrix node's provider.
        let bound = run
            .exec
            .owner_of(&node)
            .map_or_else(|| node.clone(), |owner| owner.to_string());
        let Some(provider) = run.pinned.providers.get(&bound).cloned() else {
            let _ = tx.send(Msg::Input(Input::NodeResult {
                at: now_ms(),
                node: node.as_str().into(),
                attempt,
                outcome: Outcome::Failed {
                    reason: ReasonCode::ProviderUnbound,
                    message: format!("node {node} has no pinned provider"),
                    retryable: false,
                },
                exit_code: None,
            }));
            return;
        };
        let dir = self
            .shared
            .options
            .data_dir
            .join("executions")
            .join(&self.uid);
        let log_path = dir.join("logs").join(&node).join(format!("{attempt}.log"));
        let work_dir = dir.join("work");
        let token = CancellationToken::new();
        let runs_process = provider.uri.starts_with("exec://");
        let Some(run) = self.run.as_mut() else {
            return;
        };
        run.inflight.insert((node.clone(), attempt), token.clone());
        // Cancelled when this task returns (a killed process's group is gone by then): the
        // node's lease is released only after it.
        let done = run.track(&node).drop_guard();
        let shared = self.shared.clone();
        let priority = super::run_slots::priority(&run.exec);
        let execution = format!("{}/{}", self.key.namespace, self.key.name);
        let uid = self.uid.clone();
        tokio::spawn(async move {
            let _done = done;
            let _ = tokio::fs::create_dir_all(&work_dir).await;
            // An attempt dispatched again after a restart keeps what it logged before:
            // `<attempt>.log.before-restart` (the newest such part), then a fresh log.
            if tokio::fs::try_exists(&log_path).await.unwrap_or(false) {
                let mut kept = log_path.clone().into_os_string();
                kept.push(".before-restart");
                let _ = tokio::fs::rename(&log_path, &kept).await;
            }
            let log = match LogSink::create(&log_path, LogLimits::default()).await {
                Ok(sink) => sink,
                Err(e) => {
                    eprintln!(
                        "planspec: runtime: cannot create the log {}: {e}",
                        log_path.display()
                    );
                    LogSink::disabled()
                }
            };
            let request = DispatchRequest {
                execution,
                execution_uid: uid,
                node_id: node.clone(),
                attempt,
                idempotency_key,
                inputs: match inputs {
                    Value::Object(m) => m,
                    Value::Null => Map::new(),
                    other => {
                        let mut m = Map::new();
                        m.insert("value".into(), other);
                        m
                    }
                },
                provider,
                timeout: timeout_ms.map(Duration::from_millis),
                work_dir,
                log: log.clone(),
            };
            // The runtime-wide limit on running attempts (`--max-running-tasks`).
            let Some(_slot) =
                super::run_slots::wait_for_slot(&shared, &tx, &node, priority, &token).await
            else {
                let _ = log.finish().await;
                return;
            };
            let outcome = shared.registry.dispatch(request, token).await;
            let _ = log.finish().await;
            let msg = match outcome {
                DispatchOutcome::AwaitingHuman { role, prompt } => Msg::AwaitingHuman {
                    node,
                    attempt,
                    prompt: if prompt.is_empty() {
                        format!("finish this task as {role}")
                    } else {
                        prompt
                    },
                    kind: HumanWait::Provider,
                },
                other => match (
                    super::reasons::exit_code(&other, runs_process),
                    super::reasons::outcome(other),
                ) {
                    (exit_code, Some(outcome)) => Msg::Input(Input::NodeResult {
                        at: now_ms(),
                        node: node.as_str().into(),
                        attempt,
                        outcome,
                        exit_code,
                    }),
                    (_, None) => return,
                },
            };
            let _ = tx.send(msg);
        });
    }

    fn evaluate(
        &mut self,
        node: String,
        attempt: u32,
        criteria: Vec<planspec_model::plan::AcceptanceCriterion>,
        outputs: Map<String, Value>,
    ) {
        let tx = self.tx.clone();
        let work_dir = self.execution_dir().join("work");
        let execution = format!("{}/{}", self.key.namespace, self.key.name);
        let Some(run) = self.run.as_mut() else {
            return;
        };
        let token = CancellationToken::new();
        run.inflight.insert((node.clone(), attempt), token.clone());
        // Criteria may run commands: the node's lease waits for them too.
        let done = run.track(&node).drop_guard();
        tokio::spawn(async move {
            let _done = done;
            let _ = tokio::fs::create_dir_all(&work_dir).await;
            let mut ctx = CriteriaContext::new(execution, node.clone(), work_dir);
            ctx.outputs = outputs;
            ctx.cancel = token;
            let results = Evaluator::new().evaluate(&criteria, &ctx).await;
            let needs_person = results
                .iter()
                .any(|r| r.status == CriterionStatus::NeedsPerson);
            let verdicts: Vec<Verdict> = results
                .iter()
                .map(|r| Verdict {
                    name: r.name.clone(),
                    passed: r.status == CriterionStatus::Passed,
                    message: Some(if r.status == CriterionStatus::NeedsPerson {
                        MANUAL.to_owned()
                    } else {
                        r.message.clone()
                    }),
                })
                .collect();
            let machine_failed = results
                .iter()
                .any(|r| r.required && r.status == CriterionStatus::Failed);
            if needs_person && !machine_failed {
                let names: Vec<String> = results
                    .iter()
                    .filter(|r| r.status == CriterionStatus::NeedsPerson)
                    .map(|r| r.name.clone())
                    .collect();
                let _ = tx.send(Msg::CriteriaNeedPerson {
                    node,
                    attempt,
                    verdicts,
                    prompt: format!("confirm the acceptance criteria: {}", names.join(", ")),
                });
                return;
            }
            let _ = tx.send(Msg::Input(Input::CriteriaResult {
                at: now_ms(),
                node: node.as_str().into(),
                attempt,
                verdicts,
            }));
        });
    }

    /// Opens the Gate of a Gate node. The plan's Gate is a template: each Execution reaching
    /// the node gets its own Gate, `<execution>-<node>` (`-<attempt>` after a retry), with the
    /// template's spec, targeting this Execution and node, owned by the Execution (deleted
    /// with it), labelled `planspec.io/execution`, `planspec.io/node`, `planspec.io/gate`. So
    /// an approval is for one run only and never carries over to the next. A referenced Gate
    /// that already targets this very Execution is used as it is.
    async fn open_gate(&mut self, node: String, attempt: u32, gate_ref: ObjectReference) {
        let ns = gate_ref
            .namespace
            .as_deref()
            .unwrap_or(&self.key.namespace)
            .to_owned();
        let template_key = ObjectKey::new("Gate", ns.clone(), gate_ref.name.to_string());
        // Interest first, then the read: a template created in between is not missed.
        self.shared.watch_object(template_key.clone(), &self.uid);
        let template = self
            .shared
            .store
            .get(&template_key)
            .await
            .ok()
            .flatten()
            .map(|o| o.object);
        let Some(template) = template else {
            // Waited for: when the Gate is created, the node opens it.
            self.shared.watch_object(template_key.clone(), &self.uid);
            if let Some(run) = self.run.as_mut() {
                run.gates
                    .insert(node.clone(), (template_key.clone(), attempt));
                run.extras.waiting_on.insert(
                    node.clone(),
                    format!("waiting for gate {} (it does not exist)", template_key.name),
                );
            }
            let _ = self.write_status_only().await;
            return;
        };
        let own = template.pointer("/spec/targetRef/kind") == Some(&json!("Execution"))
            && template.pointer("/spec/targetRef/name") == Some(&json!(self.key.name));
        let key = if own {
            template_key
        } else {
            match self.gate_instance(&template, &ns, &node, attempt).await {
                Some(k) => k,
                None => return,
            }
        };
        self.shared.watch_object(key.clone(), &self.uid);
        if let Some(run) = self.run.as_mut() {
            run.gates.insert(node.clone(), (key.clone(), attempt));
            run.extras.waiting_on.remove(&node);
            run.extras.gates.insert(node.clone(), key.name.clone());
        }
        let _ = self.write_status_only().await;
        self.activate_gate(&key, &node).await;
        self.check_gate(&node).await;
    }

    /// Creates (if absent) this Execution's Gate for `node` from `template`; its key.
    pub(super) async fn gate_instance(
        &self,
        template: &Value,
        ns: &str,
        node: &str,
        attempt: u32,
    ) -> Option<ObjectKey> {
        let base = if attempt > 1 {
            format!("{}-{node}-{attempt}", self.key.name)
        } else {
            format!("{}-{node}", self.key.name)
        };
        let name = dns_name(&base);
        let key = ObjectKey::new("Gate", ns, name.clone());
        let uid = derived_uid(&format!("{}/{node}/{attempt}", self.uid));
        let template_name = template
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
        spec["targetRef"] = json!({"kind": "Execution", "name": self.key.name, "uid": self.uid,
                                   "nodeId": node});
        let now = planspec_engine::timestamp(now_ms());
        let object = json!({
            "apiVersion": "planspec.io/v1alpha1",
            "kind": "Gate",
            "metadata": {
                "name": name, "namespace": ns, "uid": uid, "generation": 1,
                "creationTimestamp": &*now,
                "labels": {"planspec.io/execution": self.key.name, "planspec.io/node": node,
                           "planspec.io/gate": template_name},
                "ownerReferences": [{"apiVersion": "planspec.io/v1alpha1", "kind": "Execution",
                                     "name": self.key.name, "uid": self.uid,
                                     "controller": true, "blockOwnerDeletion": true}]
            },
            "spec": spec,
            "status": {"phase": "Waiting", "observedGeneration": 1}
        });
        match self
            .shared
            .store
            .create(key.clone(), uid.clone(), object.clone())
            .await
        {
            Ok(_) => Some(key),
            Err(StoreError::AlreadyExists(_)) => {
                // Ours (created before a restart), or another run's / a leftover with the same
                // name (`a`+`b-c` and `a-b`+`c` both make `a-b-c`): then a name with a hash.
                match self.shared.store.get(&key).await {
                    Ok(Some(existing)) if existing.uid == uid => Some(key),
                    _ => {
                        let hashed = dns_name(&format!("{base}-{}", &uid[..8]));
                        let key = ObjectKey::new("Gate", ns, hashed.clone());
                        let mut object = object;
                        object["metadata"]["name"] = json!(hashed);
                        match self
                            .shared
                            .store
                            .create(key.clone(), uid.clone(), object)
                            .await
                        {
                            Ok(_) => Some(key),
                            Err(StoreError::AlreadyExists(_)) => {
                                match self.shared.store.get(&key).await {
                                    Ok(Some(existing)) if existing.uid == uid => Some(key),
                                    _ => {
                                        eprintln!("planspec: runtime: gate names {base} and {hashed} are taken by other objects");
                                        None
                                    }
                                }
                            }
                            Err(e) => {
                                eprintln!("planspec: runtime: creating gate {key}: {e}");
                                None
                            }
                        }
                    }
                }
            }
            Err(e) => {
                eprintln!("planspec: runtime: creating gate {key}: {e}");
                None
            }
        }
    }

    /// Marks the Gate `Waiting` with the condition `Activated` naming this execution and node
    /// (unless it is decided already: then `check_gate` reads the decision).
    pub(super) async fn activate_gate(&self, key: &ObjectKey, node: &str) {
        let message = format!("execution {} reached node {node}", self.key.name);
        for _ in 0..10 {
            let stored = match self.shared.store.get(key).await {
                Ok(Some(o)) => o,
                _ => return,
            };
            let mut object = stored.object.clone();
            let Some(map) = object.as_object_mut() else {
                return;
            };
            let status = map.entry("status").or_insert_with(|| json!({}));
            if status.get("resolution").is_some() {
                return;
            }
            let activated = status["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Activated" && c["message"] == json!(message))
            });
            if status.get("phase") == Some(&json!("Waiting")) && activated {
                return;
            }
            status["phase"] = json!("Waiting");
            let mut conditions = status["conditions"].as_array().cloned().unwrap_or_default();
            conditions.retain(|c| c["type"] != "Activated");
            conditions.push(json!({"type": "Activated", "status": "True",
                                   "reason": "ExecutionReachedGate", "message": message,
                                   "lastTransitionTime": &*planspec_engine::timestamp(now_ms())}));
            status["conditions"] = Value::Array(conditions);
            let op = WriteOp::Update {
                key: key.clone(),
                expected_revision: Some(stored.revision),
                object,
            };
            match self.shared.store.transact(vec![op]).await {
                Ok(_) => return,
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => {
                    eprintln!("planspec: runtime: activating gate {key}: {e}");
                    return;
                }
            }
        }
    }

    /// Sends `GateResolved` if the Gate of `node` is decided on its current generation.
    pub(super) async fn check_gate(&mut self, node: &str) {
        let Some((key, _)) = self.run.as_ref().and_then(|r| r.gates.get(node).cloned()) else {
            return;
        };
        let object = match self.shared.store.get(&key).await {
            Ok(o) => o.map(|o| o.object),
            Err(_) => return,
        };
        self.gate_changed(node, &key, object.as_ref()).await;
    }

    async fn gate_changed(&mut self, node: &str, key: &ObjectKey, object: Option<&Value>) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        let Some(object) = object else {
            run.extras.waiting_on.insert(
                node.to_owned(),
                format!("waiting for gate {} (it does not exist)", key.name),
            );
            let _ = self.write_status_only().await;
            return;
        };
        if run.extras.waiting_on.remove(node).is_some() {
            let _ = self.write_status_only().await;
        }
        let generation = object
            .pointer("/metadata/generation")
            .and_then(Value::as_u64)
            .unwrap_or(1);
        let decided = object
            .pointer("/status/decidedGeneration")
            .and_then(Value::as_u64);
        let outcome = object
            .pointer("/status/resolution/outcome")
            .and_then(Value::as_str);
        if decided != Some(generation) {
            return;
        }
        let approved = match outcome {
            Some("approved") => true,
            Some("rejected") => false,
            _ => return,
        };
        let actors = object
            .pointer("/status/resolution/actors")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            });
        let comment = object
            .pointer("/status/resolution/comment")
            .and_then(Value::as_str)
            .map(str::to_owned);
        // The approved values (the Gate's typed input) become the node's outputs.
        let outputs = object
            .pointer("/status/resolution/values")
            .and_then(Value::as_object)
            .filter(|_| approved)
            .cloned();
        let timed_out =
            object.pointer("/status/resolution/reason") == Some(&Value::from("timeout"));
        let _ = self.tx.send(Msg::Input(Input::GateResolved {
            at: now_ms(),
            node: node.into(),
            approved,
            by: actors,
            comment,
            outputs,
            timed_out,
        }));
    }

    async fn watch_external(
        &mut self,
        node: String,
        attempt: u32,
        external: ExternalRef,
        poll_interval_ms: Option<u64>,
    ) {
        match external {
            ExternalRef::Manual(_) | ExternalRef::Webhook(_) => {
                let prompt = match &external {
                    ExternalRef::Webhook(w) => format!(
                        "waiting for the webhook call ({}) — `planspec complete` signals it",
                        w.webhook_url
                    ),
                    _ => "waiting to be signalled complete (`planspec complete`)".to_owned(),
                };
                let _ = self.tx.send(Msg::AwaitingHuman {
                    node,
                    attempt,
                    prompt,
                    kind: HumanWait::External,
                });
            }
            ExternalRef::Resource(r) => {
                let ns = r
                    .resource_ref
                    .namespace
                    .as_deref()
                    .unwrap_or(&self.key.namespace)
                    .to_owned();
                let kind = r
                    .resource_ref
                    .kind
                    .clone()
                    .unwrap_or_else(|| "Execution".into());
                let key = ObjectKey::new(kind, ns, r.resource_ref.name.to_string());
                self.shared.watch_object(key.clone(), &self.uid);
                if let Some(run) = self.run.as_mut() {
                    run.resources.insert(node.clone(), (key.clone(), attempt));
                }
                let object = self
                    .shared
                    .store
                    .get(&key)
                    .await
                    .ok()
                    .flatten()
                    .map(|o| o.object);
                self.resource_changed(&node, object.as_ref()).await;
            }
            ExternalRef::Uri(u) => {
                let tx = self.tx.clone();
                let token = CancellationToken::new();
                if let Some(run) = self.run.as_mut() {
                    run.inflight.insert((node.clone(), attempt), token.clone());
                }
                let every = poll_interval_ms
                    .map(Duration::from_millis)
                    .unwrap_or(DEFAULT_POLL);
                tokio::spawn(poll_uri(tx, node, u.uri, every, token));
            }
        }
    }

    async fn resource_changed(&mut self, node: &str, object: Option<&Value>) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        let Some((key, _)) = run.resources.get(node).cloned() else {
            return;
        };
        let phase = object
            .and_then(|o| o.pointer("/status/phase"))
            .and_then(Value::as_str);
        let outcome = match phase {
            Some("Succeeded" | "Ready" | "Approved" | "Available") => Outcome::Succeeded {
                outputs: object
                    .and_then(|o| o.pointer("/status/outputs"))
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
                cost_usd: None,
            },
            Some(p @ ("Failed" | "Rejected" | "Invalid" | "Cancelled")) => Outcome::Failed {
                reason: ReasonCode::ExternalFailed,
                message: format!("{} {} is {p}", key.kind, key.name),
                retryable: false,
            },
            _ => {
                let what = match phase {
                    Some(p) => format!("waiting for {} {} (now {p})", key.kind, key.name),
                    None if object.is_none() => {
                        format!("waiting for {} {} (it does not exist)", key.kind, key.name)
                    }
                    None => format!("waiting for {} {}", key.kind, key.name),
                };
                run.extras.waiting_on.insert(node.to_owned(), what);
                let _ = self.write_status_only().await;
                return;
            }
        };
        let _ = self.tx.send(Msg::Input(Input::ExternalCompleted {
            at: now_ms(),
            node: node.into(),
            outcome,
        }));
    }

    fn start_timer(&mut self, timer: TimerId, due_at: u64) {
        let tx = self.tx.clone();
        let Some(run) = self.run.as_mut() else {
            return;
        };
        let delay = Duration::from_millis(due_at.saturating_sub(now_ms()));
        let id = timer.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(Msg::Input(Input::TimerFired {
                at: now_ms().max(due_at),
                timer: id,
            }));
        });
        if let Some(old) = run.timers.insert(timer, task) {
            old.abort();
        }
    }

    /// A watched object changed.
    pub(crate) async fn watched_object(&mut self, key: ObjectKey, object: Option<Value>) {
        let Some(run) = self.run.as_ref() else {
            return;
        };
        let gates: Vec<String> = run
            .gates
            .iter()
            .filter(|(_, (k, _))| *k == key)
            .map(|(n, _)| n.clone())
            .collect();
        let resources: Vec<String> = run
            .resources
            .iter()
            .filter(|(_, (k, _))| *k == key)
            .map(|(n, _)| n.clone())
            .collect();
        for node in gates {
            let opened = self
                .run
                .as_ref()
                .is_some_and(|r| r.extras.gates.contains_key(&node));
            let attempt = self
                .run
                .as_ref()
                .and_then(|r| r.gates.get(&node).map(|(_, a)| *a));
            match (opened, &object, attempt) {
                // The template appeared: open the node's Gate now.
                (false, Some(_), Some(attempt)) => {
                    let gate_ref = ObjectReference {
                        name: key.name.as_str().into(),
                        namespace: Some(key.namespace.as_str().into()),
                        uid: None,
                        api_version: None,
                        kind: Some("Gate".into()),
                    };
                    self.open_gate(node, attempt, gate_ref).await;
                }
                _ => self.gate_changed(&node, &key, object.as_ref()).await,
            }
        }
        for node in resources {
            self.resource_changed(&node, object.as_ref()).await;
        }
        self.child_changed(&key, object.as_ref()).await;
    }

    /// Looks at every watched object again.
    pub(crate) async fn recheck_all(&mut self) {
        let Some(run) = self.run.as_ref() else {
            return;
        };
        let ns = &self.key.namespace;
        let children = run.extras.children.values();
        let keys: Vec<ObjectKey> = run
            .gates
            .values()
            .chain(run.resources.values())
            .map(|(k, _)| k.clone())
            .chain(children.map(|name| ObjectKey::new("Execution", ns.clone(), name.clone())))
            .collect();
        for key in keys {
            let object = self
                .shared
                .store
                .get(&key)
                .await
                .ok()
                .flatten()
                .map(|o| o.object);
            self.watched_object(key, object).await;
        }
    }

    /// Keeps the machine verdicts of a Task whose manual criteria wait for a person.
    pub(crate) fn hold_verdicts(&mut self, node: &str, attempt: u32, verdicts: Vec<Verdict>) {
        if let Some(run) = self.run.as_mut() {
            run.human.insert(
                node.to_owned(),
                Waiting {
                    attempt,
                    kind: HumanWait::Criteria,
                    verdicts,
                },
            );
        }
    }
}

/// `text` as a DNS label of at most 63 characters: kept if it fits, else cut and suffixed
/// with a hash of the whole, so distinct texts stay distinct.
pub(super) fn dns_name(text: &str) -> String {
    if text.len() <= 63 {
        return text.to_owned();
    }
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(text.as_bytes());
    let suffix: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let head = text[..54].trim_end_matches('-');
    format!("{head}-{suffix}")
}

/// A UUID-shaped id derived from `seed` (so re-creating the same object gives the same uid).
pub(super) fn derived_uid(seed: &str) -> String {
    use sha2::{Digest, Sha256};
    let h: Vec<String> = Sha256::digest(seed.as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    let h = h.concat();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Polls `uri` until it answers 2xx; a JSON object answer becomes the outputs.
async fn poll_uri(
    tx: tokio::sync::mpsc::UnboundedSender<Msg>,
    node: String,
    uri: String,
    every: Duration,
    cancel: CancellationToken,
) {
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            let _ = tx.send(Msg::Input(Input::ExternalCompleted {
                at: now_ms(),
                node: node.as_str().into(),
                outcome: Outcome::Failed {
                    reason: ReasonCode::ExternalFailed,
                    message: format!("cannot build an HTTP client: {e}"),
                    retryable: false,
                },
            }));
            return;
        }
    };
    loop {
        if let Ok(response) = client.get(&uri).send().await {
            if response.status().is_success() {
                let outputs = response
                    .bytes()
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .and_then(|v| v.as_object().cloned())
                    .unwrap_or_default();
                let _ = tx.send(Msg::Input(Input::ExternalCompleted {
                    at: now_ms(),
                    node: node.as_str().into(),
                    outcome: Outcome::Succeeded {
                        outputs,
                        cost_usd: None,
                    },
                }));
                return;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = cancel.cancelled() => return,
        }
    }
}
