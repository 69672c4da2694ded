//! Binding resolution: which rule of a Binding assigns the provider of a plan node.
//!
//! Pure and deterministic: the same Binding, Plan and node always give the same answer,
//! independent of map iteration order. The Binding controller, the validator, the engine and
//! `planspec describe` all call this module, so they agree by construction.
//!
//! # What is resolved
//!
//! **A node** — the unit one provider performs. A rule *matches* a node when:
//!
//! | Selector | Matches the node when |
//! |---|---|
//! | `{planRef, nodeId}` | the node is that node of that plan |
//! | `{planRef, capabilityRef}` | the node is in that plan and **any** of its `capabilityRefs` is that capability |
//! | `{capabilityRef}` | **any** of the node's `capabilityRefs` is that capability |
//! | `{planRef}` | the node is in that plan |
//! | `{matchLabels}` | the plan's `metadata.labels` contain every pair (an empty map matches every plan) |
//!
//! A node that needs two capabilities therefore sees the rules of both: if
//! `{capabilityRef: code-generation}` binds `agent://a` and `{capabilityRef: test-execution}`
//! binds `tool://b` at the same priority, the node has two equally good candidates and the
//! `strategy` decides (earliest rule under `FirstMatch`, a conflict otherwise). One node is
//! performed by one provider; splitting it per capability would leave the engine with two
//! providers and no rule for choosing. The per-capability view upstream's status wants
//! (`unboundCapabilities`) is derived from the node's result: every capability use of a node
//! shares the node's resolution ([`PlanResolution::unbound_capabilities`]).
//!
//! References are namespaced. A selector's `planRef`/`capabilityRef` without `namespace` means
//! the Binding's namespace; a node's `capabilityRefs` without `namespace` mean the Plan's.
//! `uid`, `kind` and `apiVersion` of a reference never change what it matches. `matchLabels`
//! looks only at labels; which Plans a Binding is applied to at all (its own namespace, or the
//! Plan of an Execution that names it) is the caller's decision.
//!
//! # Precedence (newest upstream schema)
//!
//! 1. the highest `priority` among the matching rules wins;
//! 2. among those, the most specific selector (rank 1 `{planRef, nodeId}` … 5 `{matchLabels}`);
//! 3. rules still tied (same priority, same rank) are settled by the Binding's `strategy`:
//!    * `FirstMatch` (default): the earliest rule in `spec.rules` wins;
//!    * `ErrorOnConflict`: if the tied rules do not all have the same target (provider and
//!      config), the node is a [`Resolution::Conflict`]; identical targets are no conflict
//!      and the earliest rule is reported as the winner;
//!    * `MostSpecific`: "prefer the narrower selector" is exactly step 2, so what remains tied
//!      is equally specific; it is treated like `ErrorOnConflict` (a tie with different
//!      targets is a conflict, never an arbitrary pick).
//!
//! A rule that loses step 1 or 2 is not part of a conflict: `ErrorOnConflict` only ever
//! concerns rules that are equal in both priority and specificity.
//!
//! # Executions
//!
//! `Execution.spec.nodeBindings[nodeId]` names the Binding for that one node and **replaces**
//! `spec.bindingRef` for it ([`binding_ref_for`]); if the override Binding has no rule for the
//! node, the node is unbound — it does not fall back to `bindingRef`, so an override that
//! misses its node is visible instead of silently ignored.
//!
//! # Cost
//!
//! [`BindingIndex`] buckets the rules by selector (a hash map per shape; label rules by their
//! first label). Building it is O(rules); [`BindingIndex::scope`] does the label matching once
//! per plan; [`PlanScope::resolve`] is then a handful of hash lookups per node, independent of
//! the number of rules (except for rules tied on the winning level, which must all be looked
//! at). [`explain`] is the linear, rule-by-rule version, for humans.

use super::UnboundCapability;
use super::{Binding, BindingRule, BindingSelector, BindingStrategy, BindingTarget};
use crate::common::NodeId;
use crate::execution::ExecutionSpec;
use crate::meta::{Labels, ObjectReference};
use crate::plan::{Node, Plan};
use std::collections::HashMap;
use std::fmt;

