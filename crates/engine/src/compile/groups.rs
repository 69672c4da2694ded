//! Group containment and the dependencies of executable nodes once Groups are expanded.

use super::{CompileError, MAX_EXPANDED_EDGES};
use planspec_model::plan::{Edge, EdgeCondition, EdgeType, Node};
use std::collections::{BTreeSet, HashMap};

/// The dependencies of one executable node, as plan indices: hard, soft, and those whose
/// edge names the upstream outcome it needs (`on: failure` / `on: skipped`).
pub(super) struct Dependencies {
    pub(super) hard: BTreeSet<usize>,
    pub(super) soft: BTreeSet<usize>,
    pub(super) conditional: BTreeSet<(usize, EdgeCondition)>,
}

/// How one declared dependency constrains its node.
#[derive(Clone, Copy)]
enum Need {
    /// The upstream must succeed (`dependsOn`, a hard edge, `on: success`).
    Success,
    /// Any outcome (a soft edge, `on: always`).
    Finish,
    /// This outcome (`on: failure`, `on: skipped`).
    Outcome(EdgeCondition),
}

impl Need {
    /// An explicit `on` decides; without it a hard edge needs success and a soft edge
    /// only orders.
    fn of(edge: &Edge) -> Need {
        match (edge.on, edge.edge_type) {
            (Some(EdgeCondition::Success), _) | (None, EdgeType::Hard) => Need::Success,
            (Some(EdgeCondition::Always), _) | (None, EdgeType::Soft) => Need::Finish,
            (Some(condition), _) => Need::Outcome(condition),
        }
    }
}

/// Where each node sits among the Groups, and what points into it.
pub(super) struct Structure<'a> {
    nodes: &'a [Node],
    /// `parent[i]`: the Group that lists node `i`.
    parent: Vec<Option<usize>>,
    /// `children[g]`: the nodes Group `g` lists, deduplicated.
    children: Vec<Vec<usize>>,
    /// `incoming[i]`: dependencies declared on node `i` itself (its `dependsOn`, hard, and
    /// the explicit edges into it), as (source, what it needs).
    incoming: Vec<Vec<(usize, Need)>>,
}

impl<'a> Structure<'a> {
    pub(super) fn build(
        nodes: &'a [Node],
        edges: &[Edge],
        index: &HashMap<&str, usize>,
    ) -> Result<Self, CompileError> {
        let n = nodes.len();
        let mut parent: Vec<Option<usize>> = vec![None; n];
        let mut children = vec![Vec::new(); n];
        for (g, node) in nodes.iter().enumerate() {
            let Node::Group(group) = node else { continue };
            let mut seen = BTreeSet::new();
            for child in &group.children {
                let &c =
                    index
                        .get(child.as_str())
                        .ok_or_else(|| CompileError::UnknownGroupChild {
                            group: group.id.to_string(),
                            child: child.to_string(),
                        })?;
                if !seen.insert(c) {
                    continue;
                }
                if c == g {
                    return Err(CompileError::GroupCycle {
                        path: vec![group.id.to_string(), group.id.to_string()],
                    });
                }
                match parent[c] {
                    Some(other) if other != g => {
                        return Err(CompileError::SeveralGroups {
                            node: child.to_string(),
                            first: nodes[other].id().to_string(),
                            second: group.id.to_string(),
                        })
                    }
                    _ => parent[c] = Some(g),
                }
                children[g].push(c);
            }
        }
        check_containment_cycles(nodes, &parent)?;

        let mut incoming = vec![Vec::new(); n];
        for (i, node) in nodes.iter().enumerate() {
            for dep in node.depends_on() {
                let &d =
                    index
                        .get(dep.as_str())
                        .ok_or_else(|| CompileError::UnknownDependency {
                            node: node.id().to_string(),
                            dependency: dep.to_string(),
                        })?;
                incoming[i].push((d, Need::Success));
            }
        }
        for edge in edges {
            let lookup = |id: &str| {
                index
                    .get(id)
                    .copied()
                    .ok_or_else(|| CompileError::UnknownEdgeNode {
                        from: edge.from.to_string(),
                        to: edge.to.to_string(),
                        missing: id.to_string(),
                    })
            };
            let from = lookup(&edge.from)?;
            let to = lookup(&edge.to)?;
            incoming[to].push((from, Need::of(edge)));
        }
        Ok(Structure {
            nodes,
            parent,
            children,
            incoming,
        })
    }

