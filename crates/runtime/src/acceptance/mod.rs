//! Acceptance checks: the typed criteria a Task declares, evaluated after its provider
//! succeeded.
//!
//! | type | passes when |
//! |---|---|
//! | `artifact_exists` | `path` exists (file or directory); with `contentMatch`, it is a file whose first 16 MiB match the regex |
//! | `command_succeeds` | `command args…` exits with `expectedExitCode` (default 0); with `outputMatch`, stdout or stderr (first 1 MiB each) matches |
//! | `test_passes` | `command args…` exits with `expectedExitCode` |
//! | `endpoint_responds` | a `method` request to `url` answers `expectedStatus` (redirects are not followed); with `bodyMatch`, the body's first 1 MiB matches |
//! | `custom` | see below |
//! | `manual` | never by itself: the result is [`CriterionStatus::NeedsPerson`] |
//!
//! **Paths and commands resolve against the Execution's work directory**
//! ([`CriteriaContext::work_dir`]): a relative `path` is joined to it, commands run in it, and
//! a relative program containing `/` (`./check.sh`) is taken from it. Absolute paths are used as
//! they are. Commands get the runtime's environment plus [`CriteriaContext::env`], no stdin, and
//! run in their own process group, terminated on timeout like the `exec` provider's.
//!
//! A criterion without its own `timeout` gets [`CriteriaContext::timeout`].
//!
//! `custom` POSTs `{"criterion", "execution", "node", "payload", "outputs"}` to `webhookUrl`.
//! The answer's status must be `expectedResponse.statusCode` (default: any 2xx) and its body
//! must match `expectedResponse.bodyMatch` if given. Then, if the body is a JSON object with a
//! boolean `passed`, that decides (its `message`, if a string, is reported). Without
//! `passed`, the criterion passes only if an `expectedResponse` was given (and held).
//!
//! Criteria are evaluated one after another, in order; each gets a result, so a report shows
//! every failure, not only the first.

mod artifact;
mod command;
mod web;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use planspec_model::plan::AcceptanceCriterion;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::http_client;

/// Default time a criterion may take when neither it nor the context says.
pub const DEFAULT_CRITERION_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest message a result carries (they end up in status objects).
const MAX_MESSAGE: usize = 1024;

/// What criteria are evaluated against.
#[derive(Debug, Clone)]
pub struct CriteriaContext {
    /// The Execution, `namespace/name` (sent to `custom` webhooks).
    pub execution: String,
    /// The node (sent to `custom` webhooks).
    pub node_id: String,
    /// The Execution's work directory: relative paths resolve here, commands run here.
    pub work_dir: PathBuf,
    /// Extra environment variables for commands.
    pub env: BTreeMap<String, String>,
    /// The Task's outputs (sent to `custom` webhooks).
    pub outputs: Map<String, Value>,
    /// Time limit of a criterion that declares none.
    pub timeout: Duration,
    /// Stops a running check; the remaining criteria fail as cancelled.
    pub cancel: CancellationToken,
}

impl CriteriaContext {
    /// A context with no extra environment, no outputs, the default timeout and a fresh
    /// cancellation token.
    pub fn new(
        execution: impl Into<String>,
        node_id: impl Into<String>,
        work_dir: impl Into<PathBuf>,
    ) -> CriteriaContext {
        CriteriaContext {
            execution: execution.into(),
            node_id: node_id.into(),
            work_dir: work_dir.into(),
            env: BTreeMap::new(),
            outputs: Map::new(),
            timeout: DEFAULT_CRITERION_TIMEOUT,
            cancel: CancellationToken::new(),
        }
    }
}

/// How one criterion came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CriterionStatus {
    /// The check held.
    Passed,
    /// The check did not hold (or could not be performed).
    Failed,
    /// A person must decide (`manual`).
    NeedsPerson,
}

/// The result of one criterion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CriterionResult {
    /// The criterion's name.
    pub name: String,
    /// Its `type` (`artifact_exists`, …).
    #[serde(rename = "type")]
    pub type_name: String,
    /// `false` for advisory criteria.
    pub required: bool,
    /// How it came out.
    pub status: CriterionStatus,
    /// Why (at most 1 KiB).
    pub message: String,
}

impl CriterionResult {
    /// `true` if the check held.
    pub fn passed(&self) -> bool {
        self.status == CriterionStatus::Passed
    }
}

/// What the results mean for the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "camelCase")]
pub enum AcceptanceVerdict {
    /// Every required criterion passed.
    Passed,
    /// A required criterion failed: the node fails, naming it (the first one, in order).
    Failed {
        /// The failed criterion's name.
        criterion: String,
        /// Why it failed.
        message: String,
    },
    /// No required criterion failed, but these required `manual` ones need a person.
    NeedsPerson {
        /// Their names, in order.
        criteria: Vec<String>,
    },
}

/// Folds results into the node's verdict. Advisory (`required: false`) criteria never decide.
pub fn verdict(results: &[CriterionResult]) -> AcceptanceVerdict {
    let required = results.iter().filter(|r| r.required);
    if let Some(failed) = required
        .clone()
        .find(|r| r.status == CriterionStatus::Failed)
    {
        return AcceptanceVerdict::Failed {
            criterion: failed.name.clone(),
            message: failed.message.clone(),
        };
    }
    let waiting: Vec<String> = required
        .filter(|r| r.status == CriterionStatus::NeedsPerson)
        .map(|r| r.name.clone())
        .collect();
    if waiting.is_empty() {
        AcceptanceVerdict::Passed
    } else {
        AcceptanceVerdict::NeedsPerson { criteria: waiting }
    }
}