/// A name qualified by its namespace; what a reference resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QualifiedName<'a> {
    /// Namespace (never empty: omitted namespaces are defaulted before this is built).
    pub namespace: &'a str,
    /// Name.
    pub name: &'a str,
}

impl<'a> QualifiedName<'a> {
    /// A qualified name.
    pub fn new(namespace: &'a str, name: &'a str) -> Self {
        Self { namespace, name }
    }

    /// What `reference` names when written by a resource in `referrer_namespace`.
    pub fn of(reference: &'a ObjectReference, referrer_namespace: &'a str) -> Self {
        Self {
            namespace: reference
                .namespace
                .as_ref()
                .map_or(referrer_namespace, |n| n.as_str()),
            name: reference.name.as_str(),
        }
    }
}

impl fmt::Display for QualifiedName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The plan whose node is being bound, as the resolver sees it.
#[derive(Debug, Clone, Copy)]
pub struct PlanSubject<'a> {
    /// The plan's namespace and name.
    pub plan: QualifiedName<'a>,
    /// The plan's `metadata.labels` (what `{matchLabels}` rules look at).
    pub labels: &'a Labels,
}

impl<'a> PlanSubject<'a> {
    /// The subject for a Plan resource.
    pub fn of(plan: &'a Plan) -> Self {
        Self {
            plan: QualifiedName::new(plan.metadata.namespace_or_default(), &plan.metadata.name),
            labels: &plan.metadata.labels,
        }
    }
}

/// The node being bound: its id and the capabilities it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSubject<'a> {
    /// The node id.
    pub id: &'a str,
    /// The capabilities the node needs, namespaces defaulted to the plan's, without
    /// duplicates, in the order written.
    pub capabilities: Vec<QualifiedName<'a>>,
}

impl<'a> NodeSubject<'a> {
    /// A subject from an id and the capabilities (duplicates are dropped).
    pub fn new(id: &'a str, capabilities: impl IntoIterator<Item = QualifiedName<'a>>) -> Self {
        let mut unique: Vec<QualifiedName<'a>> = Vec::new();
        for c in capabilities {
            if !unique.contains(&c) {
                unique.push(c);
            }
        }
        Self {
            id,
            capabilities: unique,
        }
    }

    /// The subject for a node of a plan in `plan_namespace` (only Tasks have capabilities).
    pub fn of(node: &'a Node, plan_namespace: &'a str) -> Self {
        let caps: &'a [ObjectReference] = match node {
            Node::Task(task) => &task.capability_refs,
            _ => &[],
        };
        Self::new(
            node.id().as_str(),
            caps.iter().map(|r| QualifiedName::of(r, plan_namespace)),
        )
    }
}

/// Why a node has no provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnboundReason {
    /// No rule of the Binding matches the node.
    NoMatchingRule,
}

impl UnboundReason {
    /// The machine-readable reason, as written in `status.unboundCapabilities[].reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            UnboundReason::NoMatchingRule => "NoMatchingRule",
        }
    }
}

/// The outcome of resolving one node against one Binding.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution<'b> {
    /// Rule `rule` (index into `spec.rules`) assigns `target`.
    Bound {
        /// Index of the winning rule in `spec.rules`.
        rule: usize,
        /// The winning rule's target.
        target: &'b BindingTarget,
    },
    /// Nothing assigns a provider.
    Unbound {
        /// Why.
        reason: UnboundReason,
    },
    /// Several rules tie on priority and specificity with different targets, and the strategy
    /// (`ErrorOnConflict` or `MostSpecific`) does not pick one. Ascending rule indices.
    Conflict {
        /// Indices of every tied rule in `spec.rules` (at least two targets differ).
        rules: Vec<usize>,
    },
}

