//! Expanding one matrix: resolving its axes, the product in canonical order, `exclude`,
//! `include`, instance ids.

use planspec_model::plan::{AxisSource, Matrix};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// Hex digits of the SHA-256 kept in an instance id.
pub const INSTANCE_ID_HEX: usize = 12;

/// Most combinations the product may have before `exclude`/`include` for it to be enumerated;
/// a larger product is refused with `plan_expansion_limit` (its size is the count reported).
pub const MAX_PRODUCT: u64 = 1_000_000;

/// Why a matrix cannot be expanded. Each maps to a reason code (see
/// [`ExpandError::reason`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// An axis has no values.
    #[error("matrix axis `{axis}` has no values ({from})")]
    EmptyAxis {
        /// The axis.
        axis: String,
        /// Where its values came from.
        from: String,
    },
    /// `exclude` removed every combination and `include` added none.
    #[error("the matrix has no instances: `exclude` removed every combination")]
    NoInstances,
    /// More instances than allowed.
    #[error("the matrix expands into at least {count} instances; at most {max} are allowed")]
    TooMany {
        /// Instances counted before the limit was passed (enumeration stops there), or, for a
        /// product too large to enumerate, combinations.
        count: u64,
        /// The limit.
        max: u64,
    },
    /// An axis's source does not give a list, or names something that does not exist.
    #[error("{0}")]
    Invalid(String),
}

impl ExpandError {
    /// The reason code a matrix node fails with.
    pub fn reason(&self) -> crate::ReasonCode {
        match self {
            ExpandError::EmptyAxis { .. } | ExpandError::NoInstances => {
                crate::ReasonCode::MatrixEmpty
            }
            ExpandError::TooMany { .. } => crate::ReasonCode::PlanExpansionLimit,
            ExpandError::Invalid(_) => crate::ReasonCode::MatrixInvalid,
        }
    }
}

/// One axis with its values resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedAxis {
    /// The axis name.
    pub name: String,
    /// Where the values came from, as the manifest shows it: `{"values": true}`,
    /// `{"parameter": NAME}` or `{"fromOutput": {"node": N, "output": O}}`.
    pub source: Value,
    /// The values, in their order.
    pub values: Vec<Value>,
}

/// One instance of a matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// Its position in instance order (0-based).
    pub ordinal: usize,
    /// Its id: `<node>-<12 hex>` (see [`instance_id`]).
    pub id: String,
    /// Axis name → value (axes in the order written; an `include` entry's own keys).
    pub coordinates: Map<String, Value>,
}

/// The result of expanding one matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Expansion {
    /// The matrix node.
    pub node: String,
    /// The axes with their values.
    pub axes: Vec<ResolvedAxis>,
    /// Combinations of the product that `exclude` removed, in canonical order.
    pub excluded: Vec<Map<String, Value>>,
    /// `include` entries that were added (those not already in the product), in order.
    pub included: Vec<Map<String, Value>>,
    /// The instances, in instance order.
    pub instances: Vec<Instance>,
}

