//! Server-side table output (`meta.k8s.io/v1` `Table`): what `kubectl get` prints.
//!
//! kubectl asks for it with `Accept: application/json;as=Table;v=v1;g=meta.k8s.io,…`; each
//! row has the cells of the columns below and, per `includeObject`, the object's metadata
//! (`PartialObjectMetadata`, the default), the whole object, or nothing. Columns with
//! `priority: 1` are shown only by `kubectl get -o wide`.
//!
//! | Kind | Columns (wide ones in italics) |
//! |---|---|
//! | Goal | Name, Phase, Active Plan, Priority, Age, *Timeout, Selector, Description* |
//! | Plan | Name, Phase, Nodes, Series, Version, Goal, Age, *Edges, Digest, Description* |
//! | Capability | Name, Phase, Category, Age, *Display Name, Inputs, Outputs, Requires* |
//! | Binding | Name, Phase, Rules, Bound, Age, *Strategy, Unbound* |
//! | Execution | Name, Phase, Plan, Nodes (done/total), Started, Age, *Goal, Duration, Reason, Parent* |
//! | Gate | Name, Type, Phase, Approvals (n/required), Age, *Target, Reviewers, Outcome* |
//! | Namespace | Name, Status, Age |
//!
//! Everything here is pure: the current time is an argument.

use crate::resource::{ListMeta, ResourceType};
use crate::status::Status;
use planspec_model::meta::LabelSelector;
use planspec_model::selector::Selector;
use planspec_model::Kind;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// `apiVersion` of `Table` and `PartialObjectMetadata`.
pub const META_API_VERSION: &str = "meta.k8s.io/v1";
/// What a cell shows when the object has no value for it.
pub const NONE: &str = "<none>";
/// Longest description shown in a cell, in characters.
const DESCRIPTION_WIDTH: usize = 60;

/// What each row carries besides its cells (the `includeObject` query parameter).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IncludeObject {
    /// No object.
    None,
    /// A `PartialObjectMetadata` with the object's metadata (the default; kubectl needs it to
    /// print namespaces with `-A`).
    #[default]
    Metadata,
    /// The whole object (kubectl asks for it with `--sort-by`).
    Object,
}

impl IncludeObject {
    /// Reads the `includeObject` query parameter (`None`, `Metadata`, `Object`; absent means
    /// `Metadata`).
    pub fn from_query(value: Option<&str>) -> Result<Self, Status> {
        match value {
            None | Some("") | Some("Metadata") => Ok(IncludeObject::Metadata),
            Some("None") => Ok(IncludeObject::None),
            Some("Object") => Ok(IncludeObject::Object),
            Some(other) => Err(Status::bad_request(format!(
                "invalid includeObject `{other}`: use `None`, `Metadata` or `Object`"
            ))),
        }
    }
}

/// How to build a [`Table`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableOptions {
    /// What each row carries besides its cells.
    pub include_object: IncludeObject,
    /// Leave out `columnDefinitions` (for watch events after the first, as Kubernetes does).
    pub no_headers: bool,
}

/// A column of a [`Table`] (`metav1.TableColumnDefinition`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableColumnDefinition {
    /// The header, e.g. `Name`.
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    #[serde(rename = "type")]
    pub column_type: String,
    /// A hint such as `name` (the Name column); usually empty.
    pub format: String,
    /// What the column shows.
    pub description: String,
    /// `0` for the default view, `1` for `-o wide` only.
    pub priority: i32,
}

/// A row of a [`Table`] (`metav1.TableRow`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableRow {
    /// One value per column.
    pub cells: Vec<Value>,
    /// The object (per [`IncludeObject`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<Value>,
}

/// A `meta.k8s.io/v1` `Table`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Table {
    /// Always `Table`.
    pub kind: String,
    /// Always `meta.k8s.io/v1`.
    pub api_version: String,
    /// The list's `resourceVersion` and `continue` token.
    #[serde(default)]
    pub metadata: ListMeta,
    /// The columns (empty with [`TableOptions::no_headers`]).
    #[serde(default)]
    pub column_definitions: Vec<TableColumnDefinition>,
    /// One row per object.
    #[serde(default)]
    pub rows: Vec<TableRow>,
}

/// A column: its definition and how to compute its cell from an object.
struct Column {
    name: &'static str,
    column_type: &'static str,
    format: &'static str,
    description: &'static str,
    priority: i32,
    cell: fn(&Value, OffsetDateTime) -> Value,
}

const fn col(
    name: &'static str,
    column_type: &'static str,
    description: &'static str,
    priority: i32,
    cell: fn(&Value, OffsetDateTime) -> Value,
) -> Column {
    Column {
        name,
        column_type,
        format: "",
        description,
        priority,
        cell,
    }
}

