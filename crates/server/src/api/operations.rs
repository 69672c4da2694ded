//! Operations on running work, beyond CRUD: cancel, retry, complete and fail a node, review a
//! Gate, and the read-only views of an Execution — its journal, its node records, its logs.
//!
//! The writes go to the runtime ([`RuntimeHandle`]) and return once the request is journaled;
//! the reads come from the store (journal, node table) and the runtime's data directory (logs).
//! Every answer is the Kubernetes shape the rest of the API uses: the object, or a `Status`.

use super::{key, store_error, Api};
use crate::controllers::{self, Review};
use crate::resource::ResourceType;
use crate::status::Status;
use planspec_model::actor::UserInfo;
use planspec_model::gate::ReviewAction;
use planspec_model::Kind;
use planspec_runtime::{LogReader, RuntimeError, RuntimeHandle};
use planspec_store::{NodeRecordQuery, StoredObject};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

const EXECUTION: ResourceType = ResourceType::Kind(Kind::Execution);

/// Most journal entries or node records returned per page.
pub const MAX_PAGE: usize = 5_000;

/// Most log bytes returned per call.
pub const MAX_LOG_CHUNK: usize = 1024 * 1024;

/// What `POST …/executions/NAME/{cancel,retry}` and `…/nodes/NODE/{complete,fail}` ask.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// Cancel; `force` kills running attempts.
    Cancel {
        /// Kill running attempts.
        force: bool,
    },
    /// Retry the failed nodes, or `from` and what depends on it.
    Retry {
        /// The node to re-run from.
        from: Option<String>,
    },
    /// Finish a node waiting for a person as succeeded.
    Complete {
        /// The node.
        node: String,
        /// Its outputs.
        outputs: Map<String, Value>,
    },
    /// Fill a Placeholder waiting for a person with a value.
    Resolve {
        /// The Placeholder node.
        node: String,
        /// The value.
        value: Value,
    },
    /// Finish a node waiting for a person as failed.
    Fail {
        /// The node.
        node: String,
        /// Why.
        message: String,
    },
}

fn runtime_status(name: &str, error: RuntimeError) -> Status {
    match error {
        RuntimeError::NotFound(what) if what.starts_with("node") => Status::failure(
            404,
            crate::status::Reason::NotFound,
            format!("{what} of execution {name} not found"),
        ),
        RuntimeError::NotFound(_) => Status::not_found(EXECUTION, name),
        RuntimeError::Conflict(why) => Status::conflict(EXECUTION, name, &why),
        RuntimeError::Invalid(why) => Status::bad_request(why),
        RuntimeError::Rejected(rejection) => super::resolve::rejected(name, &rejection),
        RuntimeError::Unavailable(why) => {
            Status::failure(503, crate::status::Reason::ServiceUnavailable, why)
        }
    }
}

impl Api {
    fn runtime(&self) -> Result<&RuntimeHandle, Status> {
        self.runtime_handle().ok_or_else(|| {
            Status::failure(
                503,
                crate::status::Reason::ServiceUnavailable,
                "this server runs no executions (it was started without a runtime)",
            )
        })
    }

    async fn execution(&self, namespace: &str, name: &str) -> Result<StoredObject, Status> {
        self.store()
            .get(&key(EXECUTION, namespace, name))
            .await
            .map_err(|e| store_error(EXECUTION, name, e))?
            .ok_or_else(|| Status::not_found(EXECUTION, name))
    }

    /// Carries out `operation` on the Execution `namespace/name` for `actor`; returns the
    /// Execution as it is once the request is journaled.
    pub async fn operate(
        &self,
        namespace: &str,
        name: &str,
        operation: Operation,
        actor: Option<String>,
    ) -> Result<Value, Status> {
        let runtime = self.runtime()?.clone();
        let execution = self.execution(namespace, name).await?;
        let uid = execution.uid.as_str();
        let result = match operation {
            Operation::Cancel { force } => runtime.cancel(uid, force, actor).await,
            Operation::Retry { from } => runtime.retry(uid, from, actor).await,
            Operation::Complete { node, outputs } => {
                runtime.complete(uid, &node, outputs, actor).await
            }
            Operation::Resolve { node, value } => runtime.resolve(uid, &node, value, actor).await,
            Operation::Fail { node, message } => {
                if message.trim().is_empty() {
                    return Err(Status::bad_request("failing a node needs a message"));
                }
                runtime.fail(uid, &node, message, actor).await
            }
        };
        result.map_err(|e| runtime_status(name, e))?;
        Ok(self.execution(namespace, name).await?.object)
    }

    /// Records a review of the Gate `namespace/name` by `reviewer`; see [`controllers::review`].
    pub async fn review_gate(
        &self,
        namespace: &str,
        name: &str,
        action: ReviewAction,
        comment: Option<String>,
        values: Option<Map<String, Value>>,
        reviewer: UserInfo,
    ) -> Result<Value, Status> {
        controllers::review(
            self,
            namespace,
            name,
            Review {
                reviewer,
                action,
                comment,
                values,
            },
        )
        .await
    }

