//! Drawing a plan graph: as text for a terminal, as Graphviz DOT, as Mermaid.
//!
//! The renderers work on a [`View`]: the nodes and edges of one plan, indexed,
//! with the grouping resolved and the nodes sorted into topological layers (by
//! [`PlanGraph::layers`], the model's one layering). Building the view is linear in
//! nodes + edges, and so is every renderer, so a 10,000-node plan draws as fast as it
//! prints. Text in a view (the plan's name, node ids and names) has its control
//! characters escaped ([`escape_line`]), so no renderer can pass them to a terminal.

pub mod dot;
pub mod mermaid;
pub mod text;

use planspec_model::plan::TaskNode;
use planspec_model::{Edge, EdgeCondition, EdgeType, Node, NodeKind, Plan, PlanGraph};

use crate::term::escape_line;

/// The four node kinds, as far as drawing is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    Task,
    Gate,
    Group,
    External,
    /// A sub-plan node.
    SubPlan,
    /// A Placeholder node.
    Placeholder,
}

/// One node of the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewNode {
    pub id: String,
    pub shape: Shape,
    pub name: Option<String>,
    /// The group this node is drawn inside, if any (an index into `View::nodes`).
    pub group: Option<usize>,
}

/// One edge of the view: `to` depends on `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewEdge {
    pub from: usize,
    pub to: usize,
    /// Advisory (`type: soft`).
    pub soft: bool,
    /// The outcome of `from` that lets `to` run, when it is not the edge type's default
    /// (`failure` or `skipped`; `success` on a soft edge, `always` on a hard one).
    pub on: Option<EdgeCondition>,
}

impl ViewEdge {
    /// The label a drawing puts on the edge: `on failure`, `on skipped` …, or `None` when
    /// the condition is the edge type's default.
    pub fn label(&self) -> Option<String> {
        let default = if self.soft {
            EdgeCondition::Always
        } else {
            EdgeCondition::Success
        };
        self.on.filter(|&on| on != default).map(|on| {
            let word = match on {
                EdgeCondition::Success => "success",
                EdgeCondition::Failure => "failure",
                EdgeCondition::Skipped => "skipped",
                EdgeCondition::Always => "always",
            };
            format!("on {word}")
        })
    }
}

/// A plan's graph, ready to draw.
#[derive(Debug, Clone)]
pub struct View {
    /// `metadata.name` of the plan.
    pub plan: String,
    pub nodes: Vec<ViewNode>,
    pub edges: Vec<ViewEdge>,
    /// Node indices by topological layer: every dependency of a node is in an
    /// earlier layer. A graph with a cycle (only an invalid plan) cannot be layered:
    /// then all nodes form one layer.
    pub layers: Vec<Vec<usize>>,
    /// True when the graph has a cycle, so `layers` is the one unlayered list.
    pub cyclic: bool,
    /// For each node, the nodes whose `group` it is, in node order.
    pub members: Vec<Vec<usize>>,
}

impl View {
    /// The view of a Plan's graph, from the model's [`PlanGraph`]: its nodes (in
    /// declaration order), its edges (explicit ones, then those of `dependsOn`) and
    /// each node's Group.
    pub fn of_plan(plan: &Plan) -> View {
        let graph = PlanGraph::from_plan(plan);
        let nodes = graph
            .nodes
            .iter()
            .map(|n| ViewNode {
                id: n.id.clone(),
                shape: match n.kind {
                    NodeKind::Task => Shape::Task,
                    NodeKind::Gate => Shape::Gate,
                    NodeKind::Group => Shape::Group,
                    NodeKind::External => Shape::External,
                    NodeKind::Plan => Shape::SubPlan,
                    NodeKind::Placeholder => Shape::Placeholder,
                },
                name: n.name.clone(),
                group: n.group,
            })
            .collect();
        let edges = graph
            .edges
            .iter()
            .map(|e| ViewEdge {
                from: e.from,
                to: e.to,
                soft: e.edge_type == EdgeType::Soft,
                on: e.on,
            })
            .collect();
        View::new(plan.metadata.name.as_str(), nodes, edges)
    }