const NAME: Column = Column {
    name: "Name",
    column_type: "string",
    format: "name",
    description: "Name of the resource, unique per kind within its namespace.",
    priority: 0,
    cell: |o, _| text(str_at(o, &["metadata", "name"])),
};
const AGE: Column = col(
    "Age",
    "string",
    "Time since the resource was created (metadata.creationTimestamp).",
    0,
    |o, now| Value::String(age(str_at(o, &["metadata", "creationTimestamp"]), now)),
);
const PHASE: Column = col(
    "Phase",
    "string",
    "Lifecycle phase observed by the control plane (status.phase).",
    0,
    |o, _| text(str_at(o, &["status", "phase"])),
);
const DESCRIPTION: Column = col(
    "Description",
    "string",
    "The first line of spec.description.",
    1,
    |o, _| description(str_at(o, &["spec", "description"])),
);

fn columns(resource: ResourceType) -> Vec<Column> {
    match resource {
        ResourceType::Kind(Kind::Goal) => vec![
            NAME,
            PHASE,
            col(
                "Active Plan",
                "string",
                "The Plan selected to achieve the Goal (status.activePlanRef).",
                0,
                |o, _| text(str_at(o, &["status", "activePlanRef", "name"])),
            ),
            col(
                "Priority",
                "integer",
                "Priority from 0 to 1000; higher is more urgent (spec.priority).",
                0,
                |o, _| json!(u64_at(o, &["spec", "priority"]).unwrap_or(0)),
            ),
            AGE,
            col(
                "Timeout",
                "string",
                "How long the Goal may take (spec.timeout).",
                1,
                |o, _| text(str_at(o, &["spec", "timeout"])),
            ),
            col(
                "Selector",
                "string",
                "Selects the Plans that can achieve the Goal (spec.planSelector).",
                1,
                |o, _| plan_selector(at(o, &["spec", "planSelector"])),
            ),
            DESCRIPTION,
        ],
        ResourceType::Kind(Kind::Plan) => vec![
            NAME,
            PHASE,
            col(
                "Nodes",
                "integer",
                "Number of nodes in the graph.",
                0,
                |o, _| {
                    let n = u64_at(o, &["status", "nodeCount"])
                        .or_else(|| len_at(o, &["spec", "graph", "nodes"]))
                        .or_else(|| len_at(o, &["spec", "steps"]))
                        .unwrap_or(0);
                    json!(n)
                },
            ),
            col(
                "Series",
                "string",
                "The series of Plan versions this one belongs to (spec.series).",
                0,
                |o, _| text(str_at(o, &["spec", "series"])),
            ),
            col(
                "Version",
                "string",
                "The Plan's version within its series (spec.version).",
                0,
                |o, _| text(str_at(o, &["spec", "version"])),
            ),
            col(
                "Goal",
                "string",
                "The Goal the Plan achieves (spec.goalRef).",
                0,
                |o, _| text(str_at(o, &["spec", "goalRef", "name"])),
            ),
            AGE,
            col(
                "Edges",
                "integer",
                "Number of explicit edges in the graph.",
                1,
                |o, _| json!(len_at(o, &["spec", "graph", "edges"]).unwrap_or(0)),
            ),
            col(
                "Digest",
                "string",
                "Digest of the graph (spec.graphDigest), shortened.",
                1,
                |o, _| match str_at(o, &["spec", "graphDigest"]) {
                    Some(d) => Value::String(d.chars().take("sha256:".len() + 12).collect()),
                    None => text(None),
                },
            ),
            DESCRIPTION,
        ],
        ResourceType::Kind(Kind::Capability) => vec![
            NAME,
            PHASE,
            col(
                "Category",
                "string",
                "The Capability's category (spec.category).",
                0,
                |o, _| text(str_at(o, &["spec", "category"])),
            ),
            AGE,
            col(
                "Display Name",
                "string",
                "Human-readable name (spec.displayName).",
                1,
                |o, _| text(str_at(o, &["spec", "displayName"])),
            ),
            col(
                "Inputs",
                "integer",
                "Number of declared inputs.",
                1,
                |o, _| json!(len_at(o, &["spec", "inputs"]).unwrap_or(0)),
            ),
            col(
                "Outputs",
                "integer",
                "Number of declared outputs.",
                1,
                |o, _| json!(len_at(o, &["spec", "outputs"]).unwrap_or(0)),
            ),
            col(
                "Requires",
                "integer",
                "Number of Capabilities this one requires.",
                1,
                |o, _| json!(len_at(o, &["spec", "requirements"]).unwrap_or(0)),
            ),
        ],
        ResourceType::Kind(Kind::Binding) => vec![
            NAME,
            PHASE,
            col("Rules", "integer", "Number of binding rules.", 0, |o, _| {
                json!(len_at(o, &["spec", "rules"]).unwrap_or(0))
            }),
            col(
                "Bound",
                "string",
                "Bound capabilities out of all required (status.boundCount/totalCount).",
                0,
                |o, _| match (
                    u64_at(o, &["status", "boundCount"]),
                    u64_at(o, &["status", "totalCount"]),
                ) {
                    (Some(b), Some(t)) => Value::String(format!("{b}/{t}")),
                    _ => text(None),
                },
            ),
            AGE,
            col(
                "Strategy",
                "string",
                "How ties between matching rules are resolved (spec.strategy).",
                1,
                |o, _| {
                    Value::String(
                        str_at(o, &["spec", "strategy"])
                            .unwrap_or("FirstMatch")
                            .to_owned(),
                    )
                },
            ),
            col(
                "Unbound",
                "integer",
                "Number of capabilities no rule binds.",
                1,
                |o, _| json!(len_at(o, &["status", "unboundCapabilities"]).unwrap_or(0)),
            ),
        ],
        ResourceType::Kind(Kind::Execution) => vec![
            NAME,
            PHASE,
            col(
                "Plan",
                "string",
                "The Plan being run (spec.planRef).",
                0,
                |o, _| text(str_at(o, &["spec", "planRef", "name"])),
            ),
            col(
                "Nodes",
                "string",
                "Finished nodes out of all tracked nodes (status.nodeStatuses).",
                0,
                |o, _| execution_nodes(at(o, &["status", "nodeStatuses"])),
            ),
            col(
                "Started",
                "string",
                "Time since the run started (status.startTime).",
                0,
                |o, now| match str_at(o, &["status", "startTime"]) {
                    Some(t) => Value::String(age(Some(t), now)),
                    None => text(None),
                },
            ),
            AGE,
            col(
                "Goal",
                "string",
                "The Goal the run serves (spec.goalRef).",
                1,
                |o, _| text(str_at(o, &["spec", "goalRef", "name"])),
            ),
            col(
                "Duration",
                "string",
                "How long the run took, or has taken so far.",
                1,
                |o, now| {
                    let start = parse_time(str_at(o, &["status", "startTime"]));
                    let end = match str_at(o, &["status", "completionTime"]) {
                        Some(t) => parse_time(Some(t)),
                        None => Some(now),
                    };
                    match (start, end) {
                        (Some(s), Some(e)) => Value::String(human_duration(e - s)),
                        _ => text(None),
                    }
                },
            ),
            col(
                "Reason",
                "string",
                "Why the run is in its phase (status.reason).",
                1,
                |o, _| text(str_at(o, &["status", "reason"])),
            ),
            col(
                "Parent",
                "string",
                "For a sub-plan's child Execution: its parent Execution and Plan node (labels planspec.io/parent-execution, planspec.io/parent-node).",
                1,
                |o, _| {
                    let labels = at(o, &["metadata", "labels"]);
                    let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
                    match (
                        label("planspec.io/parent-execution"),
                        label("planspec.io/parent-node"),
                    ) {
                        (Some(parent), Some(node)) => Value::String(format!("{parent}/{node}")),
                        (Some(parent), None) => Value::String(parent.to_owned()),
                        _ => text(None),
                    }
                },
            ),
        ],
        ResourceType::Kind(Kind::Gate) => vec![
            NAME,
            col(
                "Type",
                "string",
                "Kind of checkpoint: approval, review or sign-off (spec.gateType).",
                0,
                |o, _| text(str_at(o, &["spec", "gateType"])),
            ),
            PHASE,
            col(
                "Approvals",
                "string",
                "Reviewers whose latest review approves, out of the approvals required.",
                0,
                |o, _| {
                    let required = u64_at(o, &["spec", "requiredApprovers"]).unwrap_or(1);
                    Value::String(format!("{}/{required}", approvals(o)))
                },
            ),
            AGE,
            col(
                "Target",
                "string",
                "What the Gate guards (spec.targetRef).",
                1,
                |o, _| {
                    let (Some(kind), Some(name)) = (
                        str_at(o, &["spec", "targetRef", "kind"]),
                        str_at(o, &["spec", "targetRef", "name"]),
                    ) else {
                        return text(None);
                    };
                    let mut target = format!("{kind}/{name}");
                    if let Some(node) = str_at(o, &["spec", "targetRef", "nodeId"]) {
                        target.push('#');
                        target.push_str(node);
                    }
                    Value::String(target)
                },
            ),
            col(
                "Reviewers",
                "string",
                "Who may decide (spec.reviewers).",
                1,
                |o, _| {
                    let reviewers: Vec<&str> = at(o, &["spec", "reviewers"])
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    if reviewers.is_empty() {
                        text(None)
                    } else {
                        Value::String(reviewers.join(","))
                    }
                },
            ),
            col(
                "Outcome",
                "string",
                "The final decision (status.resolution.outcome).",
                1,
                |o, _| text(str_at(o, &["status", "resolution", "outcome"])),
            ),
        ],
        ResourceType::Kind(Kind::Policy) => vec![
            NAME,
            col(
                "Rules",
                "integer",
                "Number of rules (spec.rules).",
                0,
                |o, _| json!(len_at(o, &["spec", "rules"]).unwrap_or(0)),
            ),
            col(
                "Default",
                "string",
                "The verdict when no rule matches (spec.defaultVerdict).",
                0,
                |o, _| text(str_at(o, &["spec", "defaultVerdict"])),
            ),
            AGE,
            DESCRIPTION,
        ],
        ResourceType::Kind(Kind::Provider) => vec![
            NAME,
            col(
                "Type",
                "string",
                "The kind of implementation (spec.type).",
                0,
                |o, _| text(str_at(o, &["spec", "type"])),
            ),
            col(
                "Risk",
                "string",
                "The declared risk (spec.risk).",
                0,
                |o, _| text(str_at(o, &["spec", "risk"]).or(Some("low"))),
            ),
            col(
                "Verified",
                "string",
                "Whether the signed manifest verified (status.verified).",
                0,
                |o, _| {
                    let verified = at(o, &["status", "verified"]).and_then(Value::as_bool);
                    text(Some(if verified == Some(true) {
                        "True"
                    } else {
                        "False"
                    }))
                },
            ),
            AGE,
            DESCRIPTION,
        ],
        ResourceType::Kind(Kind::Role | Kind::ClusterRole) => vec![
            NAME,
            col("Rules", "integer", "Number of rules.", 0, |o, _| {
                json!(len_at(o, &["rules"]).unwrap_or(0))
            }),
            AGE,
        ],
        ResourceType::Kind(Kind::RoleBinding | Kind::ClusterRoleBinding) => vec![
            NAME,
            col(
                "Role",
                "string",
                "The role granted (roleRef.kind/roleRef.name).",
                0,
                |o, _| {
                    let kind = str_at(o, &["roleRef", "kind"]).unwrap_or("");
                    let name = str_at(o, &["roleRef", "name"]).unwrap_or("");
                    Value::String(format!("{kind}/{name}"))
                },
            ),
            AGE,
            col(
                "Subjects",
                "string",
                "Who is granted the role.",
                1,
                |o, _| {
                    let names: Vec<String> = at(o, &["subjects"])
                        .and_then(Value::as_array)
                        .map(|s| {
                            s.iter()
                                .map(|s| {
                                    format!(
                                        "{}:{}",
                                        s.get("kind").and_then(Value::as_str).unwrap_or(""),
                                        s.get("name").and_then(Value::as_str).unwrap_or("")
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    Value::String(names.join(","))
                },
            ),
        ],
        ResourceType::Namespace => vec![
            NAME,
            col(
                "Status",
                "string",
                "The phase of the namespace: Active or Terminating.",
                0,
                |o, _| {
                    Value::String(
                        str_at(o, &["status", "phase"])
                            .unwrap_or("Active")
                            .to_owned(),
                    )
                },
            ),
            AGE,
        ],
    }
}

/// The column definitions of a resource type.
pub fn column_definitions(resource: ResourceType) -> Vec<TableColumnDefinition> {
    columns(resource)
        .into_iter()
        .map(|c| TableColumnDefinition {
            name: c.name.to_owned(),
            column_type: c.column_type.to_owned(),
            format: c.format.to_owned(),
            description: c.description.to_owned(),
            priority: c.priority,
        })
        .collect()
}

/// The row of one object (a JSON resource as stored), with cells for every column.
pub fn row(
    resource: ResourceType,
    object: &Value,
    now: OffsetDateTime,
    include: IncludeObject,
) -> TableRow {
    row_with(&columns(resource), object, now, include)
}

fn row_with(
    columns: &[Column],
    object: &Value,
    now: OffsetDateTime,
    include: IncludeObject,
) -> TableRow {
    TableRow {
        cells: columns.iter().map(|c| (c.cell)(object, now)).collect(),
        object: match include {
            IncludeObject::None => None,
            IncludeObject::Object => Some(object.clone()),
            IncludeObject::Metadata => Some(partial_object_metadata(object)),
        },
    }
}

/// A `PartialObjectMetadata` of an object: its `metadata` under
/// `kind: PartialObjectMetadata, apiVersion: meta.k8s.io/v1`.
pub fn partial_object_metadata(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": META_API_VERSION,
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A table of `objects` (in the order given).
pub fn table<'a>(
    resource: ResourceType,
    objects: impl IntoIterator<Item = &'a Value>,
    now: OffsetDateTime,
    options: TableOptions,
    metadata: ListMeta,
) -> Table {
    let columns = columns(resource);
    Table {
        kind: "Table".to_owned(),
        api_version: META_API_VERSION.to_owned(),
        metadata,
        column_definitions: if options.no_headers {
            Vec::new()
        } else {
            column_definitions(resource)
        },
        rows: objects
            .into_iter()
            .map(|o| row_with(&columns, o, now, options.include_object))
            .collect(),
    }
}

/// The age of a resource as kubectl prints it: `<unknown>` without a (valid) timestamp,
/// otherwise [`human_duration`] of `now - timestamp`.
pub fn age(timestamp: Option<&str>, now: OffsetDateTime) -> String {
    match parse_time(timestamp) {
        Some(t) => human_duration(now - t),
        None => "<unknown>".to_owned(),
    }
}

/// A duration with two or three significant figures, exactly as kubectl prints ages
/// (`k8s.io/apimachinery/pkg/util/duration.HumanDuration`): `45s`, `119s`, `3m10s`, `70m`,
/// `7h59m`, `47h`, `2d1h`, `8d`, `367d`, `2y1d`, `8y`; `0s` for up to a second in the future
/// (clock skew) and `<invalid>` beyond.
pub fn human_duration(d: Duration) -> String {
    let seconds = d.whole_seconds();
    if seconds < -1 {
        return "<invalid>".to_owned();
    } else if seconds < 0 {
        return "0s".to_owned();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        }
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        }
    } else if hours < 24 * 365 * 2 {
        format!("{}d", hours / 24)
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        }
    } else {
        format!("{}y", hours / 24 / 365)
    }
}

fn parse_time(s: Option<&str>) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s?, &Rfc3339).ok()
}

