//! Matrix instances in the state: extra node slots after the graph's nodes, an index from
//! instance id to slot, and each matrix's progress (how far its instances were released,
//! how many are active, done, failed), kept up to date by every phase change so the
//! scheduler never scans a matrix's instances per step.

use super::{Activity, NodePhase, NodeState, State};
use crate::graph::ExecGraph;
use crate::matrix::InstanceInfo;
use crate::EngineError;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Range;
use std::sync::{Arc, OnceLock};

/// What a matrix node shows downstream: `nodes.<matrix>.outputs` (the fan-in lists) and
/// `nodes.<matrix>.instances`.
#[derive(Debug)]
pub(crate) struct FanIn {
    pub(crate) outputs: Arc<Value>,
    pub(crate) instances: Arc<Value>,
}

/// A finished matrix's [`FanIn`], computed the first time a downstream expression reads it
/// and kept until an instance changes phase again (a retry): derived, never journaled, and
/// not part of the state's equality.
#[derive(Debug, Clone, Default)]
pub(crate) struct FanInCache(OnceLock<Arc<FanIn>>);

impl PartialEq for FanInCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for FanInCache {}

/// One matrix's progress. Instances are released (made Ready) in instance order, so the
/// ones not released yet are the Pending ones from `next` on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MatrixRun {
    /// The instances' slots.
    pub(crate) slots: Range<usize>,
    /// The first slot that may still be Pending.
    pub(crate) next: usize,
    /// Instances Ready or Running.
    pub(crate) active: u32,
    /// Instances in a terminal phase.
    pub(crate) terminal: u32,
    /// Instances that failed.
    pub(crate) failed: u32,
    /// The fan-in once every instance is terminal.
    pub(crate) fan_in: FanInCache,
}

/// Derived: instance ids → slots, each expanded matrix's progress (by graph index), and the
/// matrices whose instances changed since the scheduler last looked.
#[derive(Debug, Clone, Default)]
pub(crate) struct MatrixIndex {
    slots: HashMap<String, usize>,
    pub(crate) runs: HashMap<usize, MatrixRun>,
    pub(crate) dirty: BTreeSet<usize>,
    /// Matrix nodes Running while their instances run: counted as running nodes by the
    /// phase counters, but nothing of their own runs.
    pub(crate) open: u32,
    /// The expansion the deriver just made for `MatrixExpanded` (matrix node, expansion):
    /// applying the decision takes it instead of expanding the same matrix again. A fold
    /// has none and derives it.
    pub(crate) expanded: Option<(usize, crate::matrix::Expansion)>,
}

/// `dirty` is the scheduler's work list (a fold never drains it): not part of the state.
impl PartialEq for MatrixIndex {
    fn eq(&self, other: &Self) -> bool {
        self.slots == other.slots && self.runs == other.runs && self.open == other.open
    }
}

impl MatrixIndex {
    /// The slot of the instance with this id.
    pub(crate) fn slot(&self, id: &str) -> Option<usize> {
        self.slots.get(id).copied()
    }

    /// The slots of matrix node `i`'s instances, if it expanded.
    pub(crate) fn slots_of(&self, i: usize) -> Option<Range<usize>> {
        self.runs.get(&i).map(|r| r.slots.clone())
    }
}

impl State {
    /// The graph node slot `i` belongs to: itself, or an instance's matrix node.
    pub(crate) fn owner(&self, graph: &ExecGraph, i: usize) -> usize {
        if i < graph.len() {
            i
        } else {
            self.instances[i - graph.len()].node
        }
    }

    /// The slot of a graph node or an instance, by id.
    pub(crate) fn slot_of(&self, graph: &ExecGraph, id: &str) -> Option<usize> {
        graph.index_of(id).or_else(|| self.matrix.slot(id))
    }

    /// The id of slot `i`.
    pub(crate) fn slot_id<'a>(&'a self, graph: &'a ExecGraph, i: usize) -> &'a str {
        if i < graph.len() {
            graph.nodes[i].id.as_str()
        } else {
            &self.instances[i - graph.len()].id
        }
    }

    /// `MatrixExpanded`: derives the instances again and checks they are the journaled ones,
    /// appends their slots (Pending) and makes the matrix node Running.
    pub(super) fn matrix_expanded(
        &mut self,
        graph: &ExecGraph,
        i: usize,
        at: u64,
        count: u32,
        digest: &str,
    ) -> Result<(), EngineError> {
        let id = graph.nodes[i].id.to_string();
        let expansion = match self.matrix.expanded.take() {
            Some((j, expansion)) if j == i => expansion,
            _ => crate::matrix::expand_node(graph, self, i).map_err(|e| {
                EngineError::ExpansionMismatch {
                    node: id.clone(),
                    message: e.to_string(),
                }
            })?,
        };
        if expansion.instances.len() != count as usize || expansion.digest() != digest {
            return Err(EngineError::ExpansionMismatch {
                node: id,
                message: format!(
                    "the journal has {count} instances ({digest}), the run derives {} ({})",
                    expansion.instances.len(),
                    expansion.digest()
                ),
            });
        }
        let first = self.nodes.len();
        for instance in expansion.instances {
            let mut n = NodeState::new();
            if let Some(&attempt) = self.instance_attempts.get(&instance.id) {
                n.attempt = attempt;
                n.first_attempt = attempt + 1;
            }
            self.nodes.push(n);
            self.matrix
                .slots
                .insert(instance.id.clone(), self.nodes.len() - 1);
            self.instances.push(InstanceInfo {
                id: instance.id,
                node: i,
                ordinal: u32::try_from(instance.ordinal).unwrap_or(u32::MAX),
                coordinates: instance.coordinates,
            });
        }
        self.counters.pending = self.counters.pending.saturating_add(count);
        let end = self.nodes.len();
        self.matrix.runs.insert(
            i,
            MatrixRun {
                slots: first..end,
                next: first,
                ..MatrixRun::default()
            },
        );
        self.matrix.dirty.insert(i);
        self.set_phase(graph, i, NodePhase::Running);
        self.matrix.open += 1;
        let n = &mut self.nodes[i];
        n.activity = Some(Activity::Instances);
        n.started_at = Some(at);
        Ok(())
    }