    /// Builds the view. Edges naming a node index out of range are dropped, and a
    /// `group` out of range or pointing at a non-group is ignored, so this never panics.
    pub fn new(
        plan: impl Into<String>,
        mut nodes: Vec<ViewNode>,
        mut edges: Vec<ViewEdge>,
    ) -> View {
        let n = nodes.len();
        for i in 0..n {
            let valid = nodes[i]
                .group
                .is_some_and(|g| g < n && g != i && nodes[g].shape == Shape::Group);
            if !valid {
                nodes[i].group = None;
            }
        }
        for node in &mut nodes {
            node.id = escape_line(&node.id).into_owned();
            node.name = node.name.as_deref().map(|s| escape_line(s).into_owned());
        }
        edges.retain(|e| e.from < n && e.to < n);
        let mut members = vec![Vec::new(); n];
        for (i, node) in nodes.iter().enumerate() {
            if let Some(g) = node.group {
                members[g].push(i);
            }
        }
        let (layers, cyclic) = match layers(n, &edges) {
            Some(layers) => (layers, false),
            None => (vec![(0..n).collect()], true),
        };
        View {
            plan: escape_line(&plan.into()).into_owned(),
            nodes,
            edges,
            layers,
            cyclic,
            members,
        }
    }

    /// Number of soft edges.
    pub fn soft_edges(&self) -> usize {
        self.edges.iter().filter(|e| e.soft).count()
    }

    /// For each node, the nodes it depends on: `(hard, soft)`, in edge order, without repeats.
    pub fn dependencies(&self) -> Vec<(Vec<usize>, Vec<usize>)> {
        let mut deps: Vec<(Vec<usize>, Vec<usize>)> =
            vec![(Vec::new(), Vec::new()); self.nodes.len()];
        let mut seen = std::collections::HashSet::new();
        for e in &self.edges {
            if seen.insert((e.from, e.to, e.soft)) {
                let (hard, soft) = &mut deps[e.to];
                if e.soft { soft } else { hard }.push(e.from);
            }
        }
        deps
    }

    /// The top-level nodes followed, for each group, by its members, depth first:
    /// `(node, depth)`. Every node appears exactly once, even when (in an invalid
    /// plan) groups contain each other; such nodes are appended at depth 0.
    pub fn nesting(&self) -> Vec<(usize, usize)> {
        let n = self.nodes.len();
        let mut out = Vec::with_capacity(n);
        let mut placed = vec![false; n];
        let roots = (0..n).filter(|&i| self.nodes[i].group.is_none());
        // Left over after the roots: groups that contain each other. Each such cycle is
        // started at a group, at the top level, so its other members stay inside a group.
        let cycles = (0..n)
            .filter(|&i| self.nodes[i].shape == Shape::Group)
            .chain((0..n).filter(|&i| self.nodes[i].shape != Shape::Group));
        let mut stack: Vec<(usize, usize)> = Vec::new();
        for start in roots.chain(cycles) {
            if placed[start] {
                continue;
            }
            stack.push((start, 0));
            while let Some((i, depth)) = stack.pop() {
                if std::mem::replace(&mut placed[i], true) {
                    continue;
                }
                out.push((i, depth));
                for &m in self.members[i].iter().rev() {
                    stack.push((m, depth + 1));
                }
            }
        }
        out
    }
}

