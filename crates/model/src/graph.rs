//! A normalised, index-based view of a Plan's graph, for display and execution.
//!
//! Nodes keep their declaration order (a node's index is its position in `spec.graph.nodes`,
//! or in `spec.steps`).
//! Edges are the explicit `edges` followed by the hard edges implied by `dependsOn`. Unknown
//! ids are skipped silently — the validator reports them — and adjacency is built once, so
//! every query is linear or better in the size of the graph.

use crate::plan::{EdgeType, Node, NodeKind, Plan};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

/// A plan's graph with nodes and edges addressed by index.
///
/// Build it with [`PlanGraph::from_plan`]; treat the public fields as read-only (the adjacency
/// index is computed from them once).
#[derive(Debug, Clone, Default)]
pub struct PlanGraph {
    /// The nodes, in declaration order.
    pub nodes: Vec<GraphNode>,
    /// The edges: explicit ones first (declaration order), then those implied by `dependsOn`.
    pub edges: Vec<GraphEdge>,
    index: HashMap<String, usize>,
    /// CSR adjacency: edge indices leaving node `i` are `out_edges[out_start[i]..out_start[i+1]]`.
    out_start: Vec<usize>,
    out_edges: Vec<usize>,
    in_start: Vec<usize>,
    in_edges: Vec<usize>,
}

/// A node of a [`PlanGraph`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphNode {
    /// The node's id.
    pub id: String,
    /// The node's kind.
    pub kind: NodeKind,
    /// The node's display name, if any.
    pub name: Option<String>,
    /// For a Group: the indices of its children that exist, in declaration order.
    pub children: Vec<usize>,
    /// The index of the first Group that lists this node as a child.
    pub group: Option<usize>,
}

/// An edge of a [`PlanGraph`]: `to` waits for `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GraphEdge {
    /// Index of the node that must finish first.
    pub from: usize,
    /// Index of the node that waits.
    pub to: usize,
    /// `Hard` or `Soft`.
    pub edge_type: EdgeType,
    /// Where the edge was declared.
    pub origin: EdgeOrigin,
    /// The edge's `on` condition, if declared.
    pub on: Option<crate::plan::EdgeCondition>,
}

/// Where an edge of a [`PlanGraph`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EdgeOrigin {
    /// An entry of `spec.graph.edges`.
    Explicit,
    /// An entry of a node's `dependsOn` (always a hard edge).
    DependsOn,
}

impl PlanGraph {
    /// Builds the graph of a Plan.
    ///
    /// * Node ids resolve to the first node with that id; edges, `dependsOn` entries and
    ///   Group children naming unknown ids are skipped.
    /// * Explicit edges repeating the same `(from, to, type)` are kept once.
    /// * `A` in `N.dependsOn` adds the hard edge `A → N`, unless an explicit edge `A → N`
    ///   (of any type) exists: the explicit edge wins.
    /// * Self-loops are kept, so [`topo_order`](Self::topo_order) reports them as cycles.
    ///
    /// A Plan written as `spec.steps` is the chain its steps make
    /// ([`PlanSpec::effective_graph`](crate::plan::PlanSpec::effective_graph)): each step
    /// depends on the one before it.
    pub fn from_plan(plan: &Plan) -> PlanGraph {
        let graph = plan.spec.effective_graph();
        Self::from_nodes(&graph.nodes, &graph.edges)
    }

