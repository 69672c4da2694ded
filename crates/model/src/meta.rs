//! Structures shared by every kind: metadata, references, conditions and label selectors.

use crate::common::{DnsLabel, LabelKey, LabelValue, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The namespace used when `metadata.namespace` is omitted.
pub const DEFAULT_NAMESPACE: &str = "default";

/// A label map: qualified-name keys, short values.
pub type Labels = BTreeMap<LabelKey, LabelValue>;

/// Standard object metadata.
///
/// Clients write `name`, `namespace`, `labels`, `annotations` and `ownerReferences`; the server
/// owns `uid`, `resourceVersion`, `generation` and the timestamps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ObjectMeta {
    /// Name of the resource, unique per kind within its namespace. A DNS label.
    pub name: DnsLabel,
    /// Namespace of the resource. Optional: omitted means `default` (the server may override it
    /// with the namespace of the request path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "default"))]
    pub namespace: Option<DnsLabel>,
    /// Unique id assigned by the server on create (opaque, 1–128 characters). Do not set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub uid: Option<String>,
    /// Opaque version of the stored object, used for optimistic concurrency. Set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// Sequence number of the desired state; bumped by the server only when `spec` changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// When the server created the resource (RFC 3339). Set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<Timestamp>,
    /// When deletion was requested (RFC 3339). Set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<Timestamp>,
    /// Seconds allowed for graceful deletion. Set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_grace_period_seconds: Option<u64>,
    /// Qualified names of controllers that must finish before the resource is deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        inner(length(min = 1, max = 253), regex(pattern = crate::common::LABEL_KEY_PATTERN)),
        extend("uniqueItems" = true)
    )]
    pub finalizers: Vec<String>,
    /// Identifying key/value pairs used by selectors (e.g. `planspec.io/goal: ship-login`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "crate::common::labels_schema")]
    pub labels: Labels,
    /// Non-identifying key/value metadata; values up to 65,536 characters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "crate::common::annotations_schema")]
    pub annotations: BTreeMap<LabelKey, String>,
    /// Resources that own this one (e.g. the Goal that owns an Execution).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_references: Vec<OwnerReference>,
}

impl ObjectMeta {
    /// Metadata with just a name.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: DnsLabel::new(name),
            ..Self::default()
        }
    }

    /// The namespace, or `default` when it is omitted.
    pub fn namespace_or_default(&self) -> &str {
        self.namespace
            .as_ref()
            .map_or(DEFAULT_NAMESPACE, DnsLabel::as_str)
    }
}

/// A reference to another resource by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ObjectReference {
    /// Name of the referenced resource.
    pub name: DnsLabel,
    /// Namespace of the referenced resource; defaults to the namespace of the referrer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<DnsLabel>,
    /// UID of the referenced resource, for a strong reference. Servers may verify it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub uid: Option<String>,
    /// API version of the referenced resource (e.g. `planspec.io/v1alpha1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::common::API_VERSION_PATTERN))]
    pub api_version: Option<String>,
    /// Kind of the referenced resource (e.g. `Plan`); usually implied by the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::common::KIND_PATTERN))]
    pub kind: Option<String>,
}

impl ObjectReference {
    /// A reference by name only.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: DnsLabel::new(name),
            ..Self::default()
        }
    }
}

/// A reference to an owning resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct OwnerReference {
    /// API version of the owner.
    #[schemars(regex(pattern = crate::common::API_VERSION_PATTERN))]
    pub api_version: String,
    /// Kind of the owner (e.g. `Goal`).
    #[schemars(regex(pattern = crate::common::KIND_PATTERN))]
    pub kind: String,
    /// Name of the owner.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// UID of the owner (opaque).
    #[schemars(length(min = 1, max = 128))]
    pub uid: String,
    /// `true` if the owner is the managing controller.
    #[serde(default)]
    pub controller: bool,
    /// `true` if the owner cannot be deleted before this resource is.
    #[serde(default)]
    pub block_owner_deletion: bool,
}

/// Status of a condition: `True`, `False` or `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

/// One aspect of a resource's observed state (`Ready`, `Accepted`, `Valid`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Condition {
    /// Type of the condition, e.g. `Accepted`, `Valid`, `Available`, `Resolved`, `Progressing`,
    /// `Ready`.
    #[serde(rename = "type")]
    #[schemars(length(min = 1, max = 316))]
    pub condition_type: String,
    /// Whether the condition holds: `True`, `False` or `Unknown`.
    pub status: ConditionStatus,
    /// Machine-readable CamelCase reason for the last transition (e.g. `SchemaValid`).
    #[schemars(
        length(min = 1, max = 1024),
        regex(pattern = "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    )]
    pub reason: String,
    /// When the status last changed (RFC 3339).
    pub last_transition_time: Timestamp,
    /// Human-readable detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32768))]
    pub message: Option<String>,
    /// The `metadata.generation` the condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<u64>,
}

/// Operator of a label selector requirement: `In`, `NotIn`, `Exists` or `DoesNotExist`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum SelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// Selects resources by their labels. `matchLabels` and `matchExpressions` are ANDed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct LabelSelector {
    /// Labels that must all be present with exactly these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "crate::common::labels_schema")]
    pub match_labels: Labels,
    /// Set-based requirements that must all hold (at most 64).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One set-based label requirement. `In`/`NotIn` need a non-empty `values`;
/// `Exists`/`DoesNotExist` must not have `values`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(
    deny_unknown_fields,
    extend("allOf" = [{
        "if": {"properties": {"operator": {"enum": ["In", "NotIn"]}}, "required": ["operator"]},
        "then": {"required": ["values"], "properties": {"values": {"type": "array", "minItems": 1}}},
        "else": {"properties": {"values": false}},
        "$comment": "planspec-rule PS0413: checked in code"
    }])
)]
pub struct LabelSelectorRequirement {
    /// The label key the requirement applies to.
    pub key: LabelKey,
    /// How the label's value is compared with `values`.
    pub operator: SelectorOperator,
    /// Values for `In`/`NotIn`; must be absent for `Exists`/`DoesNotExist`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<LabelValue>,
}

impl LabelSelector {
    /// `true` if `labels` satisfy every requirement of the selector.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|req| {
                let value = labels.get(&req.key);
                match req.operator {
                    SelectorOperator::In => value.is_some_and(|v| req.values.contains(v)),
                    SelectorOperator::NotIn => value.is_none_or(|v| !req.values.contains(v)),
                    SelectorOperator::Exists => value.is_some(),
                    SelectorOperator::DoesNotExist => value.is_none(),
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (LabelKey::from(*k), LabelValue::from(*v)))
            .collect()
    }

    #[test]
    fn selector_matches() {
        let sel: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": {"planspec.io/goal": "g"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "stage"]},
                {"key": "skip", "operator": "DoesNotExist"}
            ]
        }))
        .unwrap();
        assert!(sel.matches(&labels(&[("planspec.io/goal", "g"), ("env", "prod")])));
        assert!(!sel.matches(&labels(&[("planspec.io/goal", "g"), ("env", "dev")])));
        assert!(!sel.matches(&labels(&[
            ("planspec.io/goal", "g"),
            ("env", "prod"),
            ("skip", "")
        ])));
        assert!(LabelSelector::default().matches(&Labels::new()));
    }

    #[test]
    fn namespace_defaults() {
        let meta = ObjectMeta::named("x");
        assert_eq!(meta.namespace_or_default(), "default");
    }
}
