//! `compile`: a Plan (and its Goal) → an [`ExecGraph`].
//!
//! * The executable nodes are the Plan's Tasks, Gates and Externals, in declaration order.
//! * `dependsOn: [a]` on `n` is the hard edge `a → n`; explicit `edges` keep their type.
//! * Groups are presentational: a dependency *on* a Group is a dependency on every Task,
//!   Gate and External inside it (at any depth); a Group's own `dependsOn`, the edges *into*
//!   it and its `when` apply to every node inside it. A Group with no such nodes adds
//!   nothing.
//! * Between two nodes, a hard edge wins over a soft one.
//! * The result must be acyclic; a cycle is reported as a path.
//! * Expressions are parsed here: a `${{ }}` that does not parse, or reads a node that is
//!   not upstream, refuses the plan; a `when` that is not CEL over PlanSpec's variables is kept
//!   as an opaque label (as `planspec validate` warns) and never evaluated.
//!
//! The validator has normally rejected bad plans already; the compiler checks again and
//! reports every problem as a typed [`CompileError`], never a panic.

mod exprs;
mod flow;
mod groups;
mod lease;
mod matrix;
mod placeholder;

use crate::graph::{
    ExecGraph, ExecKind, ExecNode, ExternalConfig, GateConfig, Limits, RetryConfig, TaskConfig,
};
use crate::policy::Constraints;
use crate::reason::ReasonCode;
use planspec_model::plan::{Node, TaskNode, MAX_EDGES, MAX_NODES};
use planspec_model::{Duration, Goal, NodeId, Plan, PlanGraph};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};

/// Most dependencies the graph may have once Groups are expanded.
pub const MAX_EXPANDED_EDGES: usize = 1_000_000;
/// Deepest nesting of a Task's `inputs`.
pub const MAX_INPUT_DEPTH: usize = 64;