impl<'b> Resolution<'b> {
    /// The target, if the node is bound.
    pub fn target(&self) -> Option<&'b BindingTarget> {
        match self {
            Resolution::Bound { target, .. } => Some(target),
            _ => None,
        }
    }

    /// `true` if a provider was chosen.
    pub fn is_bound(&self) -> bool {
        matches!(self, Resolution::Bound { .. })
    }

    /// The status reason of an unbound or conflicting node (`NoMatchingRule`,
    /// `ConflictingRules`); `None` when bound.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Resolution::Bound { .. } => None,
            Resolution::Unbound { reason } => Some(reason.as_str()),
            Resolution::Conflict { .. } => Some("ConflictingRules"),
        }
    }
}

impl BindingSelector {
    /// The shape as written, e.g. `{planRef, nodeId}`.
    pub fn shape(&self) -> &'static str {
        match self {
            BindingSelector::PlanNode(_) => "{planRef, nodeId}",
            BindingSelector::PlanCapability(_) => "{planRef, capabilityRef}",
            BindingSelector::Capability(_) => "{capabilityRef}",
            BindingSelector::Plan(_) => "{planRef}",
            BindingSelector::Labels(_) => "{matchLabels}",
        }
    }

    /// What the selector selects, with references resolved against the Binding's namespace:
    /// two selectors with equal keys match exactly the same nodes.
    pub fn key<'a>(&'a self, binding_namespace: &'a str) -> SelectorKey<'a> {
        let q = |r: &'a ObjectReference| QualifiedName::of(r, binding_namespace);
        match self {
            BindingSelector::PlanNode(s) => SelectorKey::PlanNode(q(&s.plan_ref), &s.node_id),
            BindingSelector::PlanCapability(s) => {
                SelectorKey::PlanCapability(q(&s.plan_ref), q(&s.capability_ref))
            }
            BindingSelector::Capability(s) => SelectorKey::Capability(q(&s.capability_ref)),
            BindingSelector::Plan(s) => SelectorKey::Plan(q(&s.plan_ref)),
            BindingSelector::Labels(s) => SelectorKey::Labels(&s.match_labels),
        }
    }

    /// Why the selector (of a Binding in `binding_namespace`) does not match `node` of
    /// `plan`; `None` if it matches.
    pub fn mismatch<'s>(
        &'s self,
        binding_namespace: &'s str,
        plan: &PlanSubject<'_>,
        node: &NodeSubject<'_>,
    ) -> Option<Mismatch<'s>> {
        let key = self.key(binding_namespace);
        let other_plan = |wanted: QualifiedName<'s>| {
            (wanted != plan.plan).then_some(Mismatch::OtherPlan(wanted))
        };
        let capability = |wanted: QualifiedName<'s>| {
            (!node.capabilities.contains(&wanted)).then_some(Mismatch::CapabilityNotNeeded(wanted))
        };
        match key {
            SelectorKey::PlanNode(p, id) => {
                other_plan(p).or_else(|| (id != node.id).then_some(Mismatch::OtherNode(id)))
            }
            SelectorKey::PlanCapability(p, c) => other_plan(p).or_else(|| capability(c)),
            SelectorKey::Capability(c) => capability(c),
            SelectorKey::Plan(p) => other_plan(p),
            SelectorKey::Labels(wanted) => wanted
                .iter()
                .find(|(k, v)| plan.labels.get(*k) != Some(*v))
                .map(|(k, v)| Mismatch::Label(k.as_str(), v.as_str())),
        }
    }
}

