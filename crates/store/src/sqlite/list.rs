//! Lists: one page of a [`ListQuery`] from one read transaction (one snapshot), and the
//! owner index behind `list_owned_by`.
//!
//! **How a list reads.** Without a usable label term it walks `resources` in key order,
//! narrowed by SQL. With equality or `in` terms it walks the **label index** instead: the most
//! selective of those terms (by a capped count of its index entries) drives the read in key
//! order, the other equality/`in` terms are probes into the same index (an intersection), and
//! `exists`, `!=`, `notin`, `!` and field terms filter the candidates on the row. Either way
//! SQL narrows (exactly, except `>`/`<` label requirements and odd field paths, which it only
//! approximates from above) and [`ListQuery::matches_selectors`] decides, so both plans return
//! exactly what the in-memory filter selects.

use super::{parse, read, read_revision, sql_error, text};
use crate::{ListPage, ListQuery, ObjectKey, Result, StoredObject};
use planspec_model::selector::{FieldOperator, FieldRequirement, Operator, Requirement};
use rusqlite::types::ToSqlOutput;
use rusqlite::{params_from_iter, Connection, ToSql};

/// Index entries counted at most per term when choosing the driving term: enough to tell a
/// selective term from an unselective one, bounded so the choice stays cheap.
const SELECTIVITY_CAP: i64 = 2048;

/// `Store::list`, on a reader (blocking).
pub(super) fn list(conn: &Connection, query: &ListQuery) -> Result<ListPage> {
    // One more than the page, to know whether more follow.
    let wanted = query.limit.filter(|&l| l > 0).map(|l| l.saturating_add(1));
    let mut items: Vec<StoredObject> = Vec::new();
    let mut after = query.continue_after.clone();
    // One read transaction: one snapshot for the revision and every chunk.
    let revision = read::snapshot(conn, || {
        let revision = read_revision(conn)?;
        let driver = driving_term(conn, query)?;
        // Rows the exact check turns down may leave a page short, so read on until the page
        // is full or the rows run out.
        loop {
            let chunk = wanted.map(|w| w - items.len());
            let (sql, params) = list_sql(query, driver, after.as_ref(), chunk);
            let mut statement = conn.prepare_cached(&sql).map_err(sql_error)?;
            let mut rows = statement
                .query(params_from_iter(&params))
                .map_err(sql_error)?;
            let mut read = 0;
            while let Some(row) = rows.next().map_err(sql_error)? {
                read += 1;
                let key = ObjectKey {
                    kind: query.kind.clone(),
                    namespace: row.get(0).map_err(sql_error)?,
                    name: row.get(1).map_err(sql_error)?,
                };
                after = Some((key.namespace.clone(), key.name.clone()));
                let object = parse(&key, text(row, 5).map_err(sql_error)?)?;
                if query.matches_selectors(&key, &object) {
                    items.push(StoredObject {
                        uid: row.get(2).map_err(sql_error)?,
                        revision: row.get(3).map_err(sql_error)?,
                        created_revision: row.get(4).map_err(sql_error)?,
                        key,
                        object,
                    });
                }
            }
            let exhausted = chunk.is_none_or(|c| read < c);
            if exhausted || wanted.is_some_and(|w| items.len() >= w) {
                return Ok(revision);
            }
        }
    })?;

    let mut continue_after = None;
    if let Some(limit) = query.limit.filter(|&l| l > 0) {
        if items.len() > limit {
            items.truncate(limit);
            continue_after = items
                .last()
                .map(|o| (o.key.namespace.clone(), o.key.name.clone()));
        }
    }
    Ok(ListPage {
        items,
        revision,
        continue_after,
    })
}

/// `Store::list_owned_by`: one statement, so one snapshot.
pub(super) fn owned_by(conn: &Connection, owner_uid: &str) -> Result<Vec<StoredObject>> {
    let mut statement = conn
        .prepare_cached(
            "SELECT r.kind, r.namespace, r.name, r.uid, r.revision, r.created_revision, r.object \
             FROM owner_index AS o CROSS JOIN resources AS r \
             WHERE o.owner_uid = ?1 \
               AND r.kind = o.kind AND r.namespace = o.namespace AND r.name = o.name \
             ORDER BY o.kind, o.namespace, o.name",
        )
        .map_err(sql_error)?;
    let mut rows = statement.query([owner_uid]).map_err(sql_error)?;
    let mut owned = Vec::new();
    while let Some(row) = rows.next().map_err(sql_error)? {
        let key = ObjectKey {
            kind: row.get(0).map_err(sql_error)?,
            namespace: row.get(1).map_err(sql_error)?,
            name: row.get(2).map_err(sql_error)?,
        };
        owned.push(StoredObject {
            object: parse(&key, text(row, 6).map_err(sql_error)?)?,
            key,
            uid: row.get(3).map_err(sql_error)?,
            revision: row.get(4).map_err(sql_error)?,
            created_revision: row.get(5).map_err(sql_error)?,
        });
    }
    Ok(owned)
}

