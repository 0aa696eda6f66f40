//! Reading a column of the `sqlite` connection's tables whatever SQLite
//! holds in it (another program, a hand edit or an old build may have
//! written it), and saying what it holds in a reason a user can read.

use rusqlite::types::Value;

/// What SQLite holds in a column, for a reason a user can read.
pub(super) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "NULL".to_string(),
        Value::Integer(n) => format!("the integer {n}"),
        Value::Real(x) => format!("the real number {x}"),
        Value::Text(t) => format!("the text {:?}", shorten(t)),
        Value::Blob(b) => format!("a BLOB of {} bytes", b.len()),
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

pub(super) fn integer(column: &str, value: &Value) -> Result<i64, String> {
    match value {
        Value::Integer(n) => Ok(*n),
        other => Err(format!(
            "column `{column}` holds {}, expected an integer",
            describe(other)
        )),
    }
}

/// What a column holds, as text: a BLOB read as (lossy) UTF-8, a number
/// written out, NULL empty.
pub(super) fn text(value: Value) -> String {
    match value {
        Value::Text(t) => t,
        Value::Blob(b) => String::from_utf8_lossy(&b).into_owned(),
        Value::Integer(n) => n.to_string(),
        Value::Real(x) => x.to_string(),
        Value::Null => String::new(),
    }
}
