//! The execution graph: what [`compile`](crate::compile) makes of a Plan, and what the state
//! machine runs. Immutable once built.

use crate::ids::{canonical_json, sha256_digest};
use crate::policy::Constraints;
use crate::reason::ReasonCode;
use planspec_model::plan::{AcceptanceCriterion, EdgeCondition, ExternalRef};
use planspec_model::policy::RiskLevel;
use planspec_model::{NodeId, ObjectReference, OutputName};
use serde_json::{json, Map, Value};
use std::collections::{BTreeSet, HashMap};

/// Size limits the engine enforces. They are part of the graph (and its digest), so replay
/// applies the limits the run had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest outputs of one node, as compact JSON (default 256 KiB).
    pub max_output_bytes: usize,
    /// Largest inputs of one node after interpolation, as compact JSON (default 256 KiB).
    pub max_input_bytes: usize,
    /// Longest message kept from a provider or runtime (default 4 KiB); longer ones are cut
    /// at a character boundary.
    pub max_message_bytes: usize,
    /// Most instances one matrix may expand into (default
    /// [`DEFAULT_MAX_INSTANCES`](planspec_model::plan::DEFAULT_MAX_INSTANCES)); more fail the
    /// matrix node with `plan_expansion_limit`.
    pub max_matrix_instances: usize,
    /// Most nodes one run may hold, graph nodes and matrix instances together (default
    /// 200,000); more fail the matrix node that would exceed it with `plan_expansion_limit`.
    pub max_run_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_output_bytes: 256 << 10,
            max_input_bytes: 256 << 10,
            max_message_bytes: 4 << 10,
            max_matrix_instances: planspec_model::plan::DEFAULT_MAX_INSTANCES,
            max_run_nodes: 200_000,
        }
    }
}

/// Which nodes an expression reads through `nodes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reads {
    /// These nodes (indices into the graph, sorted), each upstream of the reading node.
    Nodes(Vec<usize>),
    /// Any upstream node: `nodes` is used in a way that names no node statically.
    Upstream,
}

impl Reads {
    /// Reads nothing.
    pub fn none() -> Reads {
        Reads::Nodes(Vec::new())
    }

    /// The reads of both.
    pub fn union(&self, other: &Reads) -> Reads {
        match (self, other) {
            (Reads::Nodes(a), Reads::Nodes(b)) => {
                let set: BTreeSet<usize> = a.iter().chain(b).copied().collect();
                Reads::Nodes(set.into_iter().collect())
            }
            _ => Reads::Upstream,
        }
    }
}

/// A CEL expression that parsed and reads only the variables PlanSpec provides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    /// The expression's text.
    pub source: String,
    /// The nodes it reads.
    pub reads: Reads,
}

/// One `when` condition a node must pass: its own, or an enclosing Group's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The node or Group that declared it.
    pub from: NodeId,
    /// The condition.
    pub test: Test,
}

/// What a condition tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    /// A CEL expression that must be `true`.
    Cel(Expr),
    /// An opaque label (it does not parse as CEL, or reads variables PlanSpec does not
    /// provide, like upstream's `when: manualApproval`). `planspec validate` warns about it;
    /// it is never evaluated, so it does not stop the node.
    Opaque(String),
}

/// Inputs of a Task, possibly holding `${{ }}` expressions.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The inputs as written.
    pub value: Map<String, Value>,
    /// `true` if some string holds an expression.
    pub has_expressions: bool,
    /// The nodes the expressions read.
    pub reads: Reads,
}

/// How a Task's failed attempts are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryConfig {
    /// How many times a failed attempt is retried.
    pub retries: u32,
    /// Wait before the first retry, in milliseconds.
    pub initial_ms: u64,
    /// Longest wait, in milliseconds.
    pub max_ms: u64,
    /// Multiplier per retry, in thousandths (2000 = ×2).
    pub factor_permille: u32,
    /// The failure codes that retry; `None`: those the catalogue marks retryable.
    pub retry_on: Option<BTreeSet<ReasonCode>>,
}

impl RetryConfig {
    /// Default backoff: 1s doubling up to 5m.
    pub const DEFAULT_INITIAL_MS: u64 = 1_000;
    /// Default longest wait.
    pub const DEFAULT_MAX_MS: u64 = 300_000;
    /// Default multiplier.
    pub const DEFAULT_FACTOR_PERMILLE: u32 = 2_000;