/// A selector reduced to what it selects (see [`BindingSelector::key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SelectorKey<'a> {
    /// `{planRef, nodeId}`.
    PlanNode(QualifiedName<'a>, &'a str),
    /// `{planRef, capabilityRef}`.
    PlanCapability(QualifiedName<'a>, QualifiedName<'a>),
    /// `{capabilityRef}`.
    Capability(QualifiedName<'a>),
    /// `{planRef}`.
    Plan(QualifiedName<'a>),
    /// `{matchLabels}`.
    Labels(&'a Labels),
}

/// Why a rule does not match a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch<'b> {
    /// The rule names another plan.
    OtherPlan(QualifiedName<'b>),
    /// The rule names another node of the plan.
    OtherNode(&'b str),
    /// The node does not need the capability the rule names.
    CapabilityNotNeeded(QualifiedName<'b>),
    /// The plan lacks this label (key, value) or has another value.
    Label(&'b str, &'b str),
}

impl fmt::Display for Mismatch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::OtherPlan(p) => write!(f, "selects Plan `{p}`"),
            Mismatch::OtherNode(id) => write!(f, "selects node `{id}`"),
            Mismatch::CapabilityNotNeeded(c) => {
                write!(f, "selects capability `{c}`, which the node does not need")
            }
            Mismatch::Label(k, v) => write!(f, "needs plan label `{k}={v}`"),
        }
    }
}

/// The rules of one bucket (one selector key) that can ever win: those with the bucket's
/// highest priority, in ascending rule order. A lower-priority rule with the same key matches
/// the same nodes and always loses to them.
#[derive(Debug, Clone, Default)]
struct Group {
    priority: u32,
    rules: Vec<usize>,
}

impl Group {
    fn add(&mut self, rule: usize, priority: u32) {
        if self.rules.is_empty() || priority > self.priority {
            self.priority = priority;
            self.rules.clear();
            self.rules.push(rule);
        } else if priority == self.priority {
            self.rules.push(rule);
        }
    }
}

/// Groups by capability: keyed by name (one string to hash), then namespace (almost always
/// a single entry).
type CapabilityGroups<'b> = HashMap<&'b str, Vec<(&'b str, Group)>>;

fn capability_group<'m>(map: &'m CapabilityGroups<'_>, c: &QualifiedName<'_>) -> Option<&'m Group> {
    map.get(c.name)?
        .iter()
        .find(|(ns, _)| *ns == c.namespace)
        .map(|(_, g)| g)
}

fn capability_entry<'m, 'b>(
    map: &'m mut CapabilityGroups<'b>,
    c: QualifiedName<'b>,
) -> &'m mut Group {
    let list = map.entry(c.name).or_default();
    let at = match list.iter().position(|(ns, _)| *ns == c.namespace) {
        Some(at) => at,
        None => {
            list.push((c.namespace, Group::default()));
            list.len() - 1
        }
    };
    &mut list[at].1
}

/// The rules that name one plan.
#[derive(Debug, Clone, Default)]
struct PlanRules<'b> {
    /// `{planRef}`.
    plan: Option<Group>,
    /// `{planRef, nodeId}` by node id.
    nodes: HashMap<&'b str, Group>,
    /// `{planRef, capabilityRef}` by capability.
    capabilities: CapabilityGroups<'b>,
}

/// A Binding's rules, indexed by selector for resolving many nodes quickly.
#[derive(Debug, Clone)]
pub struct BindingIndex<'b> {
    namespace: &'b str,
    strategy: BindingStrategy,
    /// Rule by index in `spec.rules`; `None` for rules left out by the caller.
    rules: Vec<Option<&'b BindingRule>>,
    /// Rules that name a plan, by plan.
    plans: HashMap<QualifiedName<'b>, PlanRules<'b>>,
    /// `{capabilityRef}` rules.
    capabilities: CapabilityGroups<'b>,
    /// `{matchLabels}` rules by their first (smallest) label pair.
    labels: HashMap<(&'b str, &'b str), Vec<usize>>,
    /// `{matchLabels: {}}` rules: they match every plan.
    match_all: Vec<usize>,
}

impl<'b> BindingIndex<'b> {
    /// Indexes every rule of `binding`.
    pub fn new(binding: &'b Binding) -> Self {
        Self::from_rules(
            binding.metadata.namespace_or_default(),
            binding.spec.strategy,
            binding.spec.rules.iter().enumerate(),
        )
    }

