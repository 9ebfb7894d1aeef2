//! Moving an embedded install (SQLite + a local folder) to the distributed
//! shape (PostgreSQL + S3): every table's rows, and every recording they name.
//!
//! The copy follows the target's schema rather than a list of tables, so
//! tables that later migrations add come along without changes here, as long
//! as they keep the conventions the two schemas share: UUIDs are 16-byte blobs
//! in SQLite, timestamps integer milliseconds, JSON text, and a column that
//! names a stored recording is called `object_key`. Anything that breaks them
//! (a table on one side only, a column type it does not know) stops the copy
//! before a single row is written.
//!
//! Rows keep their ids, states and timestamps, so every link (grades to jobs,
//! idempotency keys, object keys) still holds. The copy can be run again: rows
//! go in with `ON CONFLICT DO NOTHING` and recordings already in the target are
//! skipped, so an interrupted copy is finished by starting it over.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::types::Json;
use sqlx::{Postgres, QueryBuilder, Row};
use uuid::Uuid;

use super::db::{connect, redact};
use super::objects::{ObjectError, ObjectKey, ObjectStore};
use super::{DbError, StoreError};

/// Rows read and written per transaction.
const PAGE: i64 = 500;

/// What one copy did, table by table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// In the order they were copied (parents before children).
    pub tables: Vec<TableCopy>,
    pub objects_copied: u64,
    /// Already in the target store (an earlier, interrupted copy).
    pub objects_present: u64,
    /// Named by a row but missing from the source store; the rows are copied
    /// anyway, exactly as they were.
    pub objects_missing: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCopy {
    pub table: String,
    pub rows: u64,
    /// Rows written; the others were already in the target.
    pub inserted: u64,
}

/// How a column is read from SQLite and written to PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColumnType {
    Uuid,
    Timestamp,
    Json,
    Text,
    SmallInt,
    Int,
    BigInt,
    Double,
    Bool,
    Bytes,
}