/// The id of the instance of `node` at `coordinates`: `<node>-` and the first
/// [`INSTANCE_ID_HEX`] hex digits of the SHA-256 of the RFC 8785 canonical JSON of
/// `{"coordinates": …, "node": …}`. Lowercase letters, digits and `-` only, so it is usable
/// in URLs, file names and CLI arguments.
pub fn instance_id(node: &str, coordinates: &Map<String, Value>) -> String {
    let doc = json!({"node": node, "coordinates": coordinates});
    // Serialising a `Value` cannot fail; fall back to serde_json's text to stay total.
    let bytes = serde_json_canonicalizer::to_vec(&doc).unwrap_or_else(|_| doc.to_string().into());
    let digest = Sha256::digest(&bytes);
    let mut id = String::with_capacity(node.len() + 1 + INSTANCE_ID_HEX);
    id.push_str(node);
    id.push('-');
    for b in digest.iter().take(INSTANCE_ID_HEX / 2) {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

/// Resolves the axes of `matrix`: literal values, an Execution parameter (`parameters`), or
/// an upstream node's output (`output(node, name)`, `None` when the node has no such output).
pub fn resolve_axes<'v>(
    matrix: &Matrix,
    parameters: &Map<String, Value>,
    output: impl Fn(&str, &str) -> Option<&'v Value>,
) -> Result<Vec<ResolvedAxis>, ExpandError> {
    let mut axes = Vec::with_capacity(matrix.axes.len());
    for axis in &matrix.axes {
        let (source, values, describe) = match axis.source() {
            Some(AxisSource::Values(v)) => (json!({"values": true}), v.to_vec(), "literal".into()),
            Some(AxisSource::Parameter(p)) => {
                let describe = format!("parameter `{p}`");
                let values = match parameters.get(p) {
                    Some(Value::Array(v)) => v.clone(),
                    Some(other) => {
                        return Err(ExpandError::Invalid(format!(
                            "matrix axis `{}`: {describe} is {}, not a list",
                            axis.name,
                            type_name(other)
                        )))
                    }
                    None => {
                        return Err(ExpandError::Invalid(format!(
                            "matrix axis `{}`: the Execution has no {describe}",
                            axis.name
                        )))
                    }
                };
                (json!({"parameter": p}), values, describe)
            }
            Some(AxisSource::FromOutput(r)) => {
                let describe = format!("output `{}` of `{}`", r.output, r.node);
                let values = match output(r.node.as_str(), r.output.as_str()) {
                    Some(Value::Array(v)) => v.clone(),
                    Some(other) => {
                        return Err(ExpandError::Invalid(format!(
                            "matrix axis `{}`: {describe} is {}, not a list",
                            axis.name,
                            type_name(other)
                        )))
                    }
                    None => {
                        return Err(ExpandError::Invalid(format!(
                            "matrix axis `{}`: `{}` has no {describe}",
                            axis.name, r.node
                        )))
                    }
                };
                (
                    json!({"fromOutput": {"node": r.node, "output": r.output}}),
                    values,
                    describe,
                )
            }
            None => {
                return Err(ExpandError::Invalid(format!(
                    "matrix axis `{}` needs exactly one of `values`, `parameter`, `fromOutput`",
                    axis.name
                )))
            }
        };
        if values.is_empty() {
            return Err(ExpandError::EmptyAxis {
                axis: axis.name.clone(),
                from: describe,
            });
        }
        axes.push(ResolvedAxis {
            name: axis.name.clone(),
            source,
            values,
        });
    }
    Ok(axes)
}

/// The number of combinations of the product (saturating).
pub fn product_size(axes: &[ResolvedAxis]) -> u64 {
    axes.iter().fold(1u64, |n, a| {
        n.saturating_mul(u64::try_from(a.values.len()).unwrap_or(u64::MAX))
    })
}

/// `true` if `coordinates` match every key of `entry`.
fn matches(coordinates: &Map<String, Value>, entry: &Map<String, Value>) -> bool {
    entry.iter().all(|(k, v)| coordinates.get(k) == Some(v))
}

/// The combinations of a matrix: kept ones, `exclude`d ones and added `include` entries.
struct Combinations {
    kept: Vec<Map<String, Value>>,
    excluded: Vec<Map<String, Value>>,
    included: Vec<Map<String, Value>>,
}

/// The product in canonical order minus `exclude`, plus `include`; limits checked.
/// Enumeration stops as soon as more than `max` combinations are kept (without `exclude`, the
/// product alone decides, before anything is built); the excluded combinations are collected
/// only if `record_excluded` (the expansion manifest lists them; running does not need them).
fn combinations(
    matrix: &Matrix,
    axes: &[ResolvedAxis],
    max: usize,
    record_excluded: bool,
) -> Result<Combinations, ExpandError> {
    let max_u64 = u64::try_from(max).unwrap_or(u64::MAX);
    let product = product_size(axes);
    if product > MAX_PRODUCT.max(max_u64) || (matrix.exclude.is_empty() && product > max_u64) {
        return Err(ExpandError::TooMany {
            count: product,
            max: max_u64,
        });
    }
    let mut kept: Vec<Map<String, Value>> = Vec::new();
    let mut excluded = Vec::new();
    // An odometer over the axes; the last axis varies fastest.
    let mut digits = vec![0usize; axes.len()];
    if product > 0 {
        'product: loop {
            let mut coordinates = Map::with_capacity(axes.len());
            for (axis, &d) in axes.iter().zip(&digits) {
                coordinates.insert(axis.name.clone(), axis.values[d].clone());
            }
            if matrix.exclude.iter().any(|e| matches(&coordinates, e)) {
                if record_excluded {
                    excluded.push(coordinates);
                }
            } else {
                kept.push(coordinates);
                if kept.len() > max {
                    return Err(ExpandError::TooMany {
                        count: u64::try_from(kept.len()).unwrap_or(u64::MAX),
                        max: max_u64,
                    });
                }
            }
            let mut k = axes.len();
            loop {
                if k == 0 {
                    break 'product;
                }
                k -= 1;
                digits[k] += 1;
                if digits[k] < axes[k].values.len() {
                    continue 'product;
                }
                digits[k] = 0;
            }
        }
    }
    let mut included = Vec::new();
    for entry in &matrix.include {
        if !kept.iter().any(|c| c == entry) && !included.contains(entry) {
            included.push(entry.clone());
        }
    }
    let count = kept.len() + included.len();
    if count > max {
        return Err(ExpandError::TooMany {
            count: u64::try_from(count).unwrap_or(u64::MAX),
            max: max_u64,
        });
    }
    if count == 0 {
        return Err(ExpandError::NoInstances);
    }
    Ok(Combinations {
        kept,
        excluded,
        included,
    })
}