    /// `true` if a failure with this code may be retried.
    pub fn retries_on(&self, reason: ReasonCode) -> bool {
        match &self.retry_on {
            Some(codes) => codes.contains(&reason),
            None => reason.retryable_by_default(),
        }
    }
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            retries: 0,
            initial_ms: Self::DEFAULT_INITIAL_MS,
            max_ms: Self::DEFAULT_MAX_MS,
            factor_permille: Self::DEFAULT_FACTOR_PERMILLE,
            retry_on: None,
        }
    }
}

/// What a node does when it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecKind {
    /// Dispatch work to a provider.
    Task(TaskConfig),
    /// Wait for a Gate resource.
    Gate(GateConfig),
    /// Wait for something outside the plan.
    External(ExternalConfig),
    /// Run another Plan as a child Execution (a `Plan` node).
    Plan(PlanConfig),
    /// Wait for a value (a `Placeholder` node).
    Placeholder(crate::placeholder::PlaceholderConfig),
}

impl ExecKind {
    /// `Task`, `Gate` or `External`.
    pub fn name(&self) -> &'static str {
        match self {
            ExecKind::Task(_) => "Task",
            ExecKind::Gate(_) => "Gate",
            ExecKind::External(_) => "External",
            ExecKind::Plan(_) => "Plan",
            ExecKind::Placeholder(_) => "Placeholder",
        }
    }
}

/// A Task's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskConfig {
    /// Retries and backoff.
    pub retry: RetryConfig,
    /// The inputs template.
    pub inputs: Template,
    /// Declared output names.
    pub outputs: Vec<OutputName>,
    /// Acceptance criteria, checked after the provider succeeds.
    pub criteria: Vec<AcceptanceCriterion>,
    /// The capabilities the Task needs.
    pub capability_refs: Vec<ObjectReference>,
    /// The Task's own declared risk, if any.
    pub risk: Option<RiskLevel>,
    /// The keyed concurrency limit (`concurrency`): the lease an attempt needs first.
    pub concurrency: Option<LeaseConfig>,
    /// The matrix the Task fans out into (see [`crate::matrix`]); `None` for a plain Task.
    pub matrix: Option<planspec_model::plan::Matrix>,
}

/// A Task's `concurrency`: at most `limit` Tasks holding the same key (in the Execution's
/// namespace) run at once. The key is evaluated when the Task is admitted to dispatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseConfig {
    /// The key as written; may hold `${{ }}` expressions.
    pub key: String,
    /// `true` if the key holds an expression.
    pub has_expressions: bool,
    /// The nodes its expressions read.
    pub reads: Reads,
    /// How many holders the key allows at once (1: a mutex).
    pub limit: u32,
}

/// A Gate node's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct GateConfig {
    /// The Gate resource that decides.
    pub gate_ref: ObjectReference,
}

/// An External node's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalConfig {
    /// What is awaited.
    pub external_ref: ExternalRef,
    /// How often the runtime checks, in milliseconds.
    pub poll_interval_ms: Option<u64>,
}

/// A `Plan` node's configuration: which Plan runs as the child Execution and its parameters.
/// The runtime resolves `plan_ref` when the root Execution starts and pins the result; the
/// engine only asks for the child ([`Command::StartChild`](crate::Command::StartChild)).
#[derive(Debug, Clone, PartialEq)]
pub struct PlanConfig {
    /// The Plan reference as written (by name, or series and version range).
    pub plan_ref: planspec_model::plan::PlanReference,
    /// The child's parameters, possibly holding `${{ }}` expressions.
    pub inputs: Template,
}

/// A node of the execution graph: a Task, Gate or External node of the Plan. Groups are not
/// nodes here; they have been folded into their members' dependencies and conditions.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecNode {
    /// The node's id.
    pub id: NodeId,
    /// What it does.
    pub kind: ExecKind,
    /// Nodes that must succeed before this one runs (indices, sorted).
    pub hard_deps: Vec<usize>,
    /// Nodes that must finish, in any way, before this one runs (indices, sorted; never also
    /// hard).
    pub soft_deps: Vec<usize>,
    /// Conditions, outermost Group first, the node's own last.
    pub when: Vec<Condition>,
    /// How long one attempt may take (an External: how long to wait), in milliseconds.
    pub timeout_ms: Option<u64>,
    /// The innermost Group the node belongs to, for display.
    pub group: Option<NodeId>,
    /// Dependencies whose edge names the upstream outcome it needs (`on: failure`,
    /// `on: skipped`), as (index, condition), sorted by index. Each is also in
    /// [`soft_deps`](Self::soft_deps), so the node waits for it like any dependency.
    pub edge_conditions: Vec<(usize, EdgeCondition)>,
    /// `true` for a `finally` Task: it runs once every other node is terminal, whatever
    /// the outcome (compiled as soft dependencies on every non-`finally` node).
    pub finally: bool,
}