fn at<'a>(object: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(object, |v, k| v.get(k))
}

fn str_at<'a>(object: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(object, path).and_then(Value::as_str)
}

fn u64_at(object: &Value, path: &[&str]) -> Option<u64> {
    at(object, path).and_then(Value::as_u64)
}

fn len_at(object: &Value, path: &[&str]) -> Option<u64> {
    at(object, path)
        .and_then(Value::as_array)
        .map(|a| a.len() as u64)
}

/// A string cell; [`NONE`] when the value is missing or empty.
fn text(value: Option<&str>) -> Value {
    match value {
        Some(s) if !s.is_empty() => Value::String(s.to_owned()),
        _ => Value::String(NONE.to_owned()),
    }
}

fn description(value: Option<&str>) -> Value {
    let Some(first) = value.and_then(|d| d.lines().map(str::trim).find(|l| !l.is_empty())) else {
        return text(None);
    };
    if first.chars().count() <= DESCRIPTION_WIDTH {
        Value::String(first.to_owned())
    } else {
        let cut: String = first.chars().take(DESCRIPTION_WIDTH - 3).collect();
        Value::String(format!("{}...", cut.trim_end()))
    }
}

fn plan_selector(value: Option<&Value>) -> Value {
    let Some(value) = value else {
        return text(None);
    };
    match serde_json::from_value::<LabelSelector>(value.clone())
        .ok()
        .and_then(|ls| Selector::from_label_selector(&ls).ok())
    {
        Some(s) if s.is_empty() => Value::String("<all>".to_owned()),
        Some(s) => Value::String(s.to_string()),
        None => Value::String("<invalid>".to_owned()),
    }
}

