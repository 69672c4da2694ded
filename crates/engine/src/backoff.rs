//! The wait before a retry: exponential, capped, with deterministic jitter.

use crate::graph::RetryConfig;
use crate::ids::stable_u64;

/// The wait in milliseconds before retry number `retry` (1 for the first retry) of an
/// attempt whose idempotency key is `key`.
///
/// The base wait is `initial × factor^(retry−1)`, capped at `max` (integer arithmetic on
/// thousandths, so every platform agrees). The wait is drawn from `[base/2, base]` ("equal
/// jitter") by a number derived from `key`, not from a random generator: the same attempt
/// always waits the same time, so replay agrees, while different nodes and attempts spread
/// out.
pub fn backoff_delay_ms(config: &RetryConfig, retry: u32, key: &str) -> u64 {
    let max = u128::from(config.max_ms);
    let mut base = u128::from(config.initial_ms).min(max);
    for _ in 1..retry {
        base = base * u128::from(config.factor_permille) / 1000;
        if base >= max {
            base = max;
            break;
        }
    }
    let half = base / 2;
    let spread = base - half + 1;
    let jitter = u128::from(stable_u64("planspec/backoff/v1", key)) % spread;
    // `half + jitter <= base <= max`, which came from a u64.
    u64::try_from(half + jitter).unwrap_or(config.max_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(initial_ms: u64, max_ms: u64, factor_permille: u32) -> RetryConfig {
        RetryConfig {
            retries: 5,
            initial_ms,
            max_ms,
            factor_permille,
            retry_on: None,
        }
    }

    #[test]
    fn grows_exponentially_within_jitter_bounds_and_caps() {
        let c = config(1_000, 10_000, 2_000);
        for (retry, base) in [
            (1, 1_000),
            (2, 2_000),
            (3, 4_000),
            (4, 8_000),
            (5, 10_000),
            (9, 10_000),
        ] {
            for key in ["psk_a", "psk_b", "psk_c"] {
                let d = backoff_delay_ms(&c, retry, key);
                assert!(
                    d >= base / 2 && d <= base,
                    "retry {retry}: {d} not in [{}, {base}]",
                    base / 2
                );
            }
        }
    }

    #[test]
    fn is_deterministic_per_key_and_spreads_across_keys() {
        let c = config(60_000, 60_000, 1_000);
        let a = backoff_delay_ms(&c, 1, "psk_one");
        assert_eq!(a, backoff_delay_ms(&c, 1, "psk_one"));
        let distinct: std::collections::BTreeSet<u64> = (0..20)
            .map(|i| backoff_delay_ms(&c, 1, &format!("psk_{i}")))
            .collect();
        assert!(distinct.len() > 10, "{distinct:?}");
    }

    #[test]
    fn huge_values_do_not_overflow() {
        let c = config(u64::MAX, u64::MAX, 10_000);
        let d = backoff_delay_ms(&c, 10, "k");
        assert!(d >= u64::MAX / 2);
        assert_eq!(backoff_delay_ms(&config(0, 0, 2_000), 3, "k"), 0);
    }
}