impl ExecNode {
    /// The matrix of a Task that fans out, if this node is one.
    pub fn matrix(&self) -> Option<&planspec_model::plan::Matrix> {
        match &self.kind {
            ExecKind::Task(task) => task.matrix.as_ref(),
            _ => None,
        }
    }

    /// `true` for a Task with a `matrix`.
    pub fn is_matrix(&self) -> bool {
        self.matrix().is_some()
    }
}

/// The compiled graph. See the crate documentation for its rules.
#[derive(Debug, Clone)]
pub struct ExecGraph {
    pub(crate) nodes: Vec<ExecNode>,
    pub(crate) index: HashMap<String, usize>,
    /// Topological order; ties broken by declaration order.
    pub(crate) order: Vec<usize>,
    /// `rank[i]`: position of node `i` in `order`.
    pub(crate) rank: Vec<usize>,
    /// `dependents[i]`: nodes with `i` among their hard or soft dependencies, by rank.
    pub(crate) dependents: Vec<Vec<usize>>,
    pub(crate) goal_timeout_ms: Option<u64>,
    pub(crate) constraints: Constraints,
    pub(crate) goal: Value,
    pub(crate) plan: Value,
    pub(crate) limits: Limits,
    pub(crate) digest: String,
    pub(crate) warnings: Vec<String>,
}

impl ExecGraph {
    /// `sha256:<hex>` of the graph's canonical form (see [`canonical_form`](Self::canonical_form)).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The nodes, in declaration order (a node's index is its position here).
    pub fn nodes(&self) -> &[ExecNode] {
        &self.nodes
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// `true` if the plan has no Task, Gate or External node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The index of the node with this id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&ExecNode> {
        self.index_of(id).map(|i| &self.nodes[i])
    }

    /// Node indices in the order the engine considers them: topological, ties broken by
    /// declaration order.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// Nodes that depend on node `i` (hard or soft), in [`order`](Self::order).
    pub fn dependents(&self, i: usize) -> &[usize] {
        &self.dependents[i]
    }

    /// The Goal's `timeout`, in milliseconds: the execution deadline counts from the start.
    pub fn goal_timeout_ms(&self) -> Option<u64> {
        self.goal_timeout_ms
    }

    /// The Goal's constraints the engine enforces (`budgetUsd`, `maxRuntimeSeconds`, `safety`).
    pub fn constraints(&self) -> &Constraints {
        &self.constraints
    }

    /// The Goal as expressions see it (`goal`).
    pub fn goal_context(&self) -> &Value {
        &self.goal
    }

    /// The Plan as expressions see it (`plan`).
    pub fn plan_context(&self) -> &Value {
        &self.plan
    }

    /// The limits the engine enforces.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// What compiling noticed without refusing the plan (opaque `when` labels).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Every node upstream of `i` (through hard and soft edges), sorted.
    pub fn upstream(&self, i: usize) -> Vec<usize> {
        let mut seen = vec![false; self.nodes.len()];
        let mut todo: Vec<usize> = self.deps(i).collect();
        let mut out = Vec::new();
        while let Some(j) = todo.pop() {
            if std::mem::replace(&mut seen[j], true) {
                continue;
            }
            out.push(j);
            todo.extend(self.deps(j));
        }
        out.sort_unstable();
        out
    }

    pub(crate) fn deps(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        let n = &self.nodes[i];
        n.hard_deps.iter().chain(&n.soft_deps).copied()
    }