    /// How the instances of matrix node `i` stand, if it expanded: `(instances, terminal,
    /// failed)`. Constant time (kept up to date by every phase change).
    pub fn matrix_progress(&self, i: usize) -> Option<(usize, u32, u32)> {
        self.matrix
            .runs
            .get(&i)
            .map(|r| (r.slots.len(), r.terminal, r.failed))
    }

    /// What matrix node `j` shows downstream (`None` if it has not expanded). Once all its
    /// instances are terminal nothing in it changes until a retry, so it is computed once
    /// and shared by every expression that reads it: a matrix reading a large upstream
    /// matrix costs one fan-in, not one per instance and expression.
    pub(crate) fn fan_in(&self, graph: &ExecGraph, j: usize) -> Option<Arc<FanIn>> {
        let run = self.matrix.runs.get(&j)?;
        let compute = || {
            Arc::new(FanIn {
                outputs: Arc::new(Value::Object(
                    crate::matrix::node_outputs(graph, self, j)
                        .map(|o| o.into_owned())
                        .unwrap_or_default(),
                )),
                instances: Arc::new(
                    crate::matrix::instances_value(graph, self, j).unwrap_or(Value::Null),
                ),
            })
        };
        if run.terminal as usize == run.slots.len() {
            Some(run.fan_in.0.get_or_init(compute).clone())
        } else {
            Some(compute())
        }
    }

    /// Matrix nodes Running while their instances run (see [`MatrixIndex::open`]): what to
    /// take off `counters.running` to count what really runs.
    pub fn matrix_nodes_running(&self) -> u32 {
        self.matrix.open
    }

    /// Graph node `i` leaves Running: if it is an expanded matrix, one fewer is open.
    pub(super) fn matrix_node_left_running(&mut self, i: usize) {
        if self.matrix.runs.contains_key(&i) {
            self.matrix.open = self.matrix.open.saturating_sub(1);
        }
    }

    /// Keeps instance `slot`'s matrix progress right after a phase change.
    pub(super) fn instance_moved(
        &mut self,
        graph: &ExecGraph,
        slot: usize,
        old: NodePhase,
        new: NodePhase,
    ) {
        let owner = self.owner(graph, slot);
        let Some(run) = self.matrix.runs.get_mut(&owner) else {
            return;
        };
        run.fan_in = FanInCache::default();
        let active = |p: NodePhase| !p.is_terminal() && p != NodePhase::Pending;
        if active(new) && !active(old) {
            run.active += 1;
        }
        if !active(new) && active(old) {
            run.active = run.active.saturating_sub(1);
        }
        if old == NodePhase::Pending {
            while run.next < run.slots.end && self.nodes[run.next].phase != NodePhase::Pending {
                run.next += 1;
            }
        }
        if new.is_terminal() && !old.is_terminal() {
            run.terminal += 1;
            if new == NodePhase::Failed {
                run.failed += 1;
            }
            self.matrix.dirty.insert(owner);
        }
    }

    /// Removes the instances of the matrix nodes in `reset` (a retry re-runs them), keeping
    /// their last attempts so the next expansion counts on.
    pub(super) fn retire_instances(&mut self, graph: &ExecGraph, reset: &[usize]) {
        let reset: HashSet<usize> = reset
            .iter()
            .copied()
            .filter(|&i| self.matrix.runs.contains_key(&i))
            .collect();
        if reset.is_empty() {
            return;
        }
        let tail = self.nodes.split_off(graph.len());
        let infos = std::mem::take(&mut self.instances);
        for (n, info) in tail.into_iter().zip(infos) {
            if reset.contains(&info.node) {
                if n.attempt > 0 {
                    self.instance_attempts.insert(info.id.clone(), n.attempt);
                }
            } else {
                self.nodes.push(n);
                self.instances.push(info);
            }
        }
    }

    /// Rebuilds the instance index and every matrix's progress from the slots.
    pub(super) fn rebuild_instances(&mut self, graph: &ExecGraph) {
        let base = graph.len();
        self.matrix = MatrixIndex::default();
        for (k, info) in self.instances.iter().enumerate() {
            let slot = base + k;
            self.matrix.slots.insert(info.id.clone(), slot);
            let run = self
                .matrix
                .runs
                .entry(info.node)
                .or_insert_with(|| MatrixRun {
                    slots: slot..slot,
                    next: usize::MAX,
                    ..MatrixRun::default()
                });
            run.slots.end = slot + 1;
            let phase = self.nodes[slot].phase;
            match phase {
                NodePhase::Pending => run.next = run.next.min(slot),
                p if p.is_terminal() => {
                    run.terminal += 1;
                    if p == NodePhase::Failed {
                        run.failed += 1;
                    }
                }
                _ => run.active += 1,
            }
            if phase == NodePhase::Ready {
                self.ready.insert((graph.rank[info.node], slot));
            }
        }
        for run in self.matrix.runs.values_mut() {
            if run.next == usize::MAX {
                run.next = run.slots.end;
            }
        }
        self.matrix.open = self
            .matrix
            .runs
            .keys()
            .filter(|&&i| self.nodes[i].phase == NodePhase::Running)
            .count() as u32;
    }
}
