//! A `Placeholder` node → its [`PlaceholderConfig`], refusing a schema that does not compile
//! or a rule that does not parse (the validator reports both first, as PS0445 and PS0446).

use super::CompileError;
use crate::placeholder::{check_rule, compile_schema, PlaceholderConfig};
use planspec_model::plan::PlaceholderNode;

pub(super) fn config(node: &PlaceholderNode) -> Result<PlaceholderConfig, CompileError> {
    let bad = |message: String| CompileError::InvalidPlaceholder {
        node: node.id.to_string(),
        message,
    };
    if let Some(schema) = &node.schema {
        compile_schema(schema)
            .map_err(|why| bad(format!("`schema` is not a usable JSON Schema: {why}")))?;
    }
    for (k, rule) in node.rules.iter().enumerate() {
        check_rule(&rule.expression).map_err(|why| bad(format!("`rules[{k}]`: {why}")))?;
    }
    Ok(PlaceholderConfig {
        description: node.description.clone(),
        value_type: node.placeholder_type,
        schema: node.schema.clone(),
        rules: node.rules.clone(),
        selector: node.selector.clone(),
        resolver_ref: node.resolver_ref.clone(),
    })
}
