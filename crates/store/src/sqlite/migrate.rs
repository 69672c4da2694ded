//! Schema migrations: numbered, checksummed SQL files in `crates/store/migrations/`, each
//! applied once in its own transaction. A database whose applied migrations differ from the
//! shipped ones, or that is newer than this build, is refused.

use super::{Result, StoreError};
use rusqlite::{params, Connection};

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

/// Every schema version, in order. Append only; never edit a released migration.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "indexes_journals_leases",
        sql: include_str!("../../migrations/0002_indexes_journals_leases.sql"),
    },
    Migration {
        version: 3,
        name: "audit",
        sql: include_str!("../../migrations/0003_audit.sql"),
    },
    Migration {
        version: 4,
        name: "derived_revision",
        sql: include_str!("../../migrations/0004_derived_revision.sql"),
    },
];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = 4;
const _: () = assert!(MIGRATIONS[MIGRATIONS.len() - 1].version == SCHEMA_VERSION);

/// FNV-1a of the migration text (line endings normalised), recorded to detect edits.
fn checksum(sql: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in sql.bytes().filter(|&b| b != b'\r') {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Brings the schema of the writer's connection up to [`SCHEMA_VERSION`].
pub(super) fn migrate(conn: &mut Connection, shown: &str) -> Result<()> {
    let fail = |e: rusqlite::Error| {
        StoreError::Backend(format!("{shown}: migrating the schema failed: {e}"))
    };
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (\
             version INTEGER PRIMARY KEY, \
             name TEXT NOT NULL, \
             checksum TEXT NOT NULL, \
             applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))\
         ) STRICT",
    )
    .map_err(fail)?;
    let applied: Vec<(i64, String, String)> = conn
        .prepare("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect()
        })
        .map_err(fail)?;
    if let Some((newest, name, _)) = applied.last().filter(|(v, _, _)| *v > SCHEMA_VERSION) {
        return Err(StoreError::Backend(format!(
            "{shown} has schema version {newest} ({name}), newer than this build of planspec supports \
             (up to {SCHEMA_VERSION}): it was written by a newer planspec. Run that version, or restore a \
             backup taken before the upgrade"
        )));
    }
    for (version, name, sum) in &applied {
        match MIGRATIONS.iter().find(|m| m.version == *version) {
            Some(m) if checksum(m.sql) == *sum => {}
            _ => {
                return Err(StoreError::Backend(format!(
                    "{shown}: migration {version} ({name}) applied to this database differs from the one in \
                     this build of planspec; refusing to guess"
                )))
            }
        }
    }
    for m in MIGRATIONS
        .iter()
        .filter(|m| !applied.iter().any(|(v, _, _)| *v == m.version))
    {
        apply(conn, m).map_err(|e| {
            StoreError::Backend(format!(
                "{shown}: applying migration {} ({}) failed: {e}",
                m.version, m.name
            ))
        })?;
    }
    Ok(())
}

/// Applies one migration in its own transaction; a failed step drops the transaction, which
/// rolls it back.
fn apply(conn: &mut Connection, m: &Migration) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch(m.sql)?;
    tx.execute(
        "INSERT INTO schema_migrations (version, name, checksum) VALUES (?1, ?2, ?3)",
        params![m.version, m.name, checksum(m.sql)],
    )?;
    tx.commit()
}
