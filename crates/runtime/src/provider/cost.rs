//! What an attempt cost: providers report it, the engine adds it up against the Goal's
//! `budgetUsd`.
//!
//! * `exec`: the command writes a decimal number of US dollars (`0.42`) to the file named by
//!   `$PLANSPEC_COST`; no file (or an empty one) means no cost reported.
//! * `http`: the endpoint answers with the header `PlanSpec-Cost-Usd: 0.42`.
//!
//! A value that is not a finite number ≥ 0 is ignored, and the log says so.

use std::path::{Path, PathBuf};

/// The response header an `http` endpoint reports its cost in.
pub const COST_HEADER: &str = "planspec-cost-usd";

/// The environment variable naming the file an `exec` command reports its cost in.
pub const COST_ENV: &str = "PLANSPEC_COST";

/// The cost file of one attempt: `<work dir>/.planspec/cost/<node>.<attempt>`.
pub fn cost_path(work_dir: &Path, safe_node: &str, attempt: u32) -> PathBuf {
    work_dir
        .join(".planspec")
        .join("cost")
        .join(format!("{safe_node}.{attempt}"))
}

/// A reported cost: a finite decimal number ≥ 0, surrounding whitespace allowed.
pub fn parse_cost(text: &str) -> Result<f64, String> {
    let t = text.trim();
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "the reported cost {:?} is not a number of US dollars ≥ 0",
            t.chars().take(40).collect::<String>()
        )),
    }
}

/// Reads the cost file an `exec` command may have written: `Ok(None)` when there is none.
pub async fn read_cost_file(path: &Path) -> Result<Option<f64>, String> {
    match tokio::fs::read(path).await {
        Ok(bytes) if bytes.len() > 64 => Err("$PLANSPEC_COST holds more than 64 bytes".into()),
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(None),
        Ok(bytes) => parse_cost(&String::from_utf8_lossy(&bytes)).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read $PLANSPEC_COST: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_are_non_negative_finite_numbers() {
        assert_eq!(parse_cost(" 0.25\n"), Ok(0.25));
        assert_eq!(parse_cost("3"), Ok(3.0));
        assert!(parse_cost("-1").is_err());
        assert!(parse_cost("NaN").is_err());
        assert!(parse_cost("inf").is_err());
        assert!(parse_cost("$1").is_err());
    }
}