    /// One page of the Execution's journal: entries from `from` (0-based), at most `limit`.
    pub async fn journal(
        &self,
        namespace: &str,
        name: &str,
        from: u64,
        limit: usize,
    ) -> Result<Value, Status> {
        let execution = self.execution(namespace, name).await?;
        let limit = limit.clamp(1, MAX_PAGE);
        let entries = self
            .store()
            .read_journal(&execution.uid, from, limit)
            .await
            .map_err(|e| store_error(EXECUTION, name, e))?;
        let total = self
            .store()
            .journal_len(&execution.uid)
            .await
            .map_err(|e| store_error(EXECUTION, name, e))?;
        let next = entries.last().map(|e| e.seq + 1).unwrap_or(from);
        let items: Vec<Value> = entries
            .into_iter()
            .map(|e| json!({"seq": e.seq, "entry": e.entry}))
            .collect();
        let mut metadata = json!({"total": total});
        if next < total {
            metadata["continue"] = json!(next.to_string());
        }
        Ok(
            json!({"apiVersion": "planspec.io/v1alpha1", "kind": "ExecutionJournal",
                  "metadata": metadata, "execution": name, "uid": execution.uid, "items": items}),
        )
    }

    /// One page of the Execution's node records, in node-id order, optionally of one phase
    /// and of one matrix node's instances.
    pub async fn node_records(
        &self,
        namespace: &str,
        name: &str,
        phase: Option<String>,
        matrix: Option<String>,
        limit: Option<usize>,
        continue_after: Option<String>,
    ) -> Result<Value, Status> {
        let execution = self.execution(namespace, name).await?;
        let page = self
            .store()
            .list_node_records(&NodeRecordQuery {
                execution_uid: execution.uid.clone(),
                phase,
                matrix,
                limit: Some(limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE)),
                continue_after,
            })
            .await
            .map_err(|e| store_error(EXECUTION, name, e))?;
        let mut metadata = json!({});
        if let Some(c) = page.continue_after {
            metadata["continue"] = json!(c);
        }
        let items: Vec<Value> = page.records.into_iter().map(|r| r.record).collect();
        Ok(
            json!({"apiVersion": "planspec.io/v1alpha1", "kind": "ExecutionNodeList",
                  "metadata": metadata, "execution": name, "items": items}),
        )
    }

    /// Up to `max` bytes of the log of `node`'s `attempt` (the latest when `None`) from
    /// `offset`; `complete` says whether the attempt's log is closed.
    pub async fn logs(
        &self,
        namespace: &str,
        name: &str,
        node: &str,
        attempt: Option<u32>,
        offset: u64,
        max: usize,
    ) -> Result<LogChunk, Status> {
        let execution = self.execution(namespace, name).await?;
        let dir = self
            .log_root()
            .ok_or_else(|| Status::not_found(EXECUTION, name))?
            .join("executions")
            .join(&execution.uid)
            .join("logs")
            .join(node_dir(node)?);
        let attempt = match attempt {
            Some(a) => a,
            None => latest_attempt(&dir).await.ok_or_else(|| {
                Status::failure(
                    404,
                    crate::status::Reason::NotFound,
                    format!("node {node} of execution {name} has no logs (yet)"),
                )
            })?,
        };
        let path = dir.join(format!("{attempt}.log"));
        if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Err(Status::failure(
                404,
                crate::status::Reason::NotFound,
                format!("node {node} of execution {name} has no log for attempt {attempt}"),
            ));
        }
        let mut reader = LogReader::new(&path, offset);
        let data = reader
            .read(max.clamp(1, MAX_LOG_CHUNK))
            .await
            .map_err(Status::internal_error)?;
        let complete = reader.is_complete().await;
        Ok(LogChunk {
            attempt,
            offset: reader.offset(),
            data,
            complete,
        })
    }
}

/// A piece of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    /// The attempt whose log this is.
    pub attempt: u32,
    /// Where the next read starts.
    pub offset: u64,
    /// The bytes.
    pub data: Vec<u8>,
    /// `true` once the attempt's log is closed and everything was read.
    pub complete: bool,
}

/// A node id as a directory name: a DNS label, nothing else (no `..`, no `/`).
fn node_dir(node: &str) -> Result<PathBuf, Status> {
    let ok = !node.is_empty()
        && node.len() <= 253
        && node
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !node.starts_with('.');
    if ok {
        Ok(PathBuf::from(node))
    } else {
        Err(Status::bad_request(format!("`{node}` is not a node id")))
    }
}

async fn latest_attempt(dir: &std::path::Path) -> Option<u32> {
    let mut entries = tokio::fs::read_dir(dir).await.ok()?;
    let mut best = None;
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name
            .strip_suffix(".log")
            .and_then(|n| n.parse::<u32>().ok())
        {
            best = best.max(Some(n));
        }
    }
    best
}