/// Why a plan cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// A Goal constraint the engine enforces has a value it cannot use.
    #[error("goal {goal}: {message}")]
    InvalidConstraint {
        /// The Goal.
        goal: String,
        /// What is wrong.
        message: String,
    },
    /// A Plan constraint the engine enforces has a value it cannot use.
    #[error("spec.constraints: {message}")]
    InvalidPlanConstraint {
        /// What is wrong.
        message: String,
    },
    /// More nodes than a plan may have.
    #[error("the plan has {count} nodes; at most {max} are allowed")]
    TooManyNodes {
        /// Nodes in the plan.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// More edges than allowed, as written or after expanding Groups.
    #[error("the plan has {count} edges{}; at most {max} are allowed", if *.expanded { " once Groups are expanded" } else { "" })]
    TooManyEdges {
        /// Edges counted so far.
        count: usize,
        /// The limit.
        max: usize,
        /// `true` if counted after expanding Groups.
        expanded: bool,
    },
    /// A node id is not a DNS label.
    #[error("node id `{id}` is not a DNS label (lowercase letters, digits and `-`, at most 63)")]
    InvalidNodeId {
        /// The id.
        id: String,
    },
    /// Two nodes share an id.
    #[error("node id `{id}` is used more than once")]
    DuplicateNodeId {
        /// The id.
        id: String,
    },
    /// `dependsOn` names a node that does not exist.
    #[error("node `{node}` depends on `{dependency}`, which is not a node of the plan")]
    UnknownDependency {
        /// The node.
        node: String,
        /// The missing dependency.
        dependency: String,
    },
    /// An edge names a node that does not exist.
    #[error("the edge `{from}` → `{to}` names `{missing}`, which is not a node of the plan")]
    UnknownEdgeNode {
        /// The edge's `from`.
        from: String,
        /// The edge's `to`.
        to: String,
        /// The id that does not exist.
        missing: String,
    },
    /// A Group lists a child that does not exist.
    #[error("group `{group}` lists `{child}`, which is not a node of the plan")]
    UnknownGroupChild {
        /// The Group.
        group: String,
        /// The missing child.
        child: String,
    },
    /// A node is in more than one Group.
    #[error("node `{node}` is in group `{first}` and in group `{second}`; a node belongs to at most one Group")]
    SeveralGroups {
        /// The node.
        node: String,
        /// One Group.
        first: String,
        /// Another.
        second: String,
    },
    /// Groups contain each other.
    #[error("groups contain each other: {}", .path.join(" ⊂ "))]
    GroupCycle {
        /// The containment cycle, first id repeated at the end.
        path: Vec<String>,
    },
    /// The dependencies form a cycle.
    #[error("the dependencies form a cycle: {}", .path.join(" → "))]
    Cycle {
        /// The cycle, first id repeated at the end.
        path: Vec<String>,
    },
    /// A duration does not parse.
    #[error("node `{node}`: `{field}` is `{value}`, which is not a Go duration such as `90s` or `1h30m`")]
    InvalidDuration {
        /// The node.
        node: String,
        /// The field.
        field: String,
        /// The value.
        value: String,
    },
    /// `retries` or `retryPolicy` is out of range.
    #[error("node `{node}`: {message}")]
    InvalidRetryPolicy {
        /// The node.
        node: String,
        /// What is wrong.
        message: String,
    },
    /// An `inputs` value is not a valid template.
    #[error("node `{node}`: inputs at `{path}`: {message}")]
    InvalidInputs {
        /// The node.
        node: String,
        /// A JSON-pointer-like path into `inputs`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// An expression reads a node that does not exist or is a Group.
    #[error("node `{node}`: {field} reads `nodes.{read}`, which is not a Task, Gate or External node of the plan")]
    ReadsUnknownNode {
        /// The node.
        node: String,
        /// `when`, or `inputs` and a path.
        field: String,
        /// The id read.
        read: String,
    },
    /// Both `spec.graph` and `spec.steps` are given.
    #[error("the plan has both `spec.graph` and `spec.steps`; give exactly one")]
    GraphAndSteps,
    /// A step declares `dependsOn` (the order of `spec.steps` is the dependency).
    #[error("step `{node}` declares `dependsOn`; in `spec.steps` each step depends on the one before it")]
    StepDependsOn {
        /// The step.
        node: String,
    },
    /// A Group is listed as a step.
    #[error("step `{node}` is a Group; `spec.steps` holds Tasks, Gates, Externals, Plans and Placeholders")]
    GroupStep {
        /// The step.
        node: String,
    },
    /// A `finally` Task depends on a node that is not `finally`, or the other way round.
    #[error("{}", if *.finally_node { format!("`finally` Task `{node}` depends on `{dependency}`, which is not a `finally` Task; a `finally` Task runs after every other node and may depend only on other `finally` Tasks") } else { format!("node `{node}` depends on `finally` Task `{dependency}`; only other `finally` Tasks may") })]
    FinallyDependency {
        /// The node that depends.
        node: String,
        /// What it depends on.
        dependency: String,
        /// `true` if `node` is the `finally` Task.
        finally_node: bool,
    },
    /// A Placeholder's `schema` does not compile or a rule does not parse.
    #[error("node `{node}`: {message}")]
    InvalidPlaceholder {
        /// The node.
        node: String,
        /// What is wrong.
        message: String,
    },
    /// A Task's `matrix` cannot be expanded as written.
    #[error("node `{node}`: matrix: {message}")]
    InvalidMatrix {
        /// The node.
        node: String,
        /// What is wrong.
        message: String,
    },
    /// The CEL evaluator thread could not be started, so expressions cannot be checked.
    #[error("the expression evaluator is unavailable (its thread could not be started)")]
    EvaluatorUnavailable,
    /// A Task's `concurrency` is not usable (an empty key, a bad expression, a limit out of
    /// range).
    #[error("node `{node}`: `concurrency`: {message}")]
    InvalidConcurrency {
        /// The node.
        node: String,
        /// What is wrong.
        message: String,
    },
    /// An expression reads a node that is not upstream.
    #[error("node `{node}`: {field} reads `nodes.{read}`, which is not upstream of `{node}` (add a dependency)")]
    ReadsNonUpstream {
        /// The node.
        node: String,
        /// `when`, or `inputs` and a path.
        field: String,
        /// The id read.
        read: String,
    },
}

/// Compiles a Plan with the default [`Limits`]. `goal` is the Goal the execution serves: its
/// `timeout` becomes the execution deadline, and expressions read it as `goal`.
pub fn compile(plan: &Plan, goal: Option<&Goal>) -> Result<ExecGraph, CompileError> {
    compile_with(plan, goal, Limits::default())
}

/// Compiles a Plan with the given limits.
pub fn compile_with(
    plan: &Plan,
    goal: Option<&Goal>,
    limits: Limits,
) -> Result<ExecGraph, CompileError> {
    flow::check_steps(&plan.spec)?;
    let effective = plan.spec.effective_graph();
    let nodes = &effective.nodes;
    if nodes.len() > MAX_NODES {
        return Err(CompileError::TooManyNodes {
            count: nodes.len(),
            max: MAX_NODES,
        });
    }
    let edges = &effective.edges;
    if edges.len() > MAX_EDGES {
        return Err(CompileError::TooManyEdges {
            count: edges.len(),
            max: MAX_EDGES,
            expanded: false,
        });
    }
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        let id = node.id();
        if !id.is_valid() {
            return Err(CompileError::InvalidNodeId { id: id.to_string() });
        }
        if index.insert(id.as_str(), i).is_some() {
            return Err(CompileError::DuplicateNodeId { id: id.to_string() });
        }
    }

    let structure = groups::Structure::build(nodes, edges, &index)?;
    let deps = structure.dependencies()?;

    // Executable nodes keep declaration order.
    let executable: Vec<usize> = (0..nodes.len())
        .filter(|&i| !matches!(nodes[i], Node::Group(_)))
        .collect();
    let mut to_exec = vec![usize::MAX; nodes.len()];
    for (k, &i) in executable.iter().enumerate() {
        to_exec[i] = k;
    }

    let mut exec_nodes = Vec::with_capacity(executable.len());
    let mut exec_index = HashMap::with_capacity(executable.len());
    for (k, &i) in executable.iter().enumerate() {
        let groups::Dependencies {
            hard,
            soft,
            conditional,
        } = &deps[k];
        let map = |set: &BTreeSet<usize>| -> Vec<usize> {
            let mut v: Vec<usize> = set.iter().map(|&p| to_exec[p]).collect();
            v.sort_unstable();
            v
        };
        let node = &nodes[i];
        let Some(kind) = kind_of(node)? else {
            continue;
        };
        exec_nodes.push(ExecNode {
            id: node.id().clone(),
            kind,
            hard_deps: map(hard),
            soft_deps: map(soft),
            when: Vec::new(),
            timeout_ms: timeout_of(node)?,
            group: structure.parent(i).map(|g| nodes[g].id().clone()),
            edge_conditions: conditional.iter().map(|&(p, c)| (to_exec[p], c)).collect(),
            finally: node.is_finally(),
        });
        exec_index.insert(node.id().to_string(), k);
    }
    flow::wire_finally(&mut exec_nodes)?;

    let order = topological_order(&exec_nodes)?;
    let mut rank = vec![0; exec_nodes.len()];
    for (position, &i) in order.iter().enumerate() {
        rank[i] = position;
    }
    let mut dependents = vec![Vec::new(); exec_nodes.len()];
    for (i, node) in exec_nodes.iter().enumerate() {
        for &d in node.hard_deps.iter().chain(&node.soft_deps) {
            dependents[d].push(i);
        }
    }
    for list in &mut dependents {
        list.sort_unstable_by_key(|&i| rank[i]);
    }

    let (goal_value, goal_timeout_ms) = goal_context(goal)?;
    let constraints = match goal.and_then(|g| g.spec.constraints.as_ref()) {
        Some(map) => {
            Constraints::parse(map).map_err(|message| CompileError::InvalidConstraint {
                goal: goal
                    .map(|g| g.metadata.name.to_string())
                    .unwrap_or_default(),
                message,
            })?
        }
        None => Constraints::default(),
    };
    let constraints = match plan.spec.constraints.as_ref() {
        Some(map) => Constraints::parse(map)
            .map_err(|message| CompileError::InvalidPlanConstraint { message })?
            .stricter(constraints),
        None => constraints,
    };
    // `maxRuntimeSeconds` is a deadline like the Goal's `timeout`: the earlier wins.
    let goal_timeout_ms = match (goal_timeout_ms, constraints.max_runtime_ms()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let mut graph = ExecGraph {
        nodes: exec_nodes,
        index: exec_index,
        order,
        rank,
        dependents,
        goal_timeout_ms,
        constraints,
        goal: goal_value,
        plan: plan_context(plan),
        limits,
        digest: String::new(),
        warnings: Vec::new(),
    };
    exprs::compile_expressions(&mut graph, nodes, &executable, &structure)?;
    placeholder::check_reads(&graph)?;
    lease::compile_keys(&mut graph)?;
    matrix::check(&graph)?;
    graph.digest = graph.compute_digest();
    Ok(graph)
}

/// What an executable node does; `None` for a Group.
fn kind_of(node: &Node) -> Result<Option<ExecKind>, CompileError> {
    Ok(Some(match node {
        Node::Task(task) => ExecKind::Task(task_config(task)?),
        Node::Gate(gate) => ExecKind::Gate(GateConfig {
            gate_ref: gate.gate_ref.clone(),
        }),
        Node::External(external) => ExecKind::External(ExternalConfig {
            external_ref: external.external_ref.clone(),
            poll_interval_ms: external
                .poll_interval
                .as_ref()
                .map(|d| millis(&external.id, "pollInterval", d))
                .transpose()?,
        }),
        Node::Group(_) => return Ok(None),
        Node::Plan(plan) => ExecKind::Plan(crate::graph::PlanConfig {
            plan_ref: plan.plan_ref.clone(),
            // Filled in by `exprs`.
            inputs: crate::graph::Template {
                value: plan.inputs.clone().unwrap_or_default(),
                has_expressions: false,
                reads: crate::graph::Reads::none(),
            },
        }),
        Node::Placeholder(p) => ExecKind::Placeholder(placeholder::config(p)?),
    }))
}

fn timeout_of(node: &Node) -> Result<Option<u64>, CompileError> {
    match node {
        Node::Task(t) => t
            .timeout
            .as_ref()
            .map(|d| millis(&t.id, "timeout", d))
            .transpose(),
        Node::External(e) => e
            .timeout
            .as_ref()
            .map(|d| millis(&e.id, "timeout", d))
            .transpose(),
        Node::Plan(p) => p
            .timeout
            .as_ref()
            .map(|d| millis(&p.id, "timeout", d))
            .transpose(),
        Node::Placeholder(p) => p
            .timeout
            .as_ref()
            .map(|d| millis(&p.id, "timeout", d))
            .transpose(),
        Node::Gate(_) | Node::Group(_) => Ok(None),
    }
}

/// A duration in milliseconds, rounded up (so `500us` is 1 ms, not 0).
fn millis(node: &NodeId, field: &str, d: &Duration) -> Result<u64, CompileError> {
    let invalid = || CompileError::InvalidDuration {
        node: node.to_string(),
        field: field.to_string(),
        value: d.to_string(),
    };
    let std = d.to_std().ok_or_else(invalid)?;
    let ms = std.as_millis() + u128::from(std.subsec_nanos() % 1_000_000 != 0);
    u64::try_from(ms).map_err(|_| invalid())
}

fn task_config(task: &TaskNode) -> Result<TaskConfig, CompileError> {
    let bad = |message: String| CompileError::InvalidRetryPolicy {
        node: task.id.to_string(),
        message,
    };
    if task.retries > 10 {
        return Err(bad(format!(
            "`retries` is {}; at most 10 are allowed",
            task.retries
        )));
    }
    let mut retry = RetryConfig {
        retries: task.retries,
        ..RetryConfig::default()
    };
    if let Some(policy) = &task.retry_policy {
        if let Some(backoff) = &policy.backoff {
            if let Some(d) = &backoff.initial {
                retry.initial_ms = millis(&task.id, "retryPolicy.backoff.initial", d)?;
            }
            if let Some(d) = &backoff.max {
                retry.max_ms = millis(&task.id, "retryPolicy.backoff.max", d)?;
            }
            if let Some(factor) = backoff.factor {
                if !(1.0..=10.0).contains(&factor) {
                    return Err(bad(format!(
                        "`retryPolicy.backoff.factor` is {factor}; it must be between 1 and 10"
                    )));
                }
                // In range, so the product fits a u32.
                retry.factor_permille = (factor * 1000.0).round() as u32;
            }
            if retry.initial_ms > retry.max_ms {
                return Err(bad(
                    "`retryPolicy.backoff.initial` is longer than `max`".to_string()
                ));
            }
        }
        if !policy.retry_on.is_empty() {
            let mut codes = BTreeSet::new();
            for name in &policy.retry_on {
                let code: ReasonCode = name.parse().map_err(|_| {
                    bad(format!(
                        "`retryPolicy.retryOn` names `{name}`, which is not a reason code"
                    ))
                })?;
                if !code.is_failure() {
                    return Err(bad(format!(
                        "`retryPolicy.retryOn` names `{name}`, which is not a failure reason"
                    )));
                }
                codes.insert(code);
            }
            retry.retry_on = Some(codes);
        }
    }
    Ok(TaskConfig {
        retry,
        // Filled in by `exprs`.
        inputs: crate::graph::Template {
            value: task.inputs.clone().unwrap_or_default(),
            has_expressions: false,
            reads: crate::graph::Reads::none(),
        },
        outputs: task.outputs.clone(),
        criteria: task.acceptance_criteria.clone(),
        capability_refs: task.capability_refs.clone(),
        risk: task.risk,
        // Its expressions are checked by `lease`.
        concurrency: task
            .concurrency
            .as_ref()
            .map(|c| crate::graph::LeaseConfig {
                key: c.key.clone(),
                has_expressions: false,
                reads: crate::graph::Reads::none(),
                limit: c.limit,
            }),
        // Checked against the graph by `matrix`.
        matrix: task.matrix.clone(),
    })
}

/// Kahn's order over hard and soft dependencies (ties by declaration), or the cycle. The
/// graph view and its cycle report are the model's [`PlanGraph`], over synthetic Tasks.
fn topological_order(nodes: &[ExecNode]) -> Result<Vec<usize>, CompileError> {
    let synthetic: Vec<Node> = nodes
        .iter()
        .map(|n| {
            Node::Task(TaskNode {
                id: n.id.clone(),
                depends_on: n
                    .hard_deps
                    .iter()
                    .chain(&n.soft_deps)
                    .map(|&d| nodes[d].id.clone())
                    .collect(),
                ..TaskNode::default()
            })
        })
        .collect();
    PlanGraph::from_nodes(&synthetic, &[])
        .topo_order()
        .map_err(|cycle| CompileError::Cycle {
            path: cycle.iter().map(|&i| nodes[i].id.to_string()).collect(),
        })
}

fn goal_context(goal: Option<&Goal>) -> Result<(Value, Option<u64>), CompileError> {
    let Some(goal) = goal else {
        return Ok((json!({}), None));
    };
    let timeout = goal
        .spec
        .timeout
        .as_ref()
        .map(|d| {
            d.to_std()
                .and_then(|s| u64::try_from(s.as_millis()).ok())
                .ok_or_else(|| CompileError::InvalidDuration {
                    node: format!("goal/{}", goal.metadata.name),
                    field: "timeout".to_string(),
                    value: d.to_string(),
                })
        })
        .transpose()?;
    let value = json!({
        "name": goal.metadata.name,
        "namespace": goal.metadata.namespace.as_ref().map_or("default", |n| n.as_str()),
        "labels": goal.metadata.labels,
        "description": goal.spec.description,
        "constraints": goal.spec.constraints.clone().unwrap_or_default(),
        "priority": goal.spec.priority,
        "timeout": goal.spec.timeout,
    });
    Ok((value, timeout))
}

fn plan_context(plan: &Plan) -> Value {
    json!({
        "name": plan.metadata.name,
        "namespace": plan.metadata.namespace.as_ref().map_or("default", |n| n.as_str()),
        "labels": plan.metadata.labels,
        "description": plan.spec.description,
        "series": plan.spec.series,
        "version": plan.spec.version,
        "constraints": plan.spec.constraints.clone().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests;
