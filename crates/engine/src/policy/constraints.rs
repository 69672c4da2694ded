//! The Goal and Plan constraints the engine enforces.
//!
//! A Goal's and a Plan's `constraints` are free-form maps; these keys have meaning (either
//! spelling), and where both set one the stricter wins ([`Constraints::stricter`]):
//!
//! * `budgetUsd` / `budget_usd`: a number ≥ 0. Providers report what an attempt cost; once the
//!   reported costs reach it, no further attempt is dispatched (`budget_exceeded`).
//! * `maxRuntimeSeconds` / `max_runtime_seconds`: an integer > 0, a wall-clock cap on the run,
//!   enforced like the Goal's `timeout` (the earlier wins; `execution_deadline_exceeded`).
//! * `safety`: a string or a list of strings; `no_destructive_actions` denies every node whose
//!   provider is `destructive`.
//!
//! Other keys are left alone (policies can read them as `goal.constraints`).

use serde_json::{Map, Value};

/// The `safety` value that denies destructive providers.
pub const NO_DESTRUCTIVE_ACTIONS: &str = "no_destructive_actions";

/// The constraints the engine enforces, parsed from the Goal.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Constraints {
    /// The spending cap, in US dollars.
    pub budget_usd: Option<f64>,
    /// The wall-clock cap, in seconds.
    pub max_runtime_seconds: Option<u64>,
    /// `true` under `safety: no_destructive_actions`.
    pub no_destructive_actions: bool,
    /// Every `safety` value, as written.
    pub safety: Vec<String>,
}

impl Constraints {
    /// Reads the keys above from a Goal's `constraints`; a value of the wrong shape is an
    /// error naming the key.
    pub fn parse(map: &Map<String, Value>) -> Result<Constraints, String> {
        let pick = |a: &str, b: &str| map.get(a).or_else(|| map.get(b));
        let mut out = Constraints::default();
        if let Some(v) = pick("budgetUsd", "budget_usd") {
            match v.as_f64() {
                Some(n) if n >= 0.0 && n.is_finite() => out.budget_usd = Some(n),
                _ => return Err(format!("`budgetUsd` must be a number ≥ 0, not {v}")),
            }
        }
        if let Some(v) = pick("maxRuntimeSeconds", "max_runtime_seconds") {
            match v.as_u64() {
                Some(n) if n > 0 => out.max_runtime_seconds = Some(n),
                _ => {
                    return Err(format!(
                        "`maxRuntimeSeconds` must be a whole number > 0, not {v}"
                    ))
                }
            }
        }
        if let Some(v) = map.get("safety") {
            let values: Vec<String> = match v {
                Value::String(s) => vec![s.clone()],
                Value::Array(items) => items
                    .iter()
                    .map(|i| {
                        i.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| format!("`safety` lists {i}, not a string"))
                    })
                    .collect::<Result<_, _>>()?,
                other => {
                    return Err(format!(
                        "`safety` must be a string or a list of strings, not {other}"
                    ))
                }
            };
            out.no_destructive_actions = values.iter().any(|s| s == NO_DESTRUCTIVE_ACTIONS);
            out.safety = values;
        }
        Ok(out)
    }

    /// Both sets of constraints at once (a Plan's and its Goal's): the lower budget and runtime
    /// cap, every `safety` value of either.
    pub fn stricter(self, other: Constraints) -> Constraints {
        let lower_f = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let lower_u = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut safety = self.safety;
        for s in other.safety {
            if !safety.contains(&s) {
                safety.push(s);
            }
        }
        Constraints {
            budget_usd: lower_f(self.budget_usd, other.budget_usd),
            max_runtime_seconds: lower_u(self.max_runtime_seconds, other.max_runtime_seconds),
            no_destructive_actions: self.no_destructive_actions || other.no_destructive_actions,
            safety,
        }
    }

    /// `maxRuntimeSeconds` in milliseconds.
    pub fn max_runtime_ms(&self) -> Option<u64> {
        self.max_runtime_seconds.map(|s| s.saturating_mul(1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn the_stricter_of_plan_and_goal_wins() {
        let plan = Constraints::parse(&map(json!({"budgetUsd": 5, "maxRuntimeSeconds": 60,
                                                   "safety": "no_destructive_actions"})))
        .unwrap();
        let goal =
            Constraints::parse(&map(json!({"budgetUsd": 2, "safety": ["careful"]}))).unwrap();
        let both = plan.stricter(goal);
        assert_eq!(both.budget_usd, Some(2.0));
        assert_eq!(both.max_runtime_seconds, Some(60));
        assert!(both.no_destructive_actions);
        assert_eq!(both.safety, vec!["no_destructive_actions", "careful"]);
        let none = Constraints::default().stricter(Constraints::default());
        assert_eq!(none, Constraints::default());
    }

    #[test]
    fn reads_both_spellings_and_rejects_bad_shapes() {
        let c = Constraints::parse(&map(json!({"budgetUsd": 2.5, "max_runtime_seconds": 30,
                                                "safety": ["no_destructive_actions"]})))
        .unwrap();
        assert_eq!(c.budget_usd, Some(2.5));
        assert_eq!(c.max_runtime_ms(), Some(30_000));
        assert!(c.no_destructive_actions);
        let c = Constraints::parse(&map(json!({"safety": "careful", "other": 1}))).unwrap();
        assert!(!c.no_destructive_actions);
        assert!(Constraints::parse(&map(json!({"budgetUsd": -1}))).is_err());
        assert!(Constraints::parse(&map(json!({"budget_usd": "ten"}))).is_err());
        assert!(Constraints::parse(&map(json!({"maxRuntimeSeconds": 0}))).is_err());
        assert!(Constraints::parse(&map(json!({"safety": [1]}))).is_err());
    }
}
