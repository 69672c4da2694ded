//! `planspec audit list` and `planspec audit verify`: the server's hash-chained audit log
//! (`GET /apis/planspec.io/v1alpha1/auditrecords`), or a store file's, read offline.
//!
//! `verify` reads the whole chain page by page and checks every record with
//! `planspec_model::audit::ChainVerifier` — the code the server's store uses to seal them —
//! then that the chain ends exactly at the head the store recorded. It reports the first
//! broken record: edited, deleted, inserted, reordered, or a truncated tail.

use clap::{Args, Subcommand, ValueEnum};
use planspec_model::audit::{AuditRecord, ChainError, ChainHead, ChainVerifier};
use planspec_store::sqlite::AuditFile;
use planspec_store::AuditQuery;
use serde_json::json;

use crate::cli::ClientArgs;
use crate::client::{encode, Client};
use crate::error::{emit, usage, Exit, Failure, Outcome};
use crate::term::escape_line;

use super::resources::{connect, server_error};

/// The audit log's path.
pub const AUDIT_RECORDS: &str = "/apis/planspec.io/v1alpha1/auditrecords";
/// Records per page read.
const PAGE: usize = 5000;

/// `planspec audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// What `audit` does.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List the newest audit records (who did what, when, and how it ended).
    List(ListArgs),
    /// Check the whole audit chain: every hash link and the recorded head (exit 1 if broken).
    #[command(after_help = "Examples:\n  \
        planspec audit verify\n  \
        planspec audit verify --store sqlite:/var/lib/planspec/planspec.db\n  \
        planspec audit verify --anchor 1200:9f86d0…   # a head printed by an earlier verify\n\n\
        Exit codes: 0 intact, 1 broken (or a failure), 2 usage error.")]
    Verify(VerifyArgs),
}

/// How `audit list` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Aligned columns.
    Table,
    /// JSON (an `AuditRecordList`).
    Json,
    /// YAML.
    Yaml,
}