/// How many instances `matrix` expands into over `axes` (no ids computed), with the same
/// checks as [`expand`] but the uniqueness of ids.
pub fn count(matrix: &Matrix, axes: &[ResolvedAxis], max: usize) -> Result<usize, ExpandError> {
    combinations(matrix, axes, max, false).map(|c| c.kept.len() + c.included.len())
}

/// Expands `matrix` of node `node` over resolved `axes`: the product in canonical order (axes
/// in the order written, the first varying slowest; each axis's values in order), minus the
/// combinations matching an `exclude` entry, plus the `include` entries not already present,
/// in order. More than `max` instances is [`ExpandError::TooMany`]; none at all is
/// [`ExpandError::NoInstances`]. Two instances with the same id (equal coordinates from
/// duplicate values, or a hash collision) are [`ExpandError::Invalid`].
pub fn expand(
    node: &str,
    matrix: &Matrix,
    axes: Vec<ResolvedAxis>,
    max: usize,
) -> Result<Expansion, ExpandError> {
    expand_with(node, matrix, axes, max, true)
}

/// [`expand`], collecting the excluded combinations only if `record_excluded`.
pub(crate) fn expand_with(
    node: &str,
    matrix: &Matrix,
    axes: Vec<ResolvedAxis>,
    max: usize,
    record_excluded: bool,
) -> Result<Expansion, ExpandError> {
    let Combinations {
        kept,
        excluded,
        included,
    } = combinations(matrix, &axes, max, record_excluded)?;
    let count = kept.len() + included.len();
    let mut seen = HashSet::with_capacity(count);
    let mut instances = Vec::with_capacity(count);
    for (ordinal, coordinates) in kept.into_iter().chain(included.iter().cloned()).enumerate() {
        let id = instance_id(node, &coordinates);
        if !seen.insert(id.clone()) {
            return Err(ExpandError::Invalid(format!(
                "two instances of the matrix have the same coordinates or id `{id}` (does an axis list a value twice?)"
            )));
        }
        instances.push(Instance {
            ordinal,
            id,
            coordinates,
        });
    }
    Ok(Expansion {
        node: node.to_string(),
        axes,
        excluded,
        included,
        instances,
    })
}

impl Expansion {
    /// The expansion manifest entry of this matrix: the axes with their sources and values,
    /// the excluded and included combinations, and every instance (ordinal, id,
    /// coordinates), in a deterministic order.
    pub fn manifest(&self) -> Value {
        json!({
            "node": self.node,
            "axes": self.axes.iter().map(|a| json!({
                "name": a.name,
                "source": a.source,
                "values": a.values,
            })).collect::<Vec<_>>(),
            "excluded": self.excluded,
            "included": self.included,
            "count": self.instances.len(),
            "instances": self.instances.iter().map(|i| json!({
                "ordinal": i.ordinal,
                "id": i.id,
                "coordinates": i.coordinates,
            })).collect::<Vec<_>>(),
        })
    }

    /// `sha256:<hex>` over the instance ids in order: what `MatrixExpanded` journals, so a
    /// fold that re-derives the instances can check it got the same ones.
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        for i in &self.instances {
            hasher.update(i.id.as_bytes());
            hasher.update(b"\n");
        }
        let mut out = String::from("sha256:");
        for b in hasher.finalize() {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}