    /// Indexes some rules of a Binding in `namespace`, each with its index in `spec.rules`
    /// (a validator leaves out rules that do not parse; the indices stay those of the file).
    pub fn from_rules(
        namespace: &'b str,
        strategy: BindingStrategy,
        rules: impl IntoIterator<Item = (usize, &'b BindingRule)>,
    ) -> Self {
        let mut index = BindingIndex {
            namespace,
            strategy,
            rules: Vec::new(),
            plans: HashMap::new(),
            capabilities: HashMap::new(),
            labels: HashMap::new(),
            match_all: Vec::new(),
        };
        let mut sorted: Vec<(usize, &'b BindingRule)> = rules.into_iter().collect();
        sorted.sort_by_key(|(i, _)| *i);
        sorted.dedup_by_key(|(i, _)| *i);
        if let Some(&(last, _)) = sorted.last() {
            index.rules = vec![None; last + 1];
        }
        for (i, rule) in sorted {
            index.rules[i] = Some(rule);
            let p = rule.priority;
            match rule.selector.key(namespace) {
                SelectorKey::PlanNode(plan, node) => index
                    .plans
                    .entry(plan)
                    .or_default()
                    .nodes
                    .entry(node)
                    .or_default()
                    .add(i, p),
                SelectorKey::PlanCapability(plan, cap) => {
                    let rules = index.plans.entry(plan).or_default();
                    capability_entry(&mut rules.capabilities, cap).add(i, p)
                }
                SelectorKey::Capability(cap) => {
                    capability_entry(&mut index.capabilities, cap).add(i, p)
                }
                SelectorKey::Plan(plan) => index
                    .plans
                    .entry(plan)
                    .or_default()
                    .plan
                    .get_or_insert_with(Group::default)
                    .add(i, p),
                SelectorKey::Labels(labels) => match labels.iter().next() {
                    Some((k, v)) => index
                        .labels
                        .entry((k.as_str(), v.as_str()))
                        .or_default()
                        .push(i),
                    None => index.match_all.push(i),
                },
            }
        }
        index
    }

    /// The Binding's namespace.
    pub fn namespace(&self) -> &'b str {
        self.namespace
    }

    /// The Binding's strategy.
    pub fn strategy(&self) -> BindingStrategy {
        self.strategy
    }

    /// Rule `i`, if it was indexed.
    pub fn rule(&self, i: usize) -> Option<&'b BindingRule> {
        self.rules.get(i).copied().flatten()
    }

    /// Prepares resolving the nodes of one plan (matches the `{matchLabels}` rules once).
    pub fn scope<'s>(&'s self, plan: &PlanSubject<'s>) -> PlanScope<'s, 'b> {
        let mut labels = Group::default();
        let candidates = plan
            .labels
            .iter()
            .filter_map(|(k, v)| self.labels.get(&(k.as_str(), v.as_str())))
            .flatten()
            .chain(&self.match_all);
        for &i in candidates {
            let Some(rule) = self.rule(i) else { continue };
            if let BindingSelector::Labels(s) = &rule.selector {
                if s.match_labels
                    .iter()
                    .all(|(k, v)| plan.labels.get(k) == Some(v))
                {
                    labels.add(i, rule.priority);
                }
            }
        }
        labels.rules.sort_unstable();
        PlanScope {
            index: self,
            plan: self.plans.get(&plan.plan),
            labels: (!labels.rules.is_empty()).then_some(labels),
        }
    }

    /// Settles a tie among `tied` (ascending, non-empty) by the strategy.
    fn decide(&self, tied: &[usize]) -> Resolution<'b> {
        let rules = &self.rules;
        decide(self.strategy, tied, |i| {
            &rules[i].expect("tied rules are indexed").target
        })
    }
}

/// Settles a tie among `tied` (ascending, non-empty) by `strategy`.
fn decide<'b>(
    strategy: BindingStrategy,
    tied: &[usize],
    target: impl Fn(usize) -> &'b BindingTarget,
) -> Resolution<'b> {
    let first = tied[0];
    let uniform = || tied.iter().all(|&i| target(i) == target(first));
    match strategy {
        BindingStrategy::FirstMatch => {}
        BindingStrategy::ErrorOnConflict | BindingStrategy::MostSpecific if uniform() => {}
        BindingStrategy::ErrorOnConflict | BindingStrategy::MostSpecific => {
            return Resolution::Conflict {
                rules: tied.to_vec(),
            }
        }
    }
    Resolution::Bound {
        rule: first,
        target: target(first),
    }
}