/// `planspec audit list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show the newest N matching records (`0`: all).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: usize,
    /// Only records of this user.
    #[arg(long, value_name = "USER")]
    pub actor: Option<String>,
    /// Only records about this resource (plural: `executions`, `gates` …).
    #[arg(long, value_name = "RESOURCE")]
    pub resource: Option<String>,
    /// Only records about the namespace given with -n/--namespace (by default, every
    /// namespace).
    #[arg(long)]
    pub this_namespace: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = ListFormat::Table)]
    pub output: ListFormat,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `planspec audit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Verify the log of a store file instead of asking the server (read-only; works while a
    /// server uses the file).
    #[arg(long, value_name = "sqlite:PATH")]
    pub store: Option<String>,
    /// A head recorded earlier (`SEQ:HASH`, as verify prints it): the chain must still
    /// contain it, which catches a chain rewritten from scratch.
    #[arg(long, value_name = "SEQ:HASH")]
    pub anchor: Option<String>,
    /// Output: `text` (default) or `json`.
    #[arg(short = 'o', long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub output: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs `audit`.
pub fn run(args: &AuditArgs) -> Outcome {
    match &args.command {
        AuditCommand::List(a) => list(a),
        AuditCommand::Verify(a) => verify(a),
    }
}

/// Where records are read from.
enum Source {
    Server(Client),
    File(AuditFile),
}

/// One page: records, the head, whether more follow.
struct Page {
    records: Vec<AuditRecord>,
    head: ChainHead,
    more: bool,
}

impl Source {
    fn page(&self, query: &AuditQuery) -> Result<Page, Failure> {
        match self {
            Source::File(file) => {
                let page = file
                    .read(query)
                    .map_err(|e| Failure::Message(format!("error: {e}")))?;
                Ok(Page {
                    records: page.records,
                    head: page.head,
                    more: page.more,
                })
            }
            Source::Server(client) => {
                let mut path = format!("{AUDIT_RECORDS}?limit={}", query.limit);
                if query.after_seq > 0 {
                    path.push_str(&format!("&continue={}", query.after_seq));
                }
                for (name, value) in [
                    ("actor", &query.actor),
                    ("namespace", &query.namespace),
                    ("resource", &query.resource),
                ] {
                    if let Some(value) = value {
                        path.push_str(&format!("&{name}={}", encode(value)));
                    }
                }
                let answer = client.get(&path).map_err(server_error)?;
                let records: Vec<AuditRecord> = serde_json::from_value(answer["items"].clone())
                    .map_err(|e| {
                        Failure::Message(format!(
                            "error: the server sent unreadable audit records: {e}"
                        ))
                    })?;
                let head: ChainHead = serde_json::from_value(answer["metadata"]["head"].clone())
                    .map_err(|e| {
                        Failure::Message(format!(
                            "error: the server sent no readable chain head: {e}"
                        ))
                    })?;
                Ok(Page {
                    records,
                    head,
                    more: answer["metadata"]["continue"].is_string(),
                })
            }
        }
    }
}

fn list(args: &ListArgs) -> Outcome {
    let source = Source::Server(connect(&args.client));
    let filters = AuditQuery {
        actor: args.actor.clone(),
        namespace: args.this_namespace.then(|| args.client.ns().to_owned()),
        resource: args.resource.clone(),
        ..AuditQuery::default()
    };
    // Without filters the newest N start right after head - N; with them, read on and keep
    // the last N.
    let mut after = 0;
    if !filters.filters() && args.limit > 0 {
        let probe = source.page(&AuditQuery::after(0, 1))?;
        after = probe.head.seq.saturating_sub(args.limit as u64);
    }
    let mut kept: std::collections::VecDeque<AuditRecord> = Default::default();
    let head = loop {
        let page = source.page(&AuditQuery {
            after_seq: after,
            limit: PAGE,
            ..filters.clone()
        })?;
        if let Some(last) = page.records.last() {
            after = last.seq;
        }
        for record in page.records {
            kept.push_back(record);
            if args.limit > 0 && kept.len() > args.limit {
                kept.pop_front();
            }
        }
        if !page.more {
            break page.head;
        }
    };
    let records: Vec<AuditRecord> = kept.into();
    match args.output {
        ListFormat::Json | ListFormat::Yaml => {
            let value = json!({
                "apiVersion": "planspec.io/v1alpha1",
                "kind": "AuditRecordList",
                "metadata": {"head": head},
                "items": records,
            });
            let text = if args.output == ListFormat::Json {
                format!(
                    "{}\n",
                    serde_json::to_string_pretty(&value).unwrap_or_default()
                )
            } else {
                serde_yaml_ng::to_string(&value).unwrap_or_default()
            };
            emit(&text)?;
        }
        ListFormat::Table => {
            if records.is_empty() {
                crate::error::emit_err("No audit records found.\n");
            } else {
                emit(&table(&records))?;
            }
        }
    }
    Ok(Exit::Success)
}

/// `SEQ TIME ACTOR VERB RESOURCE CODE DECISION REASON`.
fn table(records: &[AuditRecord]) -> String {
    let mut rows: Vec<[String; 8]> = vec![[
        "SEQ", "TIME", "ACTOR", "VERB", "RESOURCE", "CODE", "DECISION", "REASON",
    ]
    .map(str::to_owned)];
    for r in records {
        let e = &r.entry;
        let res = &e.resource;
        let mut what = if res.resource.is_empty() {
            res.path.clone()
        } else {
            let mut what = res.resource.clone();
            if !res.subresource.is_empty() {
                what = format!("{what}/{}", res.subresource);
            }
            match (res.namespace.is_empty(), res.name.is_empty()) {
                (false, false) => format!("{what} {}/{}", res.namespace, res.name),
                (true, false) => format!("{what} {}", res.name),
                (false, true) => format!("{what} -n {}", res.namespace),
                (true, true) => what,
            }
        };
        if what.is_empty() {
            what = "-".to_owned();
        }
        rows.push(
            [
                r.seq.to_string(),
                e.time.clone(),
                e.actor.username.clone(),
                e.verb.clone(),
                what,
                e.outcome
                    .code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "-".into()),
                e.outcome.decision.as_str().to_owned(),
                e.outcome.reason.clone(),
            ]
            .map(|cell| escape_line(&cell).into_owned()),
        );
    }
    let widths: Vec<usize> = (0..8)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            format!("{}\n", cells.join("   ").trim_end())
        })
        .collect()
}

fn parse_anchor(text: &str) -> Result<ChainHead, Failure> {
    let bad = || {
        usage(
            "audit",
            format!(
                "--anchor `{text}` is not SEQ:HASH (as `planspec audit verify` prints the head)"
            ),
        )
    };
    let (seq, hash) = text.split_once(':').ok_or_else(bad)?;
    let seq: u64 = seq.trim().parse().map_err(|_| bad())?;
    let hash = hash.trim().to_ascii_lowercase();
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    Ok(ChainHead { seq, hash })
}

/// What verification found.
struct Verdict {
    checked: u64,
    head: ChainHead,
    broken: Option<ChainError>,
    anchor_missing: Option<String>,
}

fn verify(args: &VerifyArgs) -> Outcome {
    let anchor = args.anchor.as_deref().map(parse_anchor).transpose()?;
    let source = match &args.store {
        Some(url) => {
            let planspec_server::config::StoreLocation::Sqlite(path) =
                planspec_server::config::parse_store(url).map_err(|e| usage("audit", e))?;
            Source::File(
                AuditFile::open(&path).map_err(|e| Failure::Message(format!("error: {e}")))?,
            )
        }
        None => Source::Server(connect(&args.client)),
    };
    let verdict = check(&source, anchor.as_ref())?;
    let ok = verdict.broken.is_none() && verdict.anchor_missing.is_none();
    if args.output == "json" {
        let value = json!({
            "intact": ok,
            "records": verdict.checked,
            "head": verdict.head,
            "brokenAt": verdict.broken.as_ref().map(ChainError::seq),
            "error": verdict.broken.as_ref().map(|e| e.to_string()).or(verdict.anchor_missing.clone()),
        });
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        ))?;
    } else if ok {
        emit(&format!(
            "audit chain intact: {} records verified; head {}:{}\n",
            verdict.checked, verdict.head.seq, verdict.head.hash
        ))?;
    } else {
        let why = match (&verdict.broken, &verdict.anchor_missing) {
            (Some(e), _) => format!("BROKEN at record {}: {e}", e.seq()),
            (None, Some(why)) => format!("BROKEN: {why}"),
            (None, None) => String::new(),
        };
        emit(&format!(
            "audit chain {why}\n({} records verified before it; recorded head {}:{})\n",
            verdict.checked, verdict.head.seq, verdict.head.hash
        ))?;
    }
    Ok(if ok { Exit::Success } else { Exit::Invalid })
}

/// Reads the whole chain and verifies it (stopping at the first break).
fn check(source: &Source, anchor: Option<&ChainHead>) -> Result<Verdict, Failure> {
    let mut verifier = ChainVerifier::new();
    let mut after = 0;
    let mut anchor_seen = anchor.is_none_or(|a| a.seq == 0);
    loop {
        let page = source.page(&AuditQuery::after(after, PAGE))?;
        for record in &page.records {
            if let Err(error) = verifier.push(record) {
                return Ok(Verdict {
                    checked: verifier.last().seq,
                    head: page.head,
                    broken: Some(error),
                    anchor_missing: None,
                });
            }
            if let Some(a) = anchor.filter(|a| a.seq == record.seq) {
                if record.hash != a.hash {
                    return Ok(Verdict {
                        checked: verifier.last().seq,
                        head: page.head,
                        broken: None,
                        anchor_missing: Some(format!(
                            "record {} has hash {}, not the anchor's {}: the chain was rewritten",
                            record.seq, record.hash, a.hash
                        )),
                    });
                }
                anchor_seen = true;
            }
        }
        // A page whose records were all out of order cannot move on: the verifier has failed
        // already. Otherwise read on after the last record.
        if let Some(last) = page.records.last() {
            after = last.seq;
        }
        if !page.more || page.records.is_empty() {
            let broken = verifier.finish(&page.head).err();
            let anchor_missing = (!anchor_seen && broken.is_none()).then(|| {
                format!(
                    "the chain ends at record {} before the anchor's record {}",
                    verifier.last().seq,
                    anchor.map_or(0, |a| a.seq)
                )
            });
            return Ok(Verdict {
                checked: verifier.last().seq,
                head: page.head,
                broken,
                anchor_missing,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_parse() {
        let hash = "a".repeat(64);
        assert_eq!(
            parse_anchor(&format!("12:{hash}")).unwrap(),
            ChainHead { seq: 12, hash }
        );
        assert!(parse_anchor("12").is_err());
        assert!(parse_anchor("x:abc").is_err());
    }
}