    /// The canonical form the digest is computed from: a JSON document with a format
    /// version, the limits, the Goal and Plan values expressions read, and every node (in
    /// declaration order) with its dependencies by id and its configuration.
    pub fn canonical_form(&self) -> Value {
        let ids =
            |v: &[usize]| -> Vec<&str> { v.iter().map(|&i| self.nodes[i].id.as_str()).collect() };
        let nodes: Vec<Value> = self
            .nodes
            .iter()
            .map(|n| {
                let when: Vec<Value> = n
                    .when
                    .iter()
                    .map(|c| match &c.test {
                        Test::Cel(e) => json!({"from": c.from, "cel": e.source}),
                        Test::Opaque(s) => json!({"from": c.from, "opaque": s}),
                    })
                    .collect();
                let mut node = json!({
                    "id": n.id,
                    "kind": n.kind.name(),
                    "hard": ids(&n.hard_deps),
                    "soft": ids(&n.soft_deps),
                    "when": when,
                    "timeoutMs": n.timeout_ms,
                    "group": n.group,
                });
                let extra = match &n.kind {
                    ExecKind::Task(t) => json!({
                        "retries": t.retry.retries,
                        "backoff": [t.retry.initial_ms, t.retry.max_ms, t.retry.factor_permille],
                        "retryOn": t.retry.retry_on.as_ref().map(|s| s.iter().map(|c| c.as_str()).collect::<Vec<_>>()),
                        "inputs": t.inputs.value,
                        "outputs": t.outputs,
                        "criteria": t.criteria,
                        "capabilityRefs": t.capability_refs,
                    }),
                    ExecKind::Gate(g) => json!({"gateRef": g.gate_ref}),
                    ExecKind::External(e) => json!({
                        "externalRef": e.external_ref,
                        "pollIntervalMs": e.poll_interval_ms,
                    }),
                    ExecKind::Plan(p) => json!({
                        "planRef": p.plan_ref,
                        "inputs": p.inputs.value,
                    }),
                    ExecKind::Placeholder(p) => json!({
                        "type": p.value_type,
                        "schema": p.schema,
                        "rules": p.rules,
                        "selector": p.selector,
                        "resolverRef": p.resolver_ref,
                    }),
                };
                if let (Value::Object(node), Value::Object(extra)) = (&mut node, extra) {
                    node.extend(extra);
                }
                // Only when used, so the digests of plans without them stay as they were.
                if let Value::Object(node) = &mut node {
                    if !n.edge_conditions.is_empty() {
                        let on: Vec<Value> = n
                            .edge_conditions
                            .iter()
                            .map(|&(d, c)| json!([self.nodes[d].id, c]))
                            .collect();
                        node.insert("on".into(), Value::Array(on));
                    }
                    if n.finally {
                        node.insert("finally".into(), json!(true));
                    }
                }
                // Only when declared, so the digests of plans without risk stay as they were.
                if let (Value::Object(node), ExecKind::Task(TaskConfig { risk: Some(risk), .. })) =
                    (&mut node, &n.kind)
                {
                    node.insert("risk".into(), json!(risk));
                }
                // Only when declared, so the digests of plans without it stay as they were.
                if let (
                    Value::Object(node),
                    ExecKind::Task(TaskConfig {
                        concurrency: Some(lease),
                        ..
                    }),
                ) = (&mut node, &n.kind)
                {
                    node.insert(
                        "concurrency".into(),
                        json!({"key": lease.key, "limit": lease.limit}),
                    );
                }
                // Only when declared, so the digests of plans without it stay as they were.
                if let (
                    Value::Object(node),
                    ExecKind::Task(TaskConfig {
                        matrix: Some(matrix),
                        ..
                    }),
                ) = (&mut node, &n.kind)
                {
                    node.insert("matrix".into(), json!(matrix));
                }
                node
            })
            .collect();
        let mut limits = json!({
            "maxOutputBytes": self.limits.max_output_bytes,
            "maxInputBytes": self.limits.max_input_bytes,
            "maxMessageBytes": self.limits.max_message_bytes,
        });
        // The expansion limits only matter (and only enter the digest) with a matrix.
        if self.nodes.iter().any(ExecNode::is_matrix) {
            if let Value::Object(limits) = &mut limits {
                limits.insert(
                    "maxMatrixInstances".into(),
                    json!(self.limits.max_matrix_instances),
                );
                limits.insert("maxRunNodes".into(), json!(self.limits.max_run_nodes));
            }
        }
        json!({
            "format": "planspec-engine/graph/v1",
            "limits": limits,
            "goal": self.goal,
            "goalTimeoutMs": self.goal_timeout_ms,
            "plan": self.plan,
            "nodes": nodes,
        })
    }

    pub(crate) fn compute_digest(&self) -> String {
        sha256_digest(canonical_json(&self.canonical_form()).as_bytes())
    }
}