/// A [`BindingIndex`] applied to one plan; resolves its nodes.
#[derive(Debug, Clone)]
pub struct PlanScope<'s, 'b> {
    index: &'s BindingIndex<'b>,
    plan: Option<&'s PlanRules<'b>>,
    labels: Option<Group>,
}

impl<'b> PlanScope<'_, 'b> {
    /// Resolves one node of the plan.
    pub fn resolve(&self, node: &NodeSubject<'_>) -> Resolution<'b> {
        // (specificity, group) of every bucket that matches the node.
        let mut groups: Vec<(u8, &Group)> = Vec::new();
        if let Some(plan) = self.plan {
            if !plan.nodes.is_empty() {
                groups.extend(plan.nodes.get(node.id).map(|g| (1, g)));
            }
            if !plan.capabilities.is_empty() {
                for c in &node.capabilities {
                    groups.extend(capability_group(&plan.capabilities, c).map(|g| (2, g)));
                }
            }
        }
        if !self.index.capabilities.is_empty() {
            for c in &node.capabilities {
                groups.extend(capability_group(&self.index.capabilities, c).map(|g| (3, g)));
            }
        }
        groups.extend(self.plan.and_then(|p| p.plan.as_ref()).map(|g| (4, g)));
        groups.extend(self.labels.as_ref().map(|g| (5, g)));
        // Highest priority first, then the lowest (most specific) rank.
        let Some((priority, specificity)) = groups
            .iter()
            .map(|(s, g)| (g.priority, std::cmp::Reverse(*s)))
            .max()
            .map(|(p, s)| (p, s.0))
        else {
            return Resolution::Unbound {
                reason: UnboundReason::NoMatchingRule,
            };
        };
        let mut best = groups
            .iter()
            .filter(|(s, g)| *s == specificity && g.priority == priority)
            .map(|(_, g)| g);
        match (best.next(), best.next()) {
            (Some(only), None) => self.index.decide(&only.rules),
            (first, second) => {
                // Several capabilities of the node, each with its own tied rules.
                let mut tied: Vec<usize> = first
                    .into_iter()
                    .chain(second)
                    .chain(best)
                    .flat_map(|g| g.rules.iter().copied())
                    .collect();
                tied.sort_unstable();
                tied.dedup();
                self.index.decide(&tied)
            }
        }
    }
}

/// Resolves `node` of `plan` against `binding`. Builds a [`BindingIndex`] each call (O(rules));
/// to resolve many nodes, build the index once and use [`BindingIndex::scope`].
pub fn resolve<'b>(binding: &'b Binding, plan: &Plan, node: &Node) -> Resolution<'b> {
    let index = BindingIndex::new(binding);
    let subject = PlanSubject::of(plan);
    let scope = index.scope(&subject);
    scope.resolve(&NodeSubject::of(node, subject.plan.namespace))
}

/// The Binding that decides `node_id` in an Execution: its `spec.nodeBindings` entry if there
/// is one (it replaces `bindingRef` for that node, with no fallback), else `spec.bindingRef`.
pub fn binding_ref_for<'e>(spec: &'e ExecutionSpec, node_id: &str) -> Option<&'e ObjectReference> {
    spec.node_bindings
        .get(node_id)
        .or(spec.binding_ref.as_ref())
}

/// The resolution of one Task node of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeResolution<'p, 'b> {
    /// The node.
    pub node_id: &'p NodeId,
    /// The capabilities it needs.
    pub capabilities: &'p [ObjectReference],
    /// The outcome.
    pub resolution: Resolution<'b>,
}

/// Every Task node of a plan resolved against one Binding (the Binding controller's view).
#[derive(Debug, Clone, PartialEq)]
pub struct PlanResolution<'p, 'b> {
    /// One entry per Task node, in plan order. Gate, Group and External nodes are not
    /// performed by providers and are not listed.
    pub nodes: Vec<NodeResolution<'p, 'b>>,
}

