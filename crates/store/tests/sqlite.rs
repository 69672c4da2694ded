//! The conformance suite and the SQLite-specific behaviour of `SqliteStore`, on real files.

use planspec_store::{ListQuery, ObjectKey, SqliteOptions, SqliteStore, Store, StoreError};
use serde_json::json;
use std::sync::Arc;
use tempfile::TempDir;

async fn fresh() -> (Arc<dyn Store>, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("store.db"), SqliteOptions::default())
        .await
        .unwrap();
    (Arc::new(store), dir)
}

planspec_store::conformance_tests!(fresh);