/// The nodes in layers, by the model's [`PlanGraph::layers`]: a node's layer is one
/// more than its deepest dependency, over hard and soft edges. `None` on a cycle.
///
/// The model leaves Groups out of its layers (to it they are containers), but the
/// drawing shows a Group as a row, and edges to and from it must point to earlier
/// layers like any other. So the model is handed every node as a Task (`n0`, `n1` …,
/// which also keeps repeated ids of an invalid plan apart) with the view's edges.
fn layers(n: usize, edges: &[ViewEdge]) -> Option<Vec<Vec<usize>>> {
    let id = |i: usize| format!("n{i}");
    let nodes: Vec<Node> = (0..n)
        .map(|i| {
            Node::Task(TaskNode {
                id: id(i).into(),
                ..TaskNode::default()
            })
        })
        .collect();
    let edges: Vec<Edge> = edges
        .iter()
        .map(|e| Edge {
            from: id(e.from).into(),
            to: id(e.to).into(),
            edge_type: if e.soft {
                EdgeType::Soft
            } else {
                EdgeType::Hard
            },
            on: e.on,
        })
        .collect();
    PlanGraph::from_nodes(&nodes, &edges).layers()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small plan with every node kind, a group and a soft edge:
    /// build → test, lint (in group checks) → approve (gate) → deploy; vendor (external) ┄ deploy.
    pub fn sample() -> View {
        let node = |id: &str, shape, name: Option<&str>, group| ViewNode {
            id: id.into(),
            shape,
            name: name.map(Into::into),
            group,
        };
        let nodes = vec![
            node("build", Shape::Task, Some("Build \"app\""), None),
            node("checks", Shape::Group, Some("Quality checks"), None),
            node("test", Shape::Task, Some("Run tests"), Some(1)),
            node("lint", Shape::Task, None, Some(1)),
            node("approve", Shape::Gate, Some("Release approval"), None),
            node("vendor", Shape::External, Some("Vendor <ready>"), None),
            node("deploy", Shape::Task, Some("Deploy"), None),
        ];
        let edge = |from, to, soft| ViewEdge {
            from,
            to,
            soft,
            on: None,
        };
        let edges = vec![
            edge(0, 2, false),
            edge(0, 3, false),
            edge(2, 4, false),
            edge(3, 4, false),
            edge(4, 6, false),
            edge(5, 6, true),
        ];
        View::new("release-v2", nodes, edges)
    }

    #[test]
    fn layers_put_dependencies_first() {
        let view = sample();
        assert_eq!(
            view.layers,
            vec![vec![0, 1, 5], vec![2, 3], vec![4], vec![6]]
        );
        assert!(!view.cyclic);
        assert_eq!(view.members[1], vec![2, 3]);
        assert_eq!(view.soft_edges(), 1);
        let deps = view.dependencies();
        assert_eq!(deps[6], (vec![4], vec![5]));
    }

    /// The layering is the model's: leaving the Groups out of the view's layers gives
    /// exactly [`PlanGraph::layers`]; a Group sits after what it depends on and before
    /// what depends on it.
    #[test]
    fn layers_are_the_models() {
        let plan: Plan = serde_json::from_value(serde_json::json!({
            "apiVersion": "planspec.io/v1alpha1",
            "kind": "Plan",
            "metadata": {"name": "p"},
            "spec": {"description": "d", "graph": {
                "nodes": [
                    {"id": "b", "kind": "Task", "dependsOn": ["grp"]},
                    {"id": "grp", "kind": "Group", "children": ["c"], "dependsOn": ["a"]},
                    {"id": "c", "kind": "Task", "dependsOn": ["a"]},
                    {"id": "a", "kind": "Task"},
                    {"id": "d", "kind": "Task"}
                ],
                "edges": [{"from": "d", "to": "b", "type": "soft"}]
            }}
        }))
        .unwrap();
        let view = View::of_plan(&plan);
        assert_eq!(view.layers, vec![vec![3, 4], vec![1, 2], vec![0]]);
        assert!(!view.cyclic);
        let without_groups: Vec<Vec<usize>> = view
            .layers
            .iter()
            .map(|l| {
                l.iter()
                    .copied()
                    .filter(|&i| view.nodes[i].shape != Shape::Group)
                    .collect::<Vec<_>>()
            })
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(Some(without_groups), PlanGraph::from_plan(&plan).layers());
    }

    #[test]
    fn cycles_and_bad_indices_do_not_panic() {
        let node = |id: &str, group| ViewNode {
            id: id.into(),
            shape: Shape::Group,
            name: None,
            group,
        };
        let view = View::new(
            "p",
            vec![node("a", Some(1)), node("b", Some(0)), node("c", Some(9))],
            vec![
                ViewEdge {
                    from: 0,
                    to: 1,
                    soft: false,
                    on: None,
                },
                ViewEdge {
                    from: 1,
                    to: 0,
                    soft: false,
                    on: None,
                },
                ViewEdge {
                    from: 0,
                    to: 7,
                    soft: false,
                    on: None,
                },
            ],
        );
        assert!(view.cyclic);
        assert_eq!(view.layers, vec![vec![0, 1, 2]]);
        let mut nested: Vec<usize> = view.nesting().into_iter().map(|(i, _)| i).collect();
        nested.sort_unstable();
        assert_eq!(nested, vec![0, 1, 2]);
    }

    #[test]
    fn nesting_lists_members_under_their_group() {
        let view = sample();
        assert_eq!(
            view.nesting(),
            vec![(0, 0), (1, 0), (2, 1), (3, 1), (4, 0), (5, 0), (6, 0)]
        );
    }
}