    /// Builds the graph from nodes and explicit edges (see [`from_plan`](Self::from_plan)).
    pub fn from_nodes(nodes: &[Node], edges: &[crate::plan::Edge]) -> PlanGraph {
        let mut index = HashMap::with_capacity(nodes.len());
        for (i, node) in nodes.iter().enumerate() {
            index.entry(node.id().to_string()).or_insert(i);
        }

        let mut graph_nodes: Vec<GraphNode> = nodes
            .iter()
            .map(|n| GraphNode {
                id: n.id().to_string(),
                kind: n.kind(),
                name: n.name().map(str::to_owned),
                children: Vec::new(),
                group: None,
            })
            .collect();
        for (i, node) in nodes.iter().enumerate() {
            if let Node::Group(group) = node {
                let mut seen = HashSet::new();
                let children: Vec<usize> = group
                    .children
                    .iter()
                    .filter_map(|c| index.get(c.as_str()).copied())
                    .filter(|&c| seen.insert(c))
                    .collect();
                for &c in &children {
                    if c != i && graph_nodes[c].group.is_none() {
                        graph_nodes[c].group = Some(i);
                    }
                }
                graph_nodes[i].children = children;
            }
        }

        let mut graph_edges = Vec::with_capacity(edges.len());
        let mut explicit_seen = HashSet::with_capacity(edges.len());
        let mut explicit_pairs = HashSet::with_capacity(edges.len());
        for edge in edges {
            let (Some(&from), Some(&to)) =
                (index.get(edge.from.as_str()), index.get(edge.to.as_str()))
            else {
                continue;
            };
            if explicit_seen.insert((from, to, edge.edge_type)) {
                explicit_pairs.insert((from, to));
                graph_edges.push(GraphEdge {
                    from,
                    to,
                    edge_type: edge.edge_type,
                    origin: EdgeOrigin::Explicit,
                    on: edge.on,
                });
            }
        }
        for (to, node) in nodes.iter().enumerate() {
            if index.get(node.id().as_str()) != Some(&to) {
                // A duplicate id: its dependsOn would be attributed to the first node.
                continue;
            }
            for dep in node.depends_on() {
                let Some(&from) = index.get(dep.as_str()) else {
                    continue;
                };
                if explicit_pairs.insert((from, to)) {
                    graph_edges.push(GraphEdge {
                        from,
                        to,
                        edge_type: EdgeType::Hard,
                        origin: EdgeOrigin::DependsOn,
                        on: None,
                    });
                }
            }
        }

        let n = graph_nodes.len();
        let (out_start, out_edges) = csr(n, graph_edges.iter().map(|e| e.from));
        let (in_start, in_edges) = csr(n, graph_edges.iter().map(|e| e.to));
        PlanGraph {
            nodes: graph_nodes,
            edges: graph_edges,
            index,
            out_start,
            out_edges,
            in_start,
            in_edges,
        }
    }

    /// The index of the (first) node with this id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// The edges leaving node `i`, in edge order.
    pub fn successors(&self, i: usize) -> impl Iterator<Item = &GraphEdge> {
        self.out_edges[self.out_start[i]..self.out_start[i + 1]]
            .iter()
            .map(|&e| &self.edges[e])
    }

    /// The edges entering node `i`, in edge order.
    pub fn predecessors(&self, i: usize) -> impl Iterator<Item = &GraphEdge> {
        self.in_edges[self.in_start[i]..self.in_start[i + 1]]
            .iter()
            .map(|&e| &self.edges[e])
    }