    /// The Group that lists node `i`.
    pub(super) fn parent(&self, i: usize) -> Option<usize> {
        self.parent[i]
    }

    /// The Groups around node `i`, outermost first.
    pub(super) fn enclosing(&self, i: usize) -> Vec<usize> {
        let mut chain = Vec::new();
        let mut current = self.parent[i];
        while let Some(g) = current {
            chain.push(g);
            current = self.parent[g];
        }
        chain.reverse();
        chain
    }

    /// For each executable node (in declaration order), its dependencies as plan indices of
    /// executable nodes. Soft dependencies that are also hard or conditional are dropped.
    pub(super) fn dependencies(&self) -> Result<Vec<Dependencies>, CompileError> {
        let mut members: Vec<Option<Vec<usize>>> = vec![None; self.nodes.len()];
        let mut out = Vec::new();
        let mut count = 0usize;
        for t in 0..self.nodes.len() {
            if matches!(self.nodes[t], Node::Group(_)) {
                continue;
            }
            let (mut hard, mut soft, mut conditional) =
                (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
            let mut declared_on = self.enclosing(t);
            declared_on.push(t);
            for a in declared_on {
                for &(source, need) in &self.incoming[a] {
                    for &m in self.expand(source, &mut members) {
                        if m == t {
                            let id = self.nodes[t].id().to_string();
                            return Err(CompileError::Cycle {
                                path: vec![id.clone(), id],
                            });
                        }
                        count += 1;
                        if count > MAX_EXPANDED_EDGES {
                            return Err(CompileError::TooManyEdges {
                                count,
                                max: MAX_EXPANDED_EDGES,
                                expanded: true,
                            });
                        }
                        match need {
                            Need::Success => hard.insert(m),
                            Need::Finish => soft.insert(m),
                            Need::Outcome(c) => conditional.insert((m, c)),
                        };
                    }
                }
            }
            soft.retain(|m| !hard.contains(m));
            for &(m, _) in &conditional {
                if !hard.contains(&m) {
                    soft.insert(m);
                }
            }
            out.push(Dependencies {
                hard,
                soft,
                conditional,
            });
        }
        Ok(out)
    }

    /// The executable nodes `i` stands for: itself, or every one inside a Group.
    fn expand<'m>(&self, i: usize, members: &'m mut [Option<Vec<usize>>]) -> &'m [usize] {
        if members[i].is_none() {
            let mut found = Vec::new();
            let mut todo = vec![i];
            while let Some(j) = todo.pop() {
                if matches!(self.nodes[j], Node::Group(_)) {
                    todo.extend(self.children[j].iter().rev());
                } else {
                    found.push(j);
                }
            }
            members[i] = Some(found);
        }
        members[i].as_deref().unwrap_or_default()
    }
}

/// Groups may not contain themselves, directly or through other Groups. Each node has at
/// most one parent, so following parents from any node either ends or loops.
fn check_containment_cycles(nodes: &[Node], parent: &[Option<usize>]) -> Result<(), CompileError> {
    // 0: unvisited, 1: on the current walk, 2: known to reach a root.
    let mut state = vec![0u8; nodes.len()];
    for start in 0..nodes.len() {
        let mut walk = Vec::new();
        let mut current = Some(start);
        while let Some(c) = current {
            if state[c] != 0 {
                break;
            }
            state[c] = 1;
            walk.push(c);
            current = parent[c];
        }
        if let Some(c) = current {
            if state[c] == 1 {
                let from = walk.iter().position(|&w| w == c).unwrap_or(0);
                let mut path: Vec<String> = walk[from..]
                    .iter()
                    .map(|&w| nodes[w].id().to_string())
                    .collect();
                path.push(nodes[c].id().to_string());
                return Err(CompileError::GroupCycle { path });
            }
        }
        for w in walk {
            state[w] = 2;
        }
    }
    Ok(())
}
