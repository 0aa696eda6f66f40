//! The shape of the events table, in both backends, and the check that an
//! existing table has it.

use super::error::StoreError;

/// Column name, SQLite declared type, PostgreSQL `information_schema` type.
pub(crate) const COLUMNS: [(&str, &str, &str); 13] = [
    ("position", "INTEGER", "bigint"),
    ("id", "TEXT", "text"),
    ("name", "TEXT", "text"),
    ("payload", "TEXT", "jsonb"),
    ("metadata", "TEXT", "jsonb"),
    ("tags", "TEXT", "jsonb"),
    ("stream", "TEXT", "text"),
    ("stream_version", "INTEGER", "bigint"),
    ("correlation_id", "TEXT", "text"),
    ("causation_id", "TEXT", "text"),
    ("replay_of", "TEXT", "text"),
    ("dispatched_at", "TEXT", "timestamp with time zone"),
    ("recorded_at", "TEXT", "timestamp with time zone"),
];

/// The columns a query selects, in `COLUMNS` order.
pub(crate) const SELECT: &str = "position, id, name, payload, metadata, tags, stream, \
     stream_version, correlation_id, causation_id, replay_of, dispatched_at, recorded_at";

/// The columns an append writes, in this order (`position` and
/// `recorded_at` are the table's own).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) const INSERT: &str = "(id, name, payload, metadata, tags, stream, stream_version, \
     correlation_id, causation_id, replay_of, dispatched_at)";

/// Which backend's types to compare against.
// Each backend is behind its own feature; a build may have only one.
#[allow(dead_code)]
#[derive(Clone, Copy)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A table name is used in SQL text, so it must be a plain identifier.
pub(crate) fn check_table(table: &str) -> Result<(), StoreError> {
    let invalid = |reason: &str| StoreError::InvalidTable {
        table: table.to_string(),
        reason: reason.to_string(),
    };
    let mut chars = table.chars();
    match chars.next() {
        None => return Err(invalid("must not be empty")),
        Some(c) if !(c.is_ascii_alphabetic() || c == '_') => {
            return Err(invalid("must start with a letter or `_`"));
        }
        _ => {}
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(invalid("only letters, digits and `_` are allowed"));
    }
    if table.len() > 48 {
        return Err(invalid("at most 48 characters (index names add a suffix)"));
    }
    Ok(())
}

/// Compares the columns found (name, type) with the expected ones; one
/// problem per missing or mismatched column.
pub(crate) fn shape_problems(found: &[(String, String)], dialect: Dialect) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, sqlite, postgres) in COLUMNS {
        let expected = match dialect {
            Dialect::Sqlite => sqlite,
            Dialect::Postgres => postgres,
        };
        match found.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            None => problems.push(format!("missing column `{name}` ({expected})")),
            Some((_, ty)) if !ty.eq_ignore_ascii_case(expected) => {
                problems.push(format!("column `{name}` is {ty}, expected {expected}"))
            }
            Some(_) => {}
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_identifiers() {
        assert!(check_table("events").is_ok());
        assert!(check_table("app_events_2").is_ok());
        for bad in ["", "1events", "events; drop", "ev-ents", "a.b"] {
            let err = check_table(bad).unwrap_err().to_string();
            assert!(err.contains("EVENTS_STORE_TABLE"), "{err}");
        }
    }

    #[test]
    fn each_missing_or_mismatched_column_is_named() {
        let found: Vec<(String, String)> = COLUMNS
            .iter()
            .filter(|(n, _, _)| *n != "tags" && *n != "replay_of")
            .map(|(n, s, _)| {
                let ty = if *n == "payload" { "BLOB" } else { s };
                (n.to_string(), ty.to_string())
            })
            .collect();
        let problems = shape_problems(&found, Dialect::Sqlite);
        assert_eq!(
            problems,
            vec![
                "column `payload` is BLOB, expected TEXT",
                "missing column `tags` (TEXT)",
                "missing column `replay_of` (TEXT)",
            ]
        );
    }
}
