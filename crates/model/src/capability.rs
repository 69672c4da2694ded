//! `Capability`: something a provider can do, with typed inputs and outputs.

use crate::common::{Category, DnsLabel, ParameterName};
use crate::meta::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

crate::resource::resource! {
    /// A Capability: a named skill (code generation, test execution, deployment…) that Task
    /// nodes require and Bindings map to providers. `metadata.name` is its stable identity.
    Capability, "Capability", CapabilitySpec, CapabilityStatus
}

/// Desired state of a Capability.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct CapabilitySpec {
    /// What the Capability does (1–4096 characters).
    #[schemars(length(min = 1, max = 4096))]
    pub description: String,
    /// Human-friendly name (at most 128 characters); may change, unlike `metadata.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub display_name: Option<String>,
    /// Kebab-case category used for grouping (e.g. `testing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// Parameters a Task passes in `inputs` (at most 64).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), extend("default" = []))]
    pub inputs: Vec<ParameterDefinition>,
    /// Values the Capability produces (at most 64).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), extend("default" = []))]
    pub outputs: Vec<ParameterDefinition>,
    /// Other Capabilities this one needs (at most 64); must not form a cycle.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), extend("default" = []))]
    pub requirements: Vec<CapabilityRequirement>,
    /// The risk of using the Capability (PlanSpec extension): `low`, `medium`, `high` (never
    /// runs without a person's approval) or `blocked` (never runs). Policies see it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<crate::policy::RiskLevel>,
}

/// Type of a parameter: `string`, `number`, `boolean`, `object` or `array`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum ParameterType {
    String,
    Number,
    Boolean,
    Object,
    Array,
}

/// Element type of an `array` parameter: `string`, `number`, `boolean` or `object`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum ParameterItemType {
    String,
    Number,
    Boolean,
    Object,
}

/// Format of a `string` parameter: `uri`, `email`, `date-time`, `date`, `time`, `uuid`,
/// `hostname`, `ipv4`, `ipv6` or `regex`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum ParameterFormat {
    Uri,
    Email,
    DateTime,
    Date,
    Time,
    Uuid,
    Hostname,
    Ipv4,
    Ipv6,
    Regex,
}

/// One input or output of a Capability.
///
/// `format` is only allowed with `type: string`, `itemType` only with `type: array`,
/// `objectProperties` only with `type: object`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(
    deny_unknown_fields,
    extend("allOf" = [
        {"if": {"required": ["format"]}, "then": {"properties": {"type": {"const": "string"}}}, "$comment": "planspec-rule PS0416: checked in code"},
        {"if": {"required": ["itemType"]}, "then": {"properties": {"type": {"const": "array"}}}, "$comment": "planspec-rule PS0416: checked in code"},
        {"if": {"required": ["objectProperties"]}, "then": {"properties": {"type": {"const": "object"}}}, "$comment": "planspec-rule PS0416: checked in code"}
    ])
)]
pub struct ParameterDefinition {
    /// Name of the parameter, unique within `inputs` or `outputs`.
    pub name: ParameterName,
    /// JSON type of the value.
    #[serde(rename = "type")]
    pub param_type: ParameterType,
    /// What the parameter means (at most 1024 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,
    /// `true` if a Task must supply the parameter (default `false`).
    #[serde(default)]
    pub required: bool,
    /// Value used when the parameter is omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Format of a `string` value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ParameterFormat>,
    /// The allowed values (scalars or `null`), at least one.
    #[serde(rename = "enum", default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1),
        extend("items" = {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]})
    )]
    pub enum_values: Option<Vec<Value>>,
    /// Element type of an `array` value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_type: Option<ParameterItemType>,
    /// Properties of an `object` value, by name (at most 32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        schema_with = "crate::common::map_schema::<ParameterName, ParameterDefinition>",
        extend("maxProperties" = 32)
    )]
    pub object_properties: Option<BTreeMap<ParameterName, ParameterDefinition>>,
}

/// Another Capability this one needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct CapabilityRequirement {
    /// Name of the required Capability.
    pub name: DnsLabel,
    /// Namespace of the required Capability; defaults to this Capability's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<DnsLabel>,
    /// `true` if the requirement never blocks (default `false`).
    #[serde(default)]
    pub optional: bool,
}

/// Phase of a Capability: `Available`, `Unavailable` or `Deprecated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum CapabilityPhase {
    Available,
    Unavailable,
    Deprecated,
}

/// Observed state of a Capability. `Deprecated` requires `replacement` or `deprecationMessage`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(
    deny_unknown_fields,
    extend("allOf" = [{
        "if": {"properties": {"phase": {"const": "Deprecated"}}, "required": ["phase"]},
        "then": {"anyOf": [{"required": ["replacement"]}, {"required": ["deprecationMessage"]}]},
        "$comment": "planspec-rule PS0411: checked in code"
    }])
)]
pub struct CapabilityStatus {
    /// Current phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<CapabilityPhase>,
    /// Detailed observations (at most 32).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<u64>,
    /// The Capability to use instead of a deprecated one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<CapabilityReplacement>,
    /// Why the Capability is deprecated (at most 1024 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub deprecation_message: Option<String>,
}

/// The Capability that replaces a deprecated one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct CapabilityReplacement {
    /// Name of the replacement Capability.
    pub name: DnsLabel,
    /// Namespace of the replacement; defaults to this Capability's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<DnsLabel>,
}