/// Whether `req` selects its objects through the label index (`=`, `==`, `in`).
fn indexable(req: &Requirement) -> bool {
    matches!(req.operator(), Operator::Equals | Operator::In) && !req.values().is_empty()
}

/// The label requirement that drives the read (its position in the selector), or `None` to
/// walk `resources`: the indexable term with the fewest index entries, counted up to
/// [`SELECTIVITY_CAP`] in the list's snapshot.
fn driving_term(conn: &Connection, query: &ListQuery) -> Result<Option<usize>> {
    let candidates: Vec<usize> = query
        .label_selector
        .requirements()
        .iter()
        .enumerate()
        .filter(|(_, r)| indexable(r))
        .map(|(i, _)| i)
        .collect();
    if candidates.len() < 2 {
        return Ok(candidates.first().copied());
    }
    let mut best: Option<(i64, usize)> = None;
    for i in candidates {
        let req = &query.label_selector.requirements()[i];
        let mut sql = String::from("SELECT count(*) FROM (SELECT 1 FROM label_index WHERE ");
        let mut params = Vec::new();
        index_term_sql(query, req, "label_index", &mut sql, &mut params);
        sql.push_str(" LIMIT ?)");
        params.push(Param::Int(SELECTIVITY_CAP));
        let count: i64 = conn
            .prepare_cached(&sql)
            .and_then(|mut statement| {
                statement.query_row(params_from_iter(&params), |row| row.get(0))
            })
            .map_err(sql_error)?;
        if best.is_none_or(|(fewest, _)| count < fewest) {
            best = Some((count, i));
        }
    }
    Ok(best.map(|(_, i)| i))
}

/// `<t>.kind = ? AND <t>.key = ? AND <t>.value IN (…) [AND <t>.namespace = ?]`.
fn index_term_sql(
    query: &ListQuery,
    req: &Requirement,
    table: &str,
    sql: &mut String,
    params: &mut Vec<Param>,
) {
    sql.push_str(&format!(
        "{table}.kind = ? AND {table}.key = ? AND {table}.value IN ("
    ));
    params.push(Param::Text(query.kind.clone()));
    params.push(Param::Text(req.key().as_str().to_owned()));
    push_values(req, sql, params);
    sql.push(')');
    if let Some(ns) = &query.namespace {
        sql.push_str(&format!(" AND {table}.namespace = ?"));
        params.push(Param::Text(ns.clone()));
    }
}

fn push_values(req: &Requirement, sql: &mut String, params: &mut Vec<Param>) {
    for (i, v) in req.values().iter().enumerate() {
        sql.push_str(if i == 0 { "?" } else { ", ?" });
        params.push(Param::Text(v.as_str().to_owned()));
    }
}

enum Param {
    Text(String),
    Int(i64),
}

impl ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Param::Text(s) => s.to_sql(),
            Param::Int(i) => i.to_sql(),
        }
    }
}

