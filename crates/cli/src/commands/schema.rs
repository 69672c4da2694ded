//! `planspec schema [KIND]`: the JSON Schema of a kind, of a `List`, or of any document.

use planspec_model::schema::{document_schema, kind_schema, list_schema, schema_file_text};
use planspec_model::Kind;

use crate::cli::SchemaArgs;
use crate::error::{emit, usage, Exit, Outcome};

/// Prints a schema, or the list of kinds.
pub fn run(args: &SchemaArgs) -> Outcome {
    if args.list {
        emit(&kind_table())?;
        return Ok(Exit::Success);
    }
    let schema = match args.kind.as_deref() {
        None => document_schema(),
        Some(name) if name.eq_ignore_ascii_case("list") => list_schema(),
        Some(name) => match Kind::from_name(name) {
            Some(kind) => kind_schema(kind),
            None => return Err(usage("schema", unknown_kind(name))),
        },
    };
    emit(&schema_file_text(&schema))?;
    Ok(Exit::Success)
}

/// `unknown kind `Plna`` with a suggestion and the valid names.
fn unknown_kind(name: &str) -> String {
    let mut candidates: Vec<&str> = Vec::new();
    for kind in Kind::ALL {
        candidates.push(kind.as_str());
        candidates.push(kind.plural());
        candidates.extend(kind.short_names());
    }
    let mut message = format!("unknown kind `{name}`");
    if let Some(close) = planspec_validate::suggest::closest(name, candidates) {
        let kind = Kind::from_name(close).map_or(close, Kind::as_str);
        message.push_str(&format!("\n\n  tip: did you mean `{kind}`?"));
    }
    let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    message.push_str(&format!(
        "\n  tip: kinds are {}, and List; see `planspec schema --list`",
        kinds.join(", ")
    ));
    message
}

/// `KIND  PLURAL  SHORT NAMES`, one line per kind.
fn kind_table() -> String {
    let rows: Vec<[String; 3]> = Kind::ALL
        .iter()
        .map(|k| {
            [
                k.as_str().to_string(),
                k.plural().to_string(),
                k.short_names().join(","),
            ]
        })
        .collect();
    let header = ["KIND".to_string(), "PLURAL".into(), "SHORT NAMES".into()];
    let widths: Vec<usize> = (0..3)
        .map(|c| {
            rows.iter()
                .chain(std::iter::once(&header))
                .map(|r| r[c].len())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line = format!(
            "{:<w0$}   {:<w1$}   {}",
            row[0],
            row[1],
            row[2],
            w0 = widths[0],
            w1 = widths[1]
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_kind() {
        let message = unknown_kind("Plna");
        assert!(message.starts_with("unknown kind `Plna`"));
        assert!(message.contains("did you mean `Plan`?"), "{message}");
        assert!(!unknown_kind("zzzzzzzz").contains("did you mean"));
        // A close plural still suggests the kind's own name.
        assert!(unknown_kind("capabilites").contains("did you mean `Capability`?"));
    }

    #[test]
    fn table_lists_every_kind() {
        let table = kind_table();
        assert!(table.starts_with("KIND"));
        for kind in Kind::ALL {
            assert!(table.contains(kind.plural()));
        }
    }
}