/// Evaluates criteria with a shared HTTP client (keep one per runtime).
#[derive(Debug, Clone)]
pub struct Evaluator {
    client: Result<reqwest::Client, String>,
}

impl Evaluator {
    /// An evaluator with its own connection pool. If the HTTP client cannot be built, the HTTP
    /// criteria fail with that reason; the others still run.
    pub fn new() -> Evaluator {
        Evaluator {
            client: http_client::build().map_err(|e| http_client::describe(&e)),
        }
    }

    /// Evaluates every criterion, in order.
    pub async fn evaluate(
        &self,
        criteria: &[AcceptanceCriterion],
        ctx: &CriteriaContext,
    ) -> Vec<CriterionResult> {
        let mut results = Vec::with_capacity(criteria.len());
        for criterion in criteria {
            let (status, message) = if ctx.cancel.is_cancelled() {
                (CriterionStatus::Failed, "cancelled".to_string())
            } else {
                self.check(criterion, ctx).await
            };
            results.push(CriterionResult {
                name: criterion.name().to_string(),
                type_name: criterion.type_name().to_string(),
                required: criterion.is_required(),
                status,
                message: bounded(message),
            });
        }
        results
    }

    async fn check(
        &self,
        criterion: &AcceptanceCriterion,
        ctx: &CriteriaContext,
    ) -> (CriterionStatus, String) {
        let outcome = match criterion {
            AcceptanceCriterion::ArtifactExists(c) => artifact::check(c, ctx).await,
            AcceptanceCriterion::CommandSucceeds(c) => command::check_command(c, ctx).await,
            AcceptanceCriterion::TestPasses(c) => command::check_test(c, ctx).await,
            AcceptanceCriterion::EndpointResponds(c) => match &self.client {
                Ok(client) => web::check_endpoint(client, c, ctx).await,
                Err(e) => Err(format!("no HTTP client: {e}")),
            },
            AcceptanceCriterion::Custom(c) => match &self.client {
                Ok(client) => web::check_custom(client, c, ctx).await,
                Err(e) => Err(format!("no HTTP client: {e}")),
            },
            AcceptanceCriterion::Manual(c) => {
                return (
                    CriterionStatus::NeedsPerson,
                    c.description
                        .clone()
                        .unwrap_or_else(|| "a person must confirm this criterion".into()),
                )
            }
        };
        match outcome {
            Ok(message) => (CriterionStatus::Passed, message),
            Err(message) => (CriterionStatus::Failed, message),
        }
    }
}

impl Default for Evaluator {
    fn default() -> Self {
        Evaluator::new()
    }
}

/// Evaluates every criterion, in order, with a fresh [`Evaluator`].
pub async fn evaluate(
    criteria: &[AcceptanceCriterion],
    ctx: &CriteriaContext,
) -> Vec<CriterionResult> {
    Evaluator::new().evaluate(criteria, ctx).await
}

/// The time limit of a criterion: its own `timeout`, else the context's.
fn time_limit(
    own: Option<&planspec_model::common::Duration>,
    ctx: &CriteriaContext,
) -> Result<Duration, String> {
    match own {
        None => Ok(ctx.timeout),
        Some(d) => d
            .to_std()
            .ok_or_else(|| format!("`timeout` `{}` is not a duration", d.as_str())),
    }
}

/// Compiles a criterion's regex (bytes mode, so non-UTF-8 content can be searched).
fn compile(field: &str, pattern: &str) -> Result<regex::bytes::Regex, String> {
    regex::bytes::RegexBuilder::new(pattern)
        .size_limit(1 << 22)
        .build()
        .map_err(|e| format!("`{field}` is not a valid regular expression: {e}"))
}

fn bounded(mut message: String) -> String {
    if message.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, required: bool, status: CriterionStatus) -> CriterionResult {
        CriterionResult {
            name: name.into(),
            type_name: "x".into(),
            required,
            status,
            message: String::new(),
        }
    }

    #[test]
    fn verdict_names_the_first_failed_required_criterion() {
        use CriterionStatus::*;
        assert_eq!(verdict(&[]), AcceptanceVerdict::Passed);
        assert_eq!(
            verdict(&[
                result("advisory", false, Failed),
                result("ok", true, Passed),
                result("manual", true, NeedsPerson),
                result("broken", true, Failed),
                result("later", true, Failed),
            ]),
            AcceptanceVerdict::Failed {
                criterion: "broken".into(),
                message: String::new()
            }
        );
        assert_eq!(
            verdict(&[
                result("m", true, NeedsPerson),
                result("optional", false, NeedsPerson)
            ]),
            AcceptanceVerdict::NeedsPerson {
                criteria: vec!["m".into()]
            }
        );
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let m = bounded("é".repeat(MAX_MESSAGE));
        assert!(m.len() <= MAX_MESSAGE + '…'.len_utf8());
        assert!(m.ends_with('…'));
    }
}
