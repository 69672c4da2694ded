//! Drawing a plan graph: as text for a terminal, as Graphviz DOT, as Mermaid.
//!
//! The renderers work on a [`View`]: the nodes and edges of one plan, indexed,
//! with the grouping resolved and the nodes sorted into topological layers.
//! Building the view is linear in nodes + edges, and so is every renderer, so a
//! 10,000-node plan draws as fast as it prints.

pub mod dot;
pub mod mermaid;
pub mod text;

/// The four node kinds, as far as drawing is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    Task,
    Gate,
    Group,
    External,
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
}

/// A plan's graph, ready to draw.
#[derive(Debug, Clone)]
pub struct View {
    /// `metadata.name` of the plan.
    pub plan: String,
    pub nodes: Vec<ViewNode>,
    pub edges: Vec<ViewEdge>,
    /// Node indices by topological layer: every dependency of a node is in an
    /// earlier layer. Nodes on a cycle (only in invalid plans) form a last layer.
    pub layers: Vec<Vec<usize>>,
    /// True when the last layer holds the nodes left over by a cycle.
    pub cyclic: bool,
    /// For each node, the nodes whose `group` it is, in node order.
    pub members: Vec<Vec<usize>>,
}

impl View {
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
        edges.retain(|e| e.from < n && e.to < n);
        let mut members = vec![Vec::new(); n];
        for (i, node) in nodes.iter().enumerate() {
            if let Some(g) = node.group {
                members[g].push(i);
            }
        }
        let (layers, cyclic) = layers(n, &edges);
        View {
            plan: plan.into(),
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

/// Kahn's algorithm by levels over all edges (soft ones too, so every dependency
/// drawn points to an earlier layer). Returns the layers and whether a cycle was left.
fn layers(n: usize, edges: &[ViewEdge]) -> (Vec<Vec<usize>>, bool) {
    let mut indegree = vec![0usize; n];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for e in edges {
        indegree[e.to] += 1;
        out[e.from].push(e.to);
    }
    let mut current: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut layers = Vec::new();
    let mut placed = 0;
    while !current.is_empty() {
        let mut next = Vec::new();
        for &i in &current {
            for &j in &out[i] {
                indegree[j] -= 1;
                if indegree[j] == 0 {
                    next.push(j);
                }
            }
        }
        next.sort_unstable();
        placed += current.len();
        layers.push(std::mem::replace(&mut current, next));
    }
    let cyclic = placed < n;
    if cyclic {
        layers.push((0..n).filter(|&i| indegree[i] > 0).collect());
    }
    (layers, cyclic)
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
        let edge = |from, to, soft| ViewEdge { from, to, soft };
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
                },
                ViewEdge {
                    from: 1,
                    to: 0,
                    soft: false,
                },
                ViewEdge {
                    from: 0,
                    to: 7,
                    soft: false,
                },
            ],
        );
        assert!(view.cyclic);
        assert_eq!(view.layers, vec![vec![2], vec![0, 1]]);
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