/// The SQL of one read of a list: the rows of `query` after `after`, at most `limit`, in
/// key order; through the label index when `driver` names the driving requirement.
fn list_sql(
    query: &ListQuery,
    driver: Option<usize>,
    after: Option<&(String, String)>,
    limit: Option<usize>,
) -> (String, Vec<Param>) {
    const COLUMNS: &str = "r.namespace, r.name, r.uid, r.revision, r.created_revision, r.object";
    let mut params = Vec::new();
    let (mut sql, order) = match driver.map(|i| &query.label_selector.requirements()[i]) {
        Some(req) => {
            // The driving term's index entries, in key order, joined to their rows.
            let mut sql =
                format!("SELECT {COLUMNS} FROM label_index AS l CROSS JOIN resources AS r WHERE ");
            index_term_sql(query, req, "l", &mut sql, &mut params);
            if let Some((ns, name)) = after {
                sql.push_str(" AND (l.namespace, l.name) > (?, ?)");
                params.push(Param::Text(ns.clone()));
                params.push(Param::Text(name.clone()));
            }
            sql.push_str(" AND r.kind = l.kind AND r.namespace = l.namespace AND r.name = l.name");
            (sql, " ORDER BY l.namespace, l.name")
        }
        None => {
            let mut sql = format!("SELECT {COLUMNS} FROM resources AS r WHERE r.kind = ?");
            params.push(Param::Text(query.kind.clone()));
            if let Some(ns) = &query.namespace {
                sql.push_str(" AND r.namespace = ?");
                params.push(Param::Text(ns.clone()));
            }
            if let Some((ns, name)) = after {
                sql.push_str(" AND (r.namespace, r.name) > (?, ?)");
                params.push(Param::Text(ns.clone()));
                params.push(Param::Text(name.clone()));
            }
            (sql, " ORDER BY r.namespace, r.name")
        }
    };
    for (i, req) in query.label_selector.requirements().iter().enumerate() {
        if Some(i) == driver {
            continue;
        }
        if driver.is_some() && indexable(req) {
            // Intersection: a probe into the index's primary key.
            sql.push_str(
                " AND EXISTS (SELECT 1 FROM label_index AS x WHERE x.kind = r.kind \
                 AND x.key = ? AND x.value IN (",
            );
            params.push(Param::Text(req.key().as_str().to_owned()));
            push_values(req, &mut sql, &mut params);
            sql.push_str(") AND x.namespace = r.namespace AND x.name = r.name)");
        } else {
            label_sql(req, &mut sql, &mut params);
        }
    }
    for req in query.field_selector.requirements() {
        field_sql(req, &mut sql, &mut params);
    }
    sql.push_str(order);
    if let Some(limit) = limit {
        sql.push_str(" LIMIT ?");
        params.push(Param::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
    }
    (sql, params)
}

/// One label requirement as SQL over the row's `labels` column (a label that is not a string
/// is absent). Exact, except `>`/`<`, where SQLite's `CAST` accepts more than an `i64` parse.
fn label_sql(req: &Requirement, sql: &mut String, params: &mut Vec<Param>) {
    let (negate, values, compare) = match req.operator() {
        Operator::Equals | Operator::In => (false, req.values(), None),
        Operator::NotEquals | Operator::NotIn => (true, req.values(), None),
        Operator::Exists => (false, &[][..], None),
        Operator::DoesNotExist => (true, &[][..], None),
        Operator::GreaterThan => (false, &[][..], Some(">")),
        Operator::LessThan => (false, &[][..], Some("<")),
    };
    sql.push_str(if negate {
        " AND NOT EXISTS"
    } else {
        " AND EXISTS"
    });
    sql.push_str(" (SELECT 1 FROM json_each(r.labels) AS j WHERE j.key = ? AND j.type = 'text'");
    params.push(Param::Text(req.key().as_str().to_owned()));
    if !values.is_empty() {
        sql.push_str(" AND j.value IN (");
        for (i, v) in values.iter().enumerate() {
            sql.push_str(if i == 0 { "?" } else { ", ?" });
            params.push(Param::Text(v.as_str().to_owned()));
        }
        sql.push(')');
    }
    if let (Some(op), Some(Ok(bound))) = (compare, req.values().first().map(|v| v.parse::<i64>())) {
        sql.push_str(" AND CAST(j.value AS INTEGER) ");
        sql.push_str(op);
        sql.push_str(" ?");
        params.push(Param::Int(bound));
    }
    sql.push(')');
}

/// One field requirement as SQL; see `ListQuery::field_selector`. A path SQLite's JSON path
/// syntax cannot spell is left to the exact check.
fn field_sql(req: &FieldRequirement, sql: &mut String, params: &mut Vec<Param>) {
    let column = match req.field.as_str() {
        "metadata.name" => "r.name".to_owned(),
        "metadata.namespace" => "r.namespace".to_owned(),
        path => {
            if path
                .split('.')
                .any(|p| p.is_empty() || p.contains(['"', '\\']))
            {
                return;
            }
            let json_path = format!("$.\"{}\"", path.replace('.', "\".\""));
            params.push(Param::Text(json_path.clone()));
            params.push(Param::Text(json_path));
            "iif(json_type(r.object, ?) = 'text', json_extract(r.object, ?), '')".to_owned()
        }
    };
    sql.push_str(" AND ");
    sql.push_str(&column);
    sql.push_str(match req.operator {
        FieldOperator::Equals => " = ?",
        FieldOperator::NotEquals => " <> ?",
    });
    params.push(Param::Text(req.value.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Selector, SqliteOptions, SqliteStore, Store};
    use serde_json::json;

    /// The query plan SQLite picks for one read of `selector`.
    fn query_plan(store: &SqliteStore, selector: &str, namespace: Option<&str>) -> String {
        let query = ListQuery {
            namespace: namespace.map(str::to_owned),
            label_selector: Selector::parse(selector).unwrap(),
            ..ListQuery::all("Plan")
        };
        store
            .readers
            .inline(|conn| {
                let driver = driving_term(conn, &query)?;
                let (sql, params) = list_sql(
                    &query,
                    driver,
                    Some(&("a".to_owned(), "b".to_owned())),
                    Some(10),
                );
                let mut statement = conn
                    .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .map_err(sql_error)?;
                let rows = statement
                    .query_map(params_from_iter(&params), |row| row.get::<_, String>(3))
                    .map_err(sql_error)?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(sql_error)?;
                Ok(rows.join("\n"))
            })
            .unwrap()
    }

    /// Equality and `in` terms read through the label index, the most selective first;
    /// a selector of negative terms walks the objects.
    #[tokio::test]
    async fn selectors_use_the_label_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("store.db"), SqliteOptions::default())
            .await
            .unwrap();
        for i in 0..300 {
            let name = format!("p{i}");
            let labels = json!({ "app": "web", "shard": (i % 100).to_string() });
            store
                .create(
                    ObjectKey::new("Plan", "default", &name),
                    name.clone(),
                    json!({ "metadata": { "name": name, "labels": labels } }),
                )
                .await
                .unwrap();
        }
        for selector in ["app=web", "shard in (1,2)", "app=web,shard=7,!gone"] {
            let plan = query_plan(&store, selector, Some("default"));
            assert!(
                plan.contains("SEARCH l USING PRIMARY KEY"),
                "{selector}: {plan}"
            );
            assert!(!plan.contains("SCAN r"), "{selector}: {plan}");
        }
        let plan = query_plan(&store, "app=web,shard=7", None);
        assert!(
            plan.contains("SEARCH x USING PRIMARY KEY"),
            "the other term is an index probe: {plan}"
        );
        let query = ListQuery {
            label_selector: Selector::parse("app=web,shard=7").unwrap(),
            ..ListQuery::all("Plan")
        };
        assert_eq!(
            store
                .readers
                .inline(|conn| driving_term(conn, &query))
                .unwrap(),
            Some(1),
            "shard=7 (3 objects) drives, not app=web (300)"
        );
        for selector in ["!app", "app!=web", "shard notin (1)", "shard"] {
            let plan = query_plan(&store, selector, None);
            assert!(!plan.contains("label_index"), "{selector}: {plan}");
        }
        store.close().await;
    }

    /// A list's cached statement is prepared once, whatever kind it is bound to in turn: the
    /// plan of `kind = ?` does not depend on the value (QPSG), so nothing is parsed again per
    /// call (the partial index on Executions would otherwise make it so).
    #[tokio::test]
    async fn cached_statements_are_not_prepared_again_for_other_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("store.db"), SqliteOptions::default())
            .await
            .unwrap();
        let kinds = ["Plan", "Goal", "Execution"];
        for kind in kinds {
            store
                .create(
                    ObjectKey::new(kind, "default", "x"),
                    "u".into(),
                    json!({"metadata": {"name": "x"}}),
                )
                .await
                .unwrap();
        }
        let reprepared = store
            .readers
            .inline(|conn| {
                for kind in kinds.iter().chain(&kinds) {
                    let query = ListQuery {
                        namespace: Some("default".into()),
                        ..ListQuery::all(*kind)
                    };
                    assert_eq!(list(conn, &query)?.items.len(), 1);
                }
                let query = ListQuery {
                    namespace: Some("default".into()),
                    ..ListQuery::all("Plan")
                };
                let (sql, _) = list_sql(&query, None, None, None);
                let statement = conn.prepare_cached(&sql).map_err(sql_error)?;
                Ok(statement.get_status(rusqlite::StatementStatus::RePrepare))
            })
            .unwrap();
        assert_eq!(reprepared, 0);
        store.close().await;
    }
}