impl PlanResolution<'_, '_> {
    /// Capability uses considered: one per (Task node, capability it needs).
    pub fn total_count(&self) -> usize {
        self.nodes.iter().map(|n| n.capabilities.len()).sum()
    }

    /// Capability uses whose node is bound.
    pub fn bound_count(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.resolution.is_bound())
            .map(|n| n.capabilities.len())
            .sum()
    }

    /// `status.unboundCapabilities`: one entry per capability use whose node is unbound or in
    /// conflict. (A Task that needs no capability cannot be listed there; see `nodes`.)
    pub fn unbound_capabilities(&self) -> Vec<UnboundCapability> {
        let mut out = Vec::new();
        for n in &self.nodes {
            let Some(reason) = n.resolution.reason() else {
                continue;
            };
            let message = match &n.resolution {
                Resolution::Conflict { rules } => format!(
                    "rules {} tie with different targets",
                    rules
                        .iter()
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                _ => "no rule matches the node".to_string(),
            };
            for c in n.capabilities {
                out.push(UnboundCapability {
                    capability_ref: c.clone(),
                    node_id: Some(n.node_id.clone()),
                    reason: Some(reason.to_string()),
                    message: Some(message.clone()),
                });
            }
        }
        out
    }
}

/// Resolves every Task node of `plan` against `binding`.
pub fn resolve_plan<'p, 'b>(binding: &'b Binding, plan: &'p Plan) -> PlanResolution<'p, 'b> {
    let index = BindingIndex::new(binding);
    let subject = PlanSubject::of(plan);
    let scope = index.scope(&subject);
    let nodes = plan
        .spec
        .nodes()
        .iter()
        .filter_map(|node| match node {
            Node::Task(task) => Some(NodeResolution {
                node_id: &task.id,
                capabilities: &task.capability_refs,
                resolution: scope.resolve(&NodeSubject::of(node, subject.plan.namespace)),
            }),
            _ => None,
        })
        .collect();
    PlanResolution { nodes }
}

/// How one rule fared for one node (see [`explain`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict<'b> {
    /// The rule does not match the node.
    NoMatch(Mismatch<'b>),
    /// The rule chose the provider.
    Won,
    /// A matching rule with a lower priority than the winner's.
    LostOnPriority {
        /// The winning rule (the first rule of a conflict).
        to: usize,
    },
    /// A matching rule with the winner's priority but a less specific selector.
    LostOnSpecificity {
        /// The winning rule (the first rule of a conflict).
        to: usize,
    },
    /// Tied with the winner, which comes earlier (`FirstMatch`).
    LostOnOrder {
        /// The winning rule.
        to: usize,
    },
    /// Tied with the winner and assigns the same target, so the tie is no conflict.
    SameTarget {
        /// The winning rule (the earliest of the tie).
        winner: usize,
    },
    /// Tied with other rules that assign different targets: the node is in conflict.
    InConflict,
}

/// One rule's part in a resolution.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleVerdict<'b> {
    /// Index in `spec.rules`.
    pub rule: usize,
    /// The rule's priority.
    pub priority: u32,
    /// The rule's selector (its shape and specificity).
    pub selector: &'b BindingSelector,
    /// The rule's target.
    pub target: &'b BindingTarget,
    /// How it fared.
    pub verdict: Verdict<'b>,
}

impl fmt::Display for RuleVerdict<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rule {} ({}, priority {}, specificity {}) → `{}`: ",
            self.rule,
            self.selector.shape(),
            self.priority,
            self.selector.specificity(),
            self.target.provider
        )?;
        match self.verdict {
            Verdict::NoMatch(why) => write!(f, "does not match: {why}"),
            Verdict::Won => f.write_str("wins"),
            Verdict::LostOnPriority { to } => write!(f, "loses: rule {to} has a higher priority"),
            Verdict::LostOnSpecificity { to } => {
                write!(f, "loses: rule {to} has a more specific selector")
            }
            Verdict::LostOnOrder { to } => {
                write!(
                    f,
                    "loses: tied with rule {to}, which comes first (FirstMatch)"
                )
            }
            Verdict::SameTarget { winner } => {
                write!(
                    f,
                    "tied with rule {winner} with the same target (no conflict)"
                )
            }
            Verdict::InConflict => f.write_str("tied with a different target: conflict"),
        }
    }
}