impl ColumnType {
    fn from_postgres(data_type: &str) -> Option<ColumnType> {
        Some(match data_type {
            "uuid" => ColumnType::Uuid,
            "timestamp with time zone" => ColumnType::Timestamp,
            "jsonb" | "json" => ColumnType::Json,
            "text" | "character varying" => ColumnType::Text,
            "smallint" => ColumnType::SmallInt,
            "integer" => ColumnType::Int,
            "bigint" => ColumnType::BigInt,
            "double precision" | "real" => ColumnType::Double,
            "boolean" => ColumnType::Bool,
            "bytea" => ColumnType::Bytes,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
struct Table {
    name: String,
    columns: Vec<(String, ColumnType)>,
    /// Columns PostgreSQL fills from a sequence (identity or serial): their
    /// values are copied as they are, and the sequence moved past them.
    generated: Vec<String>,
}

/// One value on its way from a SQLite row to a PostgreSQL parameter.
enum Value {
    Uuid(Option<Uuid>),
    Timestamp(Option<DateTime<Utc>>),
    Json(Option<Json<serde_json::Value>>),
    Text(Option<String>),
    SmallInt(Option<i16>),
    Int(Option<i32>),
    BigInt(Option<i64>),
    Double(Option<f64>),
    Bool(Option<bool>),
    Bytes(Option<Vec<u8>>),
}

fn corrupt(table: &str, column: &str, what: impl std::fmt::Display) -> DbError {
    DbError::Corrupt(format!("{table}.{column}: {what}"))
}

fn read_value(
    row: &SqliteRow,
    table: &str,
    column: &str,
    ty: ColumnType,
) -> Result<Value, DbError> {
    let bad = |e: sqlx::Error| corrupt(table, column, e);
    Ok(match ty {
        ColumnType::Uuid => Value::Uuid(row.try_get(column).map_err(bad)?),
        ColumnType::Timestamp => {
            let ms: Option<i64> = row.try_get(column).map_err(bad)?;
            Value::Timestamp(
                ms.map(|ms| {
                    DateTime::from_timestamp_millis(ms)
                        .ok_or_else(|| corrupt(table, column, format!("timestamp {ms} ms")))
                })
                .transpose()?,
            )
        }
        ColumnType::Json => {
            let text: Option<String> = row.try_get(column).map_err(bad)?;
            Value::Json(
                text.map(|t| {
                    serde_json::from_str(&t)
                        .map(Json)
                        .map_err(|e| corrupt(table, column, e))
                })
                .transpose()?,
            )
        }
        ColumnType::Text => Value::Text(row.try_get(column).map_err(bad)?),
        ColumnType::SmallInt => {
            let v: Option<i64> = row.try_get(column).map_err(bad)?;
            Value::SmallInt(
                v.map(|v| i16::try_from(v).map_err(|e| corrupt(table, column, e)))
                    .transpose()?,
            )
        }
        ColumnType::Int => {
            let v: Option<i64> = row.try_get(column).map_err(bad)?;
            Value::Int(
                v.map(|v| i32::try_from(v).map_err(|e| corrupt(table, column, e)))
                    .transpose()?,
            )
        }
        ColumnType::BigInt => Value::BigInt(row.try_get(column).map_err(bad)?),
        ColumnType::Double => Value::Double(row.try_get(column).map_err(bad)?),
        ColumnType::Bool => Value::Bool(row.try_get(column).map_err(bad)?),
        ColumnType::Bytes => Value::Bytes(row.try_get(column).map_err(bad)?),
    })
}

fn push_value(q: &mut sqlx::query_builder::Separated<'_, Postgres, &'static str>, v: Value) {
    match v {
        Value::Uuid(v) => q.push_bind(v),
        Value::Timestamp(v) => q.push_bind(v),
        Value::Json(v) => q.push_bind(v),
        Value::Text(v) => q.push_bind(v),
        Value::SmallInt(v) => q.push_bind(v),
        Value::Int(v) => q.push_bind(v),
        Value::BigInt(v) => q.push_bind(v),
        Value::Double(v) => q.push_bind(v),
        Value::Bool(v) => q.push_bind(v),
        Value::Bytes(v) => q.push_bind(v),
    };
}

/// Table and column names come from the schemas, never from users; refusing
/// anything but plain identifiers keeps them safe to splice into SQL.
fn ident(name: &str) -> Result<String, DbError> {
    if !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Ok(format!("\"{name}\""))
    } else {
        Err(DbError::Invalid(format!(
            "unexpected identifier {name:?} in the schema"
        )))
    }
}

fn scheme(url: &str) -> &str {
    url.split_once(':').map_or("", |(s, _)| s)
}

/// Copies the SQLite install at `from_db` (with its recordings in
/// `from_objects`) into the PostgreSQL database `to_db` and `to_objects`.
/// Both schemas are brought up to date first. The source should be stopped:
/// a job running during the copy is copied as running and is retried by the
/// target's workers once its lease runs out.
pub async fn copy_install(
    from_db: &str,
    to_db: &str,
    from_objects: &dyn ObjectStore,
    to_objects: &dyn ObjectStore,
    scratch: &Path,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<CopyReport, StoreError> {
    if scheme(from_db) != "sqlite" || !matches!(scheme(to_db), "postgres" | "postgresql") {
        return Err(DbError::BadUrl {
            url: format!("{} -> {}", redact(from_db), redact(to_db)),
            reason: "an install is copied from SQLite to PostgreSQL; between two PostgreSQL \
                     servers use pg_dump"
                .into(),
        }
        .into());
    }
    // Migrating both first means both sides have the same, current schema.
    drop(connect(from_db).await?);
    drop(connect(to_db).await?);
    let source = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::from_str(from_db)
                .map_err(DbError::db("parsing the SQLite URL"))?
                .read_only(true)
                .busy_timeout(Duration::from_secs(30)),
        )
        .await
        .map_err(DbError::db("opening the source database"))?;
    let target = PgPoolOptions::new()
        .max_connections(2)
        .connect(to_db)
        .await
        .map_err(DbError::db("connecting to the target database"))?;

    let tables = plan(&source, &target).await?;
    let mut report = CopyReport::default();
    for table in &tables {
        let copied = copy_table(
            &source,
            &target,
            table,
            from_objects,
            to_objects,
            scratch,
            &mut report,
            progress,
        )
        .await?;
        report.tables.push(copied);
    }
    source.close().await;
    target.close().await;
    Ok(report)
}

/// The tables to copy, parents before children, after checking that both
/// databases hold the same tables and columns.
async fn plan(source: &SqlitePool, target: &PgPool) -> Result<Vec<Table>, DbError> {
    let target_tables: BTreeSet<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
           AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(target)
    .await
    .map_err(DbError::db("listing the target's tables"))?
    .into_iter()
    .collect();
    let source_tables: BTreeSet<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master
         WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(source)
    .await
    .map_err(DbError::db("listing the source's tables"))?
    .into_iter()
    .collect();
    if source_tables != target_tables {
        return Err(DbError::Invalid(format!(
            "the two databases hold different tables (only in SQLite: {:?}; only in PostgreSQL: \
             {:?}); both must come from the same pitchgrade version",
            source_tables.difference(&target_tables).collect::<Vec<_>>(),
            target_tables.difference(&source_tables).collect::<Vec<_>>(),
        )));
    }

    let mut tables = BTreeMap::new();
    for name in &target_tables {
        let pg_columns: Vec<(String, String, bool)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text,
                    is_identity = 'YES' OR coalesce(column_default, '') LIKE 'nextval(%'
             FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1
             ORDER BY ordinal_position",
        )
        .bind(name)
        .fetch_all(target)
        .await
        .map_err(DbError::db("reading the target's columns"))?;
        let sqlite_columns: BTreeSet<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info(?)")
                .bind(name)
                .fetch_all(source)
                .await
                .map_err(DbError::db("reading the source's columns"))?
                .into_iter()
                .collect();
        let pg_names: BTreeSet<String> = pg_columns.iter().map(|(c, _, _)| c.clone()).collect();
        if pg_names != sqlite_columns {
            return Err(DbError::Invalid(format!(
                "table {name} has different columns in the two databases: SQLite {sqlite_columns:?}, PostgreSQL {pg_names:?}"
            )));
        }
        let mut columns = Vec::new();
        let mut generated = Vec::new();
        for (column, data_type, from_sequence) in pg_columns {
            ident(&column)?;
            if from_sequence {
                generated.push(column.clone());
            }
            let ty = ColumnType::from_postgres(&data_type).ok_or_else(|| {
                DbError::Invalid(format!(
                    "{name}.{column} has type {data_type}, which the copy does not know how to \
                     carry over from SQLite"
                ))
            })?;
            columns.push((column, ty));
        }
        ident(name)?;
        tables.insert(
            name.clone(),
            Table {
                name: name.clone(),
                columns,
                generated,
            },
        );
    }

    let edges: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT tc.table_name::text, ccu.table_name::text
         FROM information_schema.table_constraints tc
         JOIN information_schema.constraint_column_usage ccu
           ON ccu.constraint_name = tc.constraint_name AND ccu.table_schema = tc.table_schema
         WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = current_schema()",
    )
    .fetch_all(target)
    .await
    .map_err(DbError::db("reading the target's foreign keys"))?;
    order_by_dependencies(tables, &edges)
}

/// Parents first (Kahn's algorithm, ties by name so the order is stable).
fn order_by_dependencies(
    mut tables: BTreeMap<String, Table>,
    edges: &[(String, String)],
) -> Result<Vec<Table>, DbError> {
    let mut ordered = Vec::new();
    while !tables.is_empty() {
        let ready = tables
            .keys()
            .find(|t| {
                !edges.iter().any(|(child, parent)| {
                    child == *t && parent != *t && tables.contains_key(parent)
                })
            })
            .cloned()
            .ok_or_else(|| {
                DbError::Invalid(format!(
                    "foreign keys between {:?} form a cycle",
                    tables.keys().collect::<Vec<_>>()
                ))
            })?;
        if let Some(t) = tables.remove(&ready) {
            ordered.push(t);
        }
    }
    Ok(ordered)
}

#[allow(clippy::too_many_arguments)]
async fn copy_table(
    source: &SqlitePool,
    target: &PgPool,
    table: &Table,
    from_objects: &dyn ObjectStore,
    to_objects: &dyn ObjectStore,
    scratch: &Path,
    report: &mut CopyReport,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<TableCopy, StoreError> {
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|(c, _)| ident(c))
        .collect::<Result<_, _>>()?;
    let select = format!(
        "SELECT rowid AS pitchgrade_rowid, {} FROM {} WHERE rowid > ? ORDER BY rowid LIMIT ?",
        columns.join(", "),
        ident(&table.name)?
    );
    let has_objects = table.columns.iter().any(|(c, _)| c == "object_key");
    let mut copy = TableCopy {
        table: table.name.clone(),
        rows: 0,
        inserted: 0,
    };
    let mut after: i64 = 0;
    loop {
        let rows = sqlx::query(sqlx::AssertSqlSafe(select.as_str()))
            .bind(after)
            .bind(PAGE)
            .fetch_all(source)
            .await
            .map_err(DbError::db("reading rows to copy"))?;
        let Some(last) = rows.last() else { break };
        after = last
            .try_get("pitchgrade_rowid")
            .map_err(DbError::db("reading a rowid"))?;

        // Recordings first: a row never lands in the target before its object.
        if has_objects {
            for row in &rows {
                copy_object(row, &table.name, from_objects, to_objects, scratch, report).await?;
            }
        }

        let mut values = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut v = Vec::with_capacity(table.columns.len());
            for (column, ty) in &table.columns {
                v.push(read_value(row, &table.name, column, *ty)?);
            }
            values.push(v);
        }
        // Ids a sequence handed out in SQLite are kept: rows elsewhere may
        // point at them (GENERATED ALWAYS refuses them without this clause).
        let overriding = if table.generated.is_empty() {
            ""
        } else {
            "OVERRIDING SYSTEM VALUE "
        };
        let mut insert: QueryBuilder<Postgres> = QueryBuilder::new(format!(
            "INSERT INTO {} ({}) {overriding}",
            ident(&table.name)?,
            columns.join(", ")
        ));
        insert.push_values(values, |mut q, row| {
            for v in row {
                push_value(&mut q, v);
            }
        });
        insert.push(" ON CONFLICT DO NOTHING");
        let done = insert
            .build()
            .execute(target)
            .await
            .map_err(DbError::db("writing copied rows"))?;
        copy.rows += rows.len() as u64;
        copy.inserted += done.rows_affected();
        progress(&format!(
            "{}: {} rows read, {} written",
            table.name, copy.rows, copy.inserted
        ));
    }
    for column in &table.generated {
        // The next id PostgreSQL hands out must not collide with a copied one.
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence($1, $2),
                           (SELECT coalesce(max({col}), 0) + 1 FROM {tab}), false)",
            col = ident(column)?,
            tab = ident(&table.name)?,
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&table.name)
            .bind(column)
            .execute(target)
            .await
            .map_err(DbError::db("moving a sequence past the copied ids"))?;
    }
    Ok(copy)
}

