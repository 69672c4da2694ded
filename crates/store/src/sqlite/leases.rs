//! Leases: the write side (applied by the writer thread, group-committed with other writes)
//! and the read side. Fencing tokens come from the `lease_token` counter in `meta`, so they increase
//! across all leases and survive releases.

use super::sql_error;
use crate::{Lease, Result, StoreError};
use rusqlite::{params, Connection, OptionalExtension, Row};

/// A lease operation for the writer; see the `Store` methods of the same names.
#[derive(Debug)]
pub(super) enum LeaseOp {
    Acquire {
        name: String,
        holder: String,
        ttl_ms: u64,
        now_ms: i64,
    },
    Renew {
        name: String,
        holder: String,
        token: u64,
        ttl_ms: u64,
        now_ms: i64,
    },
    Release {
        name: String,
        holder: String,
        token: u64,
    },
}

type LeaseRow = (String, String, i64, i64);

/// Why a lease row cannot be a [`Lease`].
#[derive(Debug, thiserror::Error)]
#[error("lease {0} has a negative token")]
pub(super) struct NegativeToken(String);

fn lease((name, holder, token, expires_at_ms): LeaseRow) -> Result<Lease, NegativeToken> {
    let Ok(token) = u64::try_from(token) else {
        return Err(NegativeToken(name));
    };
    Ok(Lease {
        name,
        holder,
        token,
        expires_at_ms,
    })
}

fn lease_row(row: &Row<'_>) -> rusqlite::Result<LeaseRow> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn expiry(now_ms: i64, ttl_ms: u64) -> i64 {
    now_ms.saturating_add(i64::try_from(ttl_ms).unwrap_or(i64::MAX))
}

/// Why a lease operation failed (the batch fails with it).
#[derive(Debug, thiserror::Error)]
pub(super) enum LeaseError {
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    #[error(transparent)]
    Row(#[from] NegativeToken),
    #[error("the meta table has no lease_token row")]
    NoCounter,
}

/// Runs `sql` (an `UPDATE` or `DELETE … RETURNING` the lease columns) to its end and returns
/// the row it changed, if any.
fn returning(
    conn: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Option<Lease>, LeaseError> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query(params)?;
    let mut last = None;
    while let Some(row) = rows.next()? {
        last = Some(lease_row(row)?);
    }
    Ok(last.map(lease).transpose()?)
}

/// Applies `op` in the writer's open transaction. `None`: refused, nothing written.
pub(super) fn apply(conn: &Connection, op: LeaseOp) -> Result<Option<Lease>, LeaseError> {
    match op {
        LeaseOp::Acquire {
            name,
            holder,
            ttl_ms,
            now_ms,
        } => acquire(conn, name, holder, expiry(now_ms, ttl_ms), now_ms),
        LeaseOp::Renew {
            name,
            holder,
            token,
            ttl_ms,
            now_ms,
        } => {
            let Ok(token) = i64::try_from(token) else {
                return Ok(None);
            };
            returning(
                conn,
                "UPDATE leases SET expires_at_ms = ?1 \
                 WHERE name = ?2 AND holder = ?3 AND token = ?4 AND expires_at_ms > ?5 \
                 RETURNING name, holder, token, expires_at_ms",
                params![expiry(now_ms, ttl_ms), name, holder, token, now_ms],
            )
        }
        LeaseOp::Release {
            name,
            holder,
            token,
        } => {
            let Ok(token) = i64::try_from(token) else {
                return Ok(None);
            };
            returning(
                conn,
                "DELETE FROM leases WHERE name = ?1 AND holder = ?2 AND token = ?3 \
                 RETURNING name, holder, token, expires_at_ms",
                params![name, holder, token],
            )
        }
    }
}

fn acquire(
    conn: &Connection,
    name: String,
    holder: String,
    expires_at_ms: i64,
    now_ms: i64,
) -> Result<Option<Lease>, LeaseError> {
    let held: Option<LeaseRow> = conn
        .prepare_cached(
            "SELECT name, holder, token, expires_at_ms FROM leases \
             WHERE name = ?1 AND expires_at_ms > ?2",
        )?
        .query_row(params![name, now_ms], lease_row)
        .optional()?;
    match held {
        Some((_, current, _, _)) if current != holder => Ok(None),
        Some((_, _, token, _)) => {
            // Held by the caller: renewed, same tenure, same token.
            conn.prepare_cached("UPDATE leases SET expires_at_ms = ?1 WHERE name = ?2")?
                .execute(params![expires_at_ms, name])?;
            Ok(Some(lease((name, holder, token, expires_at_ms))?))
        }
        None => {
            // Free or expired: a new tenure with a new token.
            let mut statement = conn.prepare_cached(
                "UPDATE meta SET value = value + 1 WHERE key = 'lease_token' RETURNING value",
            )?;
            let mut rows = statement.query([])?;
            let mut token = None;
            while let Some(row) = rows.next()? {
                token = Some(row.get::<_, i64>(0)?);
            }
            let token = token.ok_or(LeaseError::NoCounter)?;
            drop(rows);
            drop(statement);
            conn.prepare_cached(
                "INSERT INTO leases (name, holder, token, expires_at_ms) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                 token = excluded.token, expires_at_ms = excluded.expires_at_ms",
            )?
            .execute(params![name, holder, token, expires_at_ms])?;
            Ok(Some(lease((name, holder, token, expires_at_ms))?))
        }
    }
}

/// `Store::list_leases`, on a reader: a range scan of the names that start with `prefix`.
pub(super) fn list(conn: &Connection, prefix: &str) -> Result<Vec<Lease>> {
    let end = prefix_end(prefix);
    let (sql, values): (&str, Vec<&dyn rusqlite::ToSql>) = match &end {
        Some(end) => (
            "SELECT name, holder, token, expires_at_ms FROM leases \
             WHERE name >= ?1 AND name < ?2 ORDER BY name",
            vec![&prefix as &dyn rusqlite::ToSql, end],
        ),
        None => (
            "SELECT name, holder, token, expires_at_ms FROM leases WHERE name >= ?1 ORDER BY name",
            vec![&prefix as &dyn rusqlite::ToSql],
        ),
    };
    let rows: Vec<LeaseRow> = conn
        .prepare_cached(sql)
        .and_then(|mut statement| statement.query_map(values.as_slice(), lease_row)?.collect())
        .map_err(sql_error)?;
    rows.into_iter()
        .filter(|(name, ..)| name.starts_with(prefix))
        .map(|row| lease(row).map_err(|e| StoreError::Backend(e.to_string())))
        .collect()
}

/// The least string greater than every string that starts with `prefix`, in SQLite's
/// binary (UTF-8 byte, i.e. code point) order; `None` when there is none (`""`, or only
/// `char::MAX`s).
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match u32::from(last) + 1 {
            0xD800 => Some('\u{E000}'),
            code => char::from_u32(code),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("exec/"), Some("exec0".into()));
        assert_eq!(prefix_end("a\u{D7FF}"), Some("a\u{E000}".into()));
        assert_eq!(prefix_end("ab\u{10FFFF}"), Some("ac".into()));
        assert_eq!(prefix_end("\u{10FFFF}"), None);
        for (prefix, inside, outside) in [("exec/", "exec/zzz", "exec0"), ("é", "é\u{10FFFF}", "ê")]
        {
            let end = prefix_end(prefix).unwrap();
            assert!(inside.starts_with(prefix) && inside < end.as_str());
            assert!(outside >= end.as_str());
        }
    }
}