/// Every rule of a Binding considered for one node, and the outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation<'b> {
    /// The Binding's strategy.
    pub strategy: BindingStrategy,
    /// The outcome (always equal to what [`resolve`] returns).
    pub resolution: Resolution<'b>,
    /// Every rule, in `spec.rules` order.
    pub rules: Vec<RuleVerdict<'b>>,
}

impl fmt::Display for Explanation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.resolution {
            Resolution::Bound { rule, target } => {
                writeln!(f, "bound to `{}` by rule {rule}", target.provider)?
            }
            Resolution::Unbound { reason } => writeln!(f, "unbound ({})", reason.as_str())?,
            Resolution::Conflict { rules } => writeln!(
                f,
                "conflict under {:?}: rules {}",
                self.strategy,
                rules
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )?,
        }
        for r in &self.rules {
            writeln!(f, "  {r}")?;
        }
        Ok(())
    }
}

/// Resolves `node` of `plan` rule by rule and says, for every rule of `binding`, why it won,
/// lost or did not match (for `planspec describe`). O(rules).
pub fn explain<'b>(binding: &'b Binding, plan: &Plan, node: &Node) -> Explanation<'b> {
    let subject = PlanSubject::of(plan);
    explain_subject(
        binding,
        &subject,
        &NodeSubject::of(node, subject.plan.namespace),
    )
}

/// [`explain`] for a plan and node given as subjects.
pub fn explain_subject<'b>(
    binding: &'b Binding,
    plan: &PlanSubject<'_>,
    node: &NodeSubject<'_>,
) -> Explanation<'b> {
    let namespace = binding.metadata.namespace_or_default();
    let rules = &binding.spec.rules;
    let mismatches: Vec<Option<Mismatch<'b>>> = rules
        .iter()
        .map(|r| r.selector.mismatch(namespace, plan, node))
        .collect();
    let rank = |i: usize| {
        (
            rules[i].priority,
            std::cmp::Reverse(rules[i].selector.specificity()),
        )
    };
    let best = (0..rules.len())
        .filter(|&i| mismatches[i].is_none())
        .map(rank)
        .max();
    let resolution = match best {
        None => Resolution::Unbound {
            reason: UnboundReason::NoMatchingRule,
        },
        Some(best) => decide(
            binding.spec.strategy,
            &(0..rules.len())
                .filter(|&i| mismatches[i].is_none() && rank(i) == best)
                .collect::<Vec<_>>(),
            |i| &rules[i].target,
        ),
    };
    let leader = match &resolution {
        Resolution::Bound { rule, .. } => Some(*rule),
        Resolution::Conflict { rules } => rules.first().copied(),
        Resolution::Unbound { .. } => None,
    };
    let verdicts = rules
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            let verdict = match mismatches[i] {
                Some(why) => Verdict::NoMatch(why),
                None => {
                    // A matching rule implies both a best rank and a leader.
                    let to = leader.unwrap_or(i);
                    let best = best.unwrap_or(rank(i));
                    if rank(i) != best {
                        if rule.priority < best.0 {
                            Verdict::LostOnPriority { to }
                        } else {
                            Verdict::LostOnSpecificity { to }
                        }
                    } else if let Resolution::Conflict { .. } = resolution {
                        Verdict::InConflict
                    } else if i == to {
                        Verdict::Won
                    } else if binding.spec.strategy == BindingStrategy::FirstMatch {
                        Verdict::LostOnOrder { to }
                    } else {
                        Verdict::SameTarget { winner: to }
                    }
                }
            };
            RuleVerdict {
                rule: i,
                priority: rule.priority,
                selector: &rule.selector,
                target: &rule.target,
                verdict,
            }
        })
        .collect();
    Explanation {
        strategy: binding.spec.strategy,
        resolution,
        rules: verdicts,
    }
}

#[cfg(test)]
mod tests;
