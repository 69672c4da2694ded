//! `planspec leases`: the keyed concurrency leases of Tasks' `concurrency` — per key, who
//! holds its slots (execution/node), since when, when the lease expires unless renewed, and
//! how many nodes wait for it. Reads `GET …/leases` (RBAC: `list` on `leases`).

use clap::{Args, ValueEnum};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::resources::{align, connect, server_error, to_yaml};
use crate::cli::ClientArgs;
use crate::error::{emit, emit_err, Exit, Outcome};

/// `planspec leases`.
#[derive(Debug, Clone, Args)]
pub struct LeasesArgs {
    /// Look in every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT", default_value_t = LeasesFormat::Table)]
    pub output: LeasesFormat,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// How `leases` prints: `table`, `json` or `yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[allow(missing_docs)]
pub enum LeasesFormat {
    Table,
    Json,
    Yaml,
}

/// `planspec leases`.
pub fn run(args: &LeasesArgs) -> Outcome {
    let client = connect(&args.client);
    let path = if args.all_namespaces {
        "/apis/planspec.io/v1alpha1/leases".to_owned()
    } else {
        format!(
            "/apis/planspec.io/v1alpha1/namespaces/{}/leases",
            crate::client::encode(args.client.ns())
        )
    };
    let list = client.get(&path).map_err(server_error)?;
    match args.output {
        LeasesFormat::Json => emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        ))?,
        LeasesFormat::Yaml => emit(&to_yaml(&list)?)?,
        LeasesFormat::Table => {
            let items = list["items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                let place = if args.all_namespaces {
                    String::new()
                } else {
                    format!(" in namespace {}", args.client.ns())
                };
                emit_err(&format!("No leases are held or waited for{place}.\n"));
            } else {
                emit(&table(
                    &items,
                    args.all_namespaces,
                    OffsetDateTime::now_utc(),
                ))?;
            }
        }
    }
    Ok(Exit::Success)
}

/// One row per slot held (or per key only waited for): KEY, SLOT, HOLDER, SINCE, EXPIRES,
/// WAITERS.
fn table(items: &[Value], namespaces: bool, now: OffsetDateTime) -> String {
    let mut rows = vec![header(namespaces)];
    for item in items {
        let waiters = item["waiters"].as_array().map_or(0, Vec::len);
        let key = text(&item["key"]);
        let mut holders: Vec<Value> = item["holders"].as_array().cloned().unwrap_or_default();
        if holders.is_empty() {
            holders.push(json!(null));
        }
        for holder in holders {
            let mut row = Vec::new();
            if namespaces {
                row.push(text(&item["namespace"]));
            }
            row.push(key.clone());
            if holder.is_null() {
                row.extend(["-", "<none>", "-", "-"].map(str::to_owned));
            } else {
                row.push(holder["slot"].to_string());
                let who = match (holder["execution"].as_str(), holder["node"].as_str()) {
                    (Some(e), Some(n)) if !e.is_empty() => format!("{e}/{n}"),
                    _ => text(&holder["instance"]),
                };
                row.push(who);
                row.push(
                    holder["since"]
                        .as_str()
                        .and_then(parse)
                        .map_or_else(|| "-".to_owned(), |t| age(now - t)),
                );
                row.push(match holder["expiresAt"].as_str().and_then(parse) {
                    Some(t) if t > now => format!("in {}", age(t - now)),
                    Some(t) => format!("expired {} ago", age(now - t)),
                    None => "-".to_owned(),
                });
            }
            row.push(waiters.to_string());
            rows.push(row);
        }
    }
    align(&rows)
}

fn header(namespaces: bool) -> Vec<String> {
    let mut h = Vec::new();
    if namespaces {
        h.push("NAMESPACE");
    }
    h.extend(["KEY", "SLOT", "HOLDER", "SINCE", "EXPIRES", "WAITERS"]);
    h.into_iter().map(str::to_owned).collect()
}

fn text(value: &Value) -> String {
    crate::term::escape_line(value.as_str().unwrap_or_default()).into_owned()
}

fn parse(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// `45s`, `3m12s`, `2h5m`, `3d4h` (kubectl's ages).
fn age(d: time::Duration) -> String {
    let s = d.whole_seconds().max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{}m", s / 3600, s / 60 % 60),
        _ => format!("{}d{}h", s / 86_400, s / 3600 % 24),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_show_holders_expiry_and_waiters() {
        let now = parse("2026-01-01T00:01:00Z").unwrap();
        let items = vec![
            json!({"namespace": "default", "key": "deploy-prod", "holders": [
                {"slot": 0, "execution": "default/a", "node": "deploy", "instance": "h-1",
                 "since": "2026-01-01T00:00:30Z", "expiresAt": "2026-01-01T00:01:20Z", "expired": false, "token": 7}],
             "waiters": [{"execution": "default/b", "node": "deploy", "priority": 0, "since": "2026-01-01T00:00:40Z"}]}),
            json!({"namespace": "default", "key": "db", "holders": [
                {"slot": 1, "execution": "", "node": "", "instance": "someone",
                 "expiresAt": "2026-01-01T00:00:50Z", "expired": true, "token": 3}], "waiters": []}),
        ];
        let out = table(&items, false, now);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("KEY"));
        assert!(lines[1].contains("deploy-prod") && lines[1].contains("default/a/deploy"));
        assert!(lines[1].contains("30s") && lines[1].contains("in 20s") && lines[1].ends_with('1'));
        assert!(lines[2].contains("someone") && lines[2].contains("expired 10s ago"));
    }
}
