//! `planspec-model` — the typed resource model of `planspec.io/v1alpha1`.
//!
//! * One module per kind ([`goal`], [`plan`], [`capability`], [`binding`], [`execution`],
//!   [`gate`]), each with `<Kind>`, `<Kind>Spec` and `<Kind>Status`;
//! * shared structures in [`meta`], [`context`] and the named string types in [`common`];
//! * [`kind`] — the API version and the kinds with their plural and short names;
//! * [`schema`] — the strict JSON Schemas generated from these types;
//! * [`graph`] — an index-based view of a Plan's graph (topological order, layers).
//!
//! The types describe the **strict, modern** form. Legacy forms are rewritten by the
//! normaliser in `planspec-validate` before documents reach these types. Deserialisation is
//! lenient (unknown fields are ignored); the generated schemas are strict.

#![warn(missing_docs)]

pub mod actor;
pub mod approval;
pub mod audit;
pub mod binding;
pub mod capability;
pub mod common;
pub mod context;
mod defaults;
pub mod execution;
pub mod gate;
pub mod goal;
pub mod graph;
pub mod kind;
pub mod meta;
pub mod plan;
pub mod policy;
pub mod provider;
pub mod rbac;
pub mod resource;
pub mod schema;
pub mod selector;

pub use binding::{Binding, BindingSpec, BindingStatus};
pub use capability::{Capability, CapabilitySpec, CapabilityStatus};
pub use common::{
    Category, Digest, DnsLabel, Duration, HashDigest, LabelKey, LabelValue, NodeId, OutputName,
    ParameterName, RegexPattern, Timestamp,
};
pub use context::ContextItem;
pub use execution::{Execution, ExecutionSpec, ExecutionStatus};
pub use gate::{Gate, GateSpec, GateStatus};
pub use goal::{Goal, GoalSpec, GoalStatus};
pub use graph::{EdgeOrigin, GraphEdge, GraphNode, PlanGraph};
pub use kind::{Kind, API_VERSION};
pub use meta::{Condition, LabelSelector, Labels, ObjectMeta, ObjectReference, OwnerReference};
pub use plan::{Edge, EdgeCondition, EdgeType, Node, NodeKind, Plan, PlanSpec, PlanStatus};
pub use policy::{Policy, PolicySpec, PolicyStatus, PolicyVerdict, RiskLevel};
pub use provider::{Provider, ProviderSpec, ProviderStatus, ProviderType};
pub use rbac::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
pub use resource::List;