    /// Nodes without incoming edges, in declaration order. Groups are excluded.
    pub fn roots(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| {
                self.nodes[i].kind != NodeKind::Group && self.in_start[i] == self.in_start[i + 1]
            })
            .collect()
    }

    /// All nodes (Groups included) in a topological order over all edges (soft included).
    ///
    /// Kahn's algorithm; among the nodes that are ready, the one declared first comes first,
    /// so the order is stable. On a cycle, returns one cycle as a path that starts and ends
    /// with the same node (`[a, b, c, a]` for `a → b → c → a`; `[a, a]` for a self-loop),
    /// starting at the cycle's first-declared node.
    pub fn topo_order(&self) -> Result<Vec<usize>, Vec<usize>> {
        let n = self.nodes.len();
        let mut in_degree: Vec<usize> = (0..n)
            .map(|i| self.in_start[i + 1] - self.in_start[i])
            .collect();
        let mut ready: BinaryHeap<Reverse<usize>> =
            (0..n).filter(|&i| in_degree[i] == 0).map(Reverse).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(Reverse(i)) = ready.pop() {
            order.push(i);
            for edge in self.successors(i) {
                in_degree[edge.to] -= 1;
                if in_degree[edge.to] == 0 {
                    ready.push(Reverse(edge.to));
                }
            }
        }
        if order.len() == n {
            Ok(order)
        } else {
            Err(self.find_cycle(&in_degree))
        }
    }

    /// Finds a cycle among the nodes Kahn's algorithm could not order (`in_degree > 0`).
    /// Every such node has a predecessor that is also left over, so walking predecessors
    /// from any of them must revisit a node.
    fn find_cycle(&self, in_degree: &[usize]) -> Vec<usize> {
        let left = |i: usize| in_degree[i] > 0;
        let start = (0..self.nodes.len())
            .find(|&i| left(i))
            .expect("a leftover node");
        let mut position = HashMap::new();
        let mut walk = Vec::new();
        let mut current = start;
        loop {
            if let Some(&p) = position.get(&current) {
                // walk[p..] is the cycle, backwards: each node's successor precedes it.
                let mut cycle: Vec<usize> = walk[p..].to_vec();
                cycle.reverse();
                let first = cycle
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, &node)| node)
                    .map(|(k, _)| k)
                    .unwrap_or(0);
                cycle.rotate_left(first);
                cycle.push(cycle[0]);
                return cycle;
            }
            position.insert(current, walk.len());
            walk.push(current);
            current = self
                .predecessors(current)
                .map(|e| e.from)
                .find(|&p| left(p))
                .expect("a leftover node has a leftover predecessor");
        }
    }

    /// Longest-path layers for display: layer 0 holds the nodes without predecessors, every
    /// other node sits one layer below its deepest predecessor. Groups are not placed (they
    /// are containers); layers left empty by that are dropped. Each layer is in declaration
    /// order. `None` if the graph has a cycle.
    pub fn layers(&self) -> Option<Vec<Vec<usize>>> {
        let order = self.topo_order().ok()?;
        let mut depth = vec![0usize; self.nodes.len()];
        for &i in &order {
            for edge in self.successors(i) {
                depth[edge.to] = depth[edge.to].max(depth[i] + 1);
            }
        }
        let max_depth = depth.iter().copied().max().unwrap_or(0);
        let mut layers = vec![
            Vec::new();
            if self.nodes.is_empty() {
                0
            } else {
                max_depth + 1
            }
        ];
        for (i, node) in self.nodes.iter().enumerate() {
            if node.kind != NodeKind::Group {
                layers[depth[i]].push(i);
            }
        }
        layers.retain(|l| !l.is_empty());
        Some(layers)
    }
}