async fn copy_object(
    row: &SqliteRow,
    table: &str,
    from: &dyn ObjectStore,
    to: &dyn ObjectStore,
    scratch: &Path,
    report: &mut CopyReport,
) -> Result<(), StoreError> {
    let key: Option<String> = row
        .try_get("object_key")
        .map_err(|e| corrupt(table, "object_key", e))?;
    let Some(key) = key else { return Ok(()) };
    let key = ObjectKey::parse(&key)?;
    if to.exists(&key).await? {
        report.objects_present += 1;
        return Ok(());
    }
    let content_type: String = row
        .try_get::<Option<String>, _>("content_type")
        .ok()
        .flatten()
        .unwrap_or_else(|| "application/octet-stream".into());
    let path = scratch.join(format!("copy-{}", Uuid::now_v7()));
    let result = async {
        // A copy between our own stores carries whatever is there, any size.
        from.get_to_file(&key, &path, u64::MAX).await?;
        to.put_file(&key, &path, &content_type).await
    }
    .await;
    let _ = tokio::fs::remove_file(&path).await;
    match result {
        Ok(()) => report.objects_copied += 1,
        Err(ObjectError::NotFound(_)) => report.objects_missing.push(key.to_string()),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str) -> Table {
        Table {
            name: name.into(),
            columns: Vec::new(),
            generated: Vec::new(),
        }
    }

    #[test]
    fn parents_are_copied_before_children() {
        let tables: BTreeMap<String, Table> = ["grades", "jobs", "submissions", "tokens"]
            .into_iter()
            .map(|t| (t.to_string(), table(t)))
            .collect();
        let edges = [
            ("grades".to_string(), "jobs".to_string()),
            ("grades".to_string(), "submissions".to_string()),
            ("jobs".to_string(), "submissions".to_string()),
            ("tokens".to_string(), "tokens".to_string()),
        ];
        let order: Vec<String> = order_by_dependencies(tables, &edges)
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(order, ["submissions", "jobs", "grades", "tokens"]);
    }

    #[test]
    fn a_cycle_is_an_error_not_a_loop() {
        let tables: BTreeMap<String, Table> = ["a", "b"]
            .into_iter()
            .map(|t| (t.to_string(), table(t)))
            .collect();
        let edges = [
            ("a".to_string(), "b".to_string()),
            ("b".to_string(), "a".to_string()),
        ];
        assert!(order_by_dependencies(tables, &edges).is_err());
    }

    #[test]
    fn only_plain_identifiers_reach_the_sql() {
        assert_eq!(ident("object_key").unwrap(), "\"object_key\"");
        assert!(ident("x\"; DROP TABLE grades; --").is_err());
        assert!(ident("").is_err());
    }
}
