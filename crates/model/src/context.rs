//! Context items: background material attached to Goals, Plans, nodes and Executions.

use crate::common::DnsLabel;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A piece of context, discriminated by `format`: `markdown` and `text` carry a `content`
/// string, `json` carries any JSON `content`, `uri-list` carries `uris`.
///
/// Context is not for secrets: reference them as `secret://…`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "format")]
#[schemars(transform = crate::common::add_discriminator)]
pub enum ContextItem {
    /// Markdown text in `content`.
    #[serde(rename = "markdown")]
    Markdown(TextContext),
    /// Plain text in `content`.
    #[serde(rename = "text")]
    Text(TextContext),
    /// Any JSON value in `content`.
    #[serde(rename = "json")]
    Json(JsonContext),
    /// A list of URI references in `uris`.
    #[serde(rename = "uri-list")]
    UriList(UriListContext),
}

impl ContextItem {
    /// The optional name of the item.
    pub fn name(&self) -> Option<&DnsLabel> {
        match self {
            ContextItem::Markdown(c) | ContextItem::Text(c) => c.name.as_ref(),
            ContextItem::Json(c) => c.name.as_ref(),
            ContextItem::UriList(c) => c.name.as_ref(),
        }
    }

    /// The `format` tag as written.
    pub fn format(&self) -> &'static str {
        match self {
            ContextItem::Markdown(_) => "markdown",
            ContextItem::Text(_) => "text",
            ContextItem::Json(_) => "json",
            ContextItem::UriList(_) => "uri-list",
        }
    }
}

/// A `markdown` or `text` context item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct TextContext {
    /// Optional name of the item, unique within its list by convention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<DnsLabel>,
    /// The text.
    pub content: String,
}

/// A `json` context item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct JsonContext {
    /// Optional name of the item, unique within its list by convention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<DnsLabel>,
    /// Any JSON value.
    pub content: Value,
}

/// A `uri-list` context item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct UriListContext {
    /// Optional name of the item, unique within its list by convention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<DnsLabel>,
    /// URI references (`doc://…`, `repo://…`, relative paths); at least one.
    #[schemars(
        length(min = 1),
        extend("items" = {"type": "string", "format": "uri-reference"})
    )]
    pub uris: Vec<String>,
}