fn execution_nodes(statuses: Option<&Value>) -> Value {
    let Some(statuses) = statuses.and_then(Value::as_object) else {
        return text(None);
    };
    let done = statuses
        .values()
        .filter(|s| {
            matches!(
                s.get("phase").and_then(Value::as_str),
                Some("Succeeded" | "Failed" | "Skipped" | "Cancelled")
            )
        })
        .count();
    Value::String(format!("{done}/{}", statuses.len()))
}

/// Reviewers whose latest `approve`/`reject` in `status.reviewHistory` is `approve`.
fn approvals(object: &Value) -> usize {
    let mut latest: BTreeMap<&str, &str> = BTreeMap::new();
    for review in at(object, &["status", "reviewHistory"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(reviewer), Some(action)) = (
            review.get("reviewer").and_then(Value::as_str),
            review.get("action").and_then(Value::as_str),
        ) else {
            continue;
        };
        if matches!(action, "approve" | "reject") {
            latest.insert(reviewer, action);
        }
    }
    latest.values().filter(|a| **a == "approve").count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::parse("2026-02-04T12:00:00Z", &Rfc3339).unwrap()
    }

    fn rt(kind: Kind) -> ResourceType {
        ResourceType::Kind(kind)
    }

    /// The default (priority 0) cells of a row, as strings.
    fn cells(resource: ResourceType, object: &Value) -> Vec<String> {
        let defs = column_definitions(resource);
        row(resource, object, now(), IncludeObject::None)
            .cells
            .iter()
            .zip(&defs)
            .filter(|(_, d)| d.priority == 0)
            .map(|(c, _)| match c {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect()
    }

    fn wide(resource: ResourceType, object: &Value) -> Vec<String> {
        let defs = column_definitions(resource);
        row(resource, object, now(), IncludeObject::None)
            .cells
            .iter()
            .zip(&defs)
            .filter(|(_, d)| d.priority == 1)
            .map(|(c, _)| match c {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect()
    }

    fn headers(resource: ResourceType, priority: i32) -> Vec<String> {
        column_definitions(resource)
            .into_iter()
            .filter(|c| c.priority == priority)
            .map(|c| c.name)
            .collect()
    }

    #[test]
    fn human_durations_like_kubectl() {
        let cases = [
            (Duration::seconds(-2), "<invalid>"),
            (Duration::milliseconds(-1500), "0s"),
            (Duration::seconds(-1), "0s"),
            (Duration::ZERO, "0s"),
            (Duration::seconds(1), "1s"),
            (Duration::seconds(70), "70s"),
            (Duration::seconds(119), "119s"),
            (Duration::seconds(120), "2m"),
            (Duration::seconds(190), "3m10s"),
            (Duration::seconds(599), "9m59s"),
            (Duration::minutes(10), "10m"),
            (Duration::minutes(70), "70m"),
            (Duration::minutes(179), "179m"),
            (Duration::hours(3), "3h"),
            (Duration::minutes(7 * 60 + 59), "7h59m"),
            (Duration::hours(8), "8h"),
            (Duration::hours(47), "47h"),
            (Duration::hours(48), "2d"),
            (Duration::hours(49), "2d1h"),
            (Duration::hours(8 * 24 + 2), "8d"),
            (Duration::hours(367 * 24), "367d"),
            (Duration::hours(2 * 365 * 24 + 10), "2y"),
            (Duration::hours(365 * 2 * 24 + 25), "2y1d"),
            (Duration::hours(365 * 8 * 24 + 2), "8y"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(d), want, "{d}");
        }
        assert_eq!(age(Some("2026-02-04T11:55:00Z"), now()), "5m");
        // Like kubectl: minutes up to three hours, then hours.
        assert_eq!(age(Some("2026-02-04T10:00:00+00:00"), now()), "120m");
        assert_eq!(age(Some("2026-02-04T07:00:00+00:00"), now()), "5h");
        assert_eq!(age(Some("2026-01-31T12:00:00Z"), now()), "4d");
        assert_eq!(age(Some("yesterday"), now()), "<unknown>");
        assert_eq!(age(None, now()), "<unknown>");
    }

    #[test]
    fn table_shape_for_kubectl() {
        let plan = json!({
            "apiVersion": "planspec.io/v1alpha1",
            "kind": "Plan",
            "metadata": {"name": "release", "namespace": "default", "uid": "u1",
                         "resourceVersion": "7", "creationTimestamp": "2026-02-04T11:59:55Z"},
            "spec": {"description": "Ship it", "series": "release", "version": "1.2.0",
                     "goalRef": {"name": "ship"},
                     "graph": {"nodes": [{"id": "a"}, {"id": "b"}], "edges": [{"from": "a", "to": "b"}]}},
            "status": {"phase": "Ready"}
        });
        let t = table(
            rt(Kind::Plan),
            [&plan],
            now(),
            TableOptions::default(),
            ListMeta {
                resource_version: Some("9".into()),
                ..ListMeta::default()
            },
        );
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["kind"], "Table");
        assert_eq!(v["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(v["metadata"], json!({"resourceVersion": "9"}));
        assert_eq!(
            v["columnDefinitions"][0],
            json!({"name": "Name", "type": "string", "format": "name",
                   "description": "Name of the resource, unique per kind within its namespace.",
                   "priority": 0})
        );
        assert_eq!(v["columnDefinitions"][2]["type"], "integer");
        assert_eq!(
            v["rows"][0]["cells"],
            json!([
                "release", "Ready", 2, "release", "1.2.0", "ship", "5s", 1, "<none>", "Ship it"
            ])
        );
        assert_eq!(
            v["rows"][0]["object"],
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                   "metadata": plan["metadata"]})
        );
        // Every cell lines up with a column.
        for resource in ResourceType::ALL {
            let r = row(resource, &plan, now(), IncludeObject::None);
            assert_eq!(r.cells.len(), column_definitions(resource).len());
            assert_eq!(r.object, None);
        }
        let t = table(
            rt(Kind::Plan),
            [&plan],
            now(),
            TableOptions {
                include_object: IncludeObject::Object,
                no_headers: true,
            },
            ListMeta::default(),
        );
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["columnDefinitions"], json!([]));
        assert_eq!(v["rows"][0]["object"], plan);
        assert_eq!(serde_json::from_value::<Table>(v).unwrap(), t);
    }

    #[test]
    fn include_object_query() {
        assert_eq!(
            IncludeObject::from_query(None).unwrap(),
            IncludeObject::Metadata
        );
        assert_eq!(
            IncludeObject::from_query(Some("Object")).unwrap(),
            IncludeObject::Object
        );
        assert_eq!(
            IncludeObject::from_query(Some("None")).unwrap(),
            IncludeObject::None
        );
        assert_eq!(
            IncludeObject::from_query(Some("all")).unwrap_err().code(),
            400
        );
    }

    #[test]
    fn goal_columns() {
        let r = rt(Kind::Goal);
        assert_eq!(
            headers(r, 0),
            ["Name", "Phase", "Active Plan", "Priority", "Age"]
        );
        assert_eq!(headers(r, 1), ["Timeout", "Selector", "Description"]);
        let goal = json!({
            "metadata": {"name": "ship", "creationTimestamp": "2026-02-04T09:00:00Z"},
            "spec": {"description": "A very long description that goes on and on and on, well past sixty characters\nsecond line",
                     "priority": 500, "timeout": "168h",
                     "planSelector": {"matchLabels": {"app": "web"},
                                      "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]}},
            "status": {"phase": "Ready", "activePlanRef": {"name": "release"}}
        });
        assert_eq!(cells(r, &goal), ["ship", "Ready", "release", "500", "3h"]);
        assert_eq!(
            wide(r, &goal),
            [
                "168h",
                "app=web,tier notin (db)",
                "A very long description that goes on and on and on, well..."
            ]
        );
        let bare = json!({"metadata": {"name": "g"}, "spec": {"description": "d"}});
        assert_eq!(cells(r, &bare), ["g", "<none>", "<none>", "0", "<unknown>"]);
        assert_eq!(wide(r, &bare), ["<none>", "<none>", "d"]);
        let all = json!({"metadata": {"name": "g"}, "spec": {"planSelector": {}}});
        assert_eq!(wide(r, &all)[1], "<all>");
    }

    #[test]
    fn plan_columns() {
        let r = rt(Kind::Plan);
        assert_eq!(
            headers(r, 0),
            ["Name", "Phase", "Nodes", "Series", "Version", "Goal", "Age"]
        );
        assert_eq!(headers(r, 1), ["Edges", "Digest", "Description"]);
        let plan = json!({
            "metadata": {"name": "p", "creationTimestamp": "2026-02-01T12:00:00Z"},
            "spec": {"graph": {"nodes": [{"id": "a"}]},
                     "graphDigest": format!("sha256:{}", "ab".repeat(32))},
            "status": {"nodeCount": 40}
        });
        assert_eq!(
            cells(r, &plan),
            ["p", "<none>", "40", "<none>", "<none>", "<none>", "3d"]
        );
        assert_eq!(wide(r, &plan), ["0", "sha256:abababababab", "<none>"]);
    }

    #[test]
    fn capability_and_binding_columns() {
        let r = rt(Kind::Capability);
        assert_eq!(headers(r, 0), ["Name", "Phase", "Category", "Age"]);
        assert_eq!(
            headers(r, 1),
            ["Display Name", "Inputs", "Outputs", "Requires"]
        );
        let cap = json!({
            "metadata": {"name": "go-build", "creationTimestamp": "2026-02-04T11:00:00Z"},
            "spec": {"category": "build", "displayName": "Go build", "inputs": [{}, {}], "outputs": [{}]},
            "status": {"phase": "Available"}
        });
        assert_eq!(cells(r, &cap), ["go-build", "Available", "build", "60m"]);
        assert_eq!(wide(r, &cap), ["Go build", "2", "1", "0"]);

        let r = rt(Kind::Binding);
        assert_eq!(headers(r, 0), ["Name", "Phase", "Rules", "Bound", "Age"]);
        assert_eq!(headers(r, 1), ["Strategy", "Unbound"]);
        let b = json!({
            "metadata": {"name": "b", "creationTimestamp": "2026-02-04T11:58:00Z"},
            "spec": {"rules": [{}, {}, {}], "strategy": "MostSpecific"},
            "status": {"phase": "Partial", "boundCount": 2, "totalCount": 3,
                       "unboundCapabilities": [{"capabilityRef": {"name": "x"}}]}
        });
        assert_eq!(cells(r, &b), ["b", "Partial", "3", "2/3", "2m"]);
        assert_eq!(wide(r, &b), ["MostSpecific", "1"]);
        let bare = json!({"metadata": {"name": "b"}, "spec": {"rules": []}});
        assert_eq!(cells(r, &bare)[3], "<none>");
        assert_eq!(wide(r, &bare), ["FirstMatch", "0"]);
    }

    #[test]
    fn execution_columns() {
        let r = rt(Kind::Execution);
        assert_eq!(
            headers(r, 0),
            ["Name", "Phase", "Plan", "Nodes", "Started", "Age"]
        );
        assert_eq!(headers(r, 1), ["Goal", "Duration", "Reason", "Parent"]);
        let running = json!({
            "metadata": {"name": "run-1", "creationTimestamp": "2026-02-04T11:50:00Z"},
            "spec": {"planRef": {"name": "release"}, "goalRef": {"name": "ship"}},
            "status": {"phase": "Running", "startTime": "2026-02-04T11:57:00Z",
                       "nodeStatuses": {"a": {"phase": "Succeeded"}, "b": {"phase": "Skipped"},
                                        "c": {"phase": "Running"}, "d": {"phase": "Pending"}}}
        });
        assert_eq!(
            cells(r, &running),
            ["run-1", "Running", "release", "2/4", "3m", "10m"]
        );
        assert_eq!(wide(r, &running), ["ship", "3m", "<none>", "<none>"]);
        let done = json!({
            "metadata": {"name": "run-2", "creationTimestamp": "2026-02-04T10:00:00Z"},
            "spec": {"planRef": {"name": "release"}},
            "status": {"phase": "Failed", "reason": "NodeFailed",
                       "startTime": "2026-02-04T10:00:05Z", "completionTime": "2026-02-04T10:03:15Z"}
        });
        assert_eq!(
            cells(r, &done),
            ["run-2", "Failed", "release", "<none>", "119m", "120m"]
        );
        assert_eq!(wide(r, &done), ["<none>", "3m10s", "NodeFailed", "<none>"]);
        let child = json!({"metadata": {"name": "run-2-deploy", "labels": {
            "planspec.io/parent-execution": "run-2", "planspec.io/parent-node": "deploy"}},
            "spec": {"planRef": {"name": "deploy"}}});
        assert_eq!(wide(r, &child)[3], "run-2/deploy");
        let pending = json!({"metadata": {"name": "run-3"}, "spec": {"planRef": {"name": "p"}}});
        assert_eq!(cells(r, &pending)[4], "<none>");
        assert_eq!(wide(r, &pending)[1], "<none>");
    }

    #[test]
    fn gate_columns() {
        let r = rt(Kind::Gate);
        assert_eq!(headers(r, 0), ["Name", "Type", "Phase", "Approvals", "Age"]);
        assert_eq!(headers(r, 1), ["Target", "Reviewers", "Outcome"]);
        let gate = json!({
            "metadata": {"name": "release-approval", "creationTimestamp": "2026-02-04T11:59:00Z"},
            "spec": {"gateType": "approval", "requiredApprovers": 2,
                     "targetRef": {"kind": "Execution", "name": "run-1", "nodeId": "deploy"},
                     "reviewers": ["user:alice", "user:bob"]},
            "status": {"phase": "Waiting", "reviewHistory": [
                {"reviewer": "user:alice", "action": "approve", "timestamp": "2026-02-04T11:59:10Z"},
                {"reviewer": "user:bob", "action": "approve", "timestamp": "2026-02-04T11:59:20Z"},
                {"reviewer": "user:bob", "action": "comment", "timestamp": "2026-02-04T11:59:25Z"},
                {"reviewer": "user:bob", "action": "reject", "timestamp": "2026-02-04T11:59:30Z"},
                {"reviewer": "user:alice", "action": "approve", "timestamp": "2026-02-04T11:59:40Z"}
            ]}
        });
        assert_eq!(
            cells(r, &gate),
            ["release-approval", "approval", "Waiting", "1/2", "60s"]
        );
        assert_eq!(
            wide(r, &gate),
            ["Execution/run-1#deploy", "user:alice,user:bob", "<none>"]
        );
        let bare = json!({"metadata": {"name": "g"}, "spec": {"gateType": "review"}});
        assert_eq!(
            cells(r, &bare),
            ["g", "review", "<none>", "0/1", "<unknown>"]
        );
        assert_eq!(wide(r, &bare), ["<none>", "<none>", "<none>"]);
    }

    #[test]
    fn namespace_columns() {
        let r = ResourceType::Namespace;
        assert_eq!(headers(r, 0), ["Name", "Status", "Age"]);
        assert!(headers(r, 1).is_empty());
        let ns =
            json!({"metadata": {"name": "default", "creationTimestamp": "2026-01-31T12:00:00Z"}});
        assert_eq!(cells(r, &ns), ["default", "Active", "4d"]);
        let terminating = json!({"metadata": {"name": "x"}, "status": {"phase": "Terminating"}});
        assert_eq!(cells(r, &terminating)[1], "Terminating");
    }

    #[test]
    fn odd_objects_do_not_break_rows() {
        for object in [
            json!(null),
            json!([]),
            json!("x"),
            json!({"metadata": 3, "spec": []}),
        ] {
            for resource in ResourceType::ALL {
                let r = row(resource, &object, now(), IncludeObject::Metadata);
                assert_eq!(r.cells.len(), column_definitions(resource).len());
            }
        }
    }
}