/// Builds a CSR index: for each key in `0..n`, the positions (in input order) that map to it.
fn csr(n: usize, keys: impl Iterator<Item = usize> + Clone) -> (Vec<usize>, Vec<usize>) {
    let mut start = vec![0usize; n + 1];
    for k in keys.clone() {
        start[k + 1] += 1;
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut items = vec![0usize; start[n]];
    for (position, k) in keys.enumerate() {
        items[fill[k]] = position;
        fill[k] += 1;
    }
    (start, items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(graph: serde_json::Value) -> Plan {
        serde_json::from_value(json!({
            "apiVersion": "planspec.io/v1alpha1",
            "kind": "Plan",
            "metadata": {"name": "p"},
            "spec": {"description": "d", "graph": graph}
        }))
        .unwrap()
    }

    fn task(id: &str, deps: &[&str]) -> serde_json::Value {
        json!({"id": id, "kind": "Task", "dependsOn": deps})
    }

    fn ids(g: &PlanGraph, v: &[usize]) -> Vec<String> {
        v.iter().map(|&i| g.nodes[i].id.clone()).collect()
    }

    #[test]
    fn edges_from_explicit_and_depends_on() {
        let g = PlanGraph::from_plan(&plan(json!({
            "nodes": [task("a", &[]), task("b", &["a"]), task("c", &["a", "b", "ghost"])],
            "edges": [
                {"from": "a", "to": "b", "type": "soft"},
                {"from": "a", "to": "b", "type": "soft"},
                {"from": "b", "to": "c"},
                {"from": "nope", "to": "c"}
            ]
        })));
        let e: Vec<(usize, usize, EdgeType, EdgeOrigin)> = g
            .edges
            .iter()
            .map(|e| (e.from, e.to, e.edge_type, e.origin))
            .collect();
        assert_eq!(
            e,
            vec![
                (0, 1, EdgeType::Soft, EdgeOrigin::Explicit),
                (1, 2, EdgeType::Hard, EdgeOrigin::Explicit),
                (0, 2, EdgeType::Hard, EdgeOrigin::DependsOn),
            ]
        );
        assert_eq!(g.index_of("c"), Some(2));
        assert_eq!(g.index_of("ghost"), None);
        assert_eq!(
            g.successors(0).map(|e| e.to).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(
            g.predecessors(2).map(|e| e.from).collect::<Vec<_>>(),
            vec![1, 0]
        );
        assert_eq!(g.roots(), vec![0]);
    }

    #[test]
    fn stable_topo_order_and_layers() {
        let g = PlanGraph::from_plan(&plan(json!({
            "nodes": [
                task("d", &["b", "c"]),
                task("b", &["a"]),
                task("c", &["a"]),
                task("a", &[]),
                task("e", &[]),
                {"id": "grp", "kind": "Group", "children": ["b", "c", "missing"]}
            ]
        })));
        let order = g.topo_order().unwrap();
        assert_eq!(ids(&g, &order), ["a", "b", "c", "d", "e", "grp"]);
        assert_eq!(g.roots(), vec![3, 4]);
        let layers = g.layers().unwrap();
        let named: Vec<Vec<String>> = layers.iter().map(|l| ids(&g, l)).collect();
        assert_eq!(named, vec![vec!["a", "e"], vec!["b", "c"], vec!["d"]]);
        assert_eq!(g.nodes[5].children, vec![1, 2]);
        assert_eq!(g.nodes[1].group, Some(5));
        assert_eq!(g.nodes[0].group, None);
    }

    #[test]
    fn cycles_are_reported_as_paths() {
        let g = PlanGraph::from_plan(&plan(json!({
            "nodes": [task("x", &[]), task("a", &["c", "x"]), task("b", &["a"]), task("c", &["b"])]
        })));
        assert_eq!(ids(&g, &g.topo_order().unwrap_err()), ["a", "b", "c", "a"]);
        assert!(g.layers().is_none());

        let g = PlanGraph::from_plan(&plan(json!({"nodes": [task("a", &["a"])]})));
        assert_eq!(ids(&g, &g.topo_order().unwrap_err()), ["a", "a"]);
    }

    #[test]
    fn duplicate_ids_resolve_to_first() {
        let g = PlanGraph::from_plan(&plan(json!({
            "nodes": [task("a", &[]), task("a", &["b"]), task("b", &[])]
        })));
        assert_eq!(g.index_of("a"), Some(0));
        assert!(g.edges.is_empty());
        assert_eq!(g.topo_order().unwrap(), vec![0, 1, 2]);
    }

    #[test]
    fn ten_thousand_nodes_is_fast() {
        let n = 10_000;
        let nodes: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                let deps: Vec<String> = if i == 0 {
                    vec![]
                } else {
                    vec![format!("n{}", i - 1), format!("n{}", i / 2)]
                };
                json!({"id": format!("n{i}"), "kind": "Task", "dependsOn": deps})
            })
            .collect();
        let g = PlanGraph::from_plan(&plan(json!({"nodes": nodes})));
        let start = std::time::Instant::now();
        let order = g.topo_order().unwrap();
        assert_eq!(order.len(), n);
        assert_eq!(g.layers().unwrap().len(), n);
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }
}
