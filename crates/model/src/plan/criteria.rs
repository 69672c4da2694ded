//! Typed acceptance criteria of a Task, discriminated by `type`.
//!
//! Every variant repeats the common fields (`name`, `description`, `required`).

use crate::common::{Duration, RegexPattern};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A check that decides whether a Task succeeded, discriminated by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[schemars(transform = crate::common::add_discriminator)]
pub enum AcceptanceCriterion {
    /// A file or directory exists (and optionally matches a regex).
    ArtifactExists(ArtifactExistsCriterion),
    /// A test command exits with the expected code.
    TestPasses(TestPassesCriterion),
    /// A command exits with the expected code (and optionally prints matching output).
    CommandSucceeds(CommandSucceedsCriterion),
    /// An HTTP endpoint answers with the expected status.
    EndpointResponds(EndpointRespondsCriterion),
    /// A webhook decides.
    Custom(CustomCriterion),
    /// A person confirms (PlanSpec extension; the form legacy prose criteria are read as).
    Manual(ManualCriterion),
}

impl AcceptanceCriterion {
    /// The `type` tag as written.
    pub fn type_name(&self) -> &'static str {
        match self {
            AcceptanceCriterion::ArtifactExists(_) => "artifact_exists",
            AcceptanceCriterion::TestPasses(_) => "test_passes",
            AcceptanceCriterion::CommandSucceeds(_) => "command_succeeds",
            AcceptanceCriterion::EndpointResponds(_) => "endpoint_responds",
            AcceptanceCriterion::Custom(_) => "custom",
            AcceptanceCriterion::Manual(_) => "manual",
        }
    }

    /// The criterion's name.
    pub fn name(&self) -> &str {
        match self {
            AcceptanceCriterion::ArtifactExists(c) => &c.name,
            AcceptanceCriterion::TestPasses(c) => &c.name,
            AcceptanceCriterion::CommandSucceeds(c) => &c.name,
            AcceptanceCriterion::EndpointResponds(c) => &c.name,
            AcceptanceCriterion::Custom(c) => &c.name,
            AcceptanceCriterion::Manual(c) => &c.name,
        }
    }

    /// `false` if the criterion is advisory only.
    pub fn is_required(&self) -> bool {
        match self {
            AcceptanceCriterion::ArtifactExists(c) => c.required,
            AcceptanceCriterion::TestPasses(c) => c.required,
            AcceptanceCriterion::CommandSucceeds(c) => c.required,
            AcceptanceCriterion::EndpointResponds(c) => c.required,
            AcceptanceCriterion::Custom(c) => c.required,
            AcceptanceCriterion::Manual(c) => c.required,
        }
    }
}

/// `manual`: a person confirms the criterion when the Task completes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ManualCriterion {
    /// Name of the criterion, unique within the Task (1–253 characters).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// What the person checks (at most 1024 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,
    /// `true` (default) if the Task fails when the check fails; `false` for advisory checks.
    #[serde(default = "crate::defaults::yes")]
    pub required: bool,
}

/// `artifact_exists`: a path exists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ArtifactExistsCriterion {
    /// Name of the criterion, unique within the Task (1–253 characters).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// What the criterion checks (at most 1024 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,
    /// `true` (default) if the Task fails when the check fails; `false` for advisory checks.
    #[serde(default = "crate::defaults::yes")]
    pub required: bool,
    /// Path of the file or directory (1–4096 characters).
    #[schemars(length(min = 1, max = 4096))]
    pub path: String,
    /// Regular expression the file content must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_match: Option<RegexPattern>,
}

/// `test_passes`: a test command exits with the expected code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct TestPassesCriterion {
    /// Name of the criterion, unique within the Task (1–253 characters).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// What the criterion checks (at most 1024 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,
    /// `true` (default) if the Task fails when the check fails; `false` for advisory checks.
    #[serde(default = "crate::defaults::yes")]
    pub required: bool,
    /// The program to run.
    #[schemars(length(min = 1))]
    pub command: String,
    /// Arguments passed to the program.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Exit code that means success (default 0).
    #[serde(default = "crate::defaults::zero_i32")]
    pub expected_exit_code: i32,
    /// How long the command may run, as a Go duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// `command_succeeds`: a command exits with the expected code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct CommandSucceedsCriterion {
    /// Name of the criterion, unique within the Task (1–253 characters).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// What the criterion checks (at most 1024 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,
    /// `true` (default) if the Task fails when the check fails; `false` for advisory checks.
    #[serde(default = "crate::defaults::yes")]
    pub required: bool,
    /// The program to run.
    #[schemars(length(min = 1))]
    pub command: String,
    /// Arguments passed to the program.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Exit code that means success (default 0).
    #[serde(default = "crate::defaults::zero_i32")]
    pub expected_exit_code: i32,
    /// Regular expression the command's output must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_match: Option<RegexPattern>,
    /// How long the command may run, as a Go duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// HTTP method of an `endpoint_responds` check: `GET` (default), `POST`, `PUT`, `DELETE`,
/// `HEAD`, `OPTIONS` or `PATCH`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
#[allow(missing_docs)] // values are listed in the type's doc (variant docs would turn `enum` into `oneOf`)
pub enum HttpMethod {
    #[default]
    Get,
    Post,
    Put,
    Delete,
    Head,
    Options,
    Patch,
}

/// `endpoint_responds`: an HTTP endpoint answers with the expected status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct EndpointRespondsCriterion {
    /// Name of the criterion, unique within the Task (1–253 characters).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// What the criterion checks (at most 1024 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,
    /// `true` (default) if the Task fails when the check fails; `false` for advisory checks.
    #[serde(default = "crate::defaults::yes")]
    pub required: bool,
    /// The URL to call.
    #[schemars(url)]
    pub url: String,
    /// HTTP method (default `GET`).
    #[serde(default)]
    pub method: HttpMethod,
    /// Status code that means success, 100–599 (default 200).
    #[serde(default = "crate::defaults::http_ok")]
    #[schemars(range(min = 100, max = 599))]
    pub expected_status: u16,
    /// Regular expression the response body must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_match: Option<RegexPattern>,
    /// How long the request may take, as a Go duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// `custom`: a webhook decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct CustomCriterion {
    /// Name of the criterion, unique within the Task (1–253 characters).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// What the criterion checks (at most 1024 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,
    /// `true` (default) if the Task fails when the check fails; `false` for advisory checks.
    #[serde(default = "crate::defaults::yes")]
    pub required: bool,
    /// The webhook that evaluates the criterion.
    #[schemars(url)]
    pub webhook_url: String,
    /// Free-form payload sent to the webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Map<String, Value>>,
    /// What the webhook must answer for the criterion to pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_response: Option<ExpectedResponse>,
    /// How long the webhook may take, as a Go duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// The answer a `custom` criterion's webhook must give.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ExpectedResponse {
    /// Expected HTTP status code (100–599).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100, max = 599))]
    pub status_code: Option<u16>,
    /// Regular expression the response body must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_match: Option<RegexPattern>,
}
