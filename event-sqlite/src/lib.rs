//! The SQLite plumbing `event-core`'s queue (`event-jobs`) and event store
//! (`event-history`) share, so the two open their files and run their
//! statements the same way: WAL, `synchronous = NORMAL`, a 30 s busy
//! timeout, and blocking calls on tokio's blocking pool, never on a runtime
//! thread.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;

/// How long a statement waits for another connection's write lock before
/// it fails with `SQLITE_BUSY`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens (creating if needed) the database file at `path` for concurrent
/// use by several connections and processes: WAL journal, `synchronous =
/// NORMAL` (durable across a process crash; a power cut may lose the last
/// commits), and [`BUSY_TIMEOUT`].
pub fn open(path: &str) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

/// The connection behind `conn`, even if a thread panicked while holding
/// it: a statement either ran or did not, so the connection stays usable.
pub fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(|e| e.into_inner())
}

/// True when SQLite's error means the database could not be used at all
/// (the file cannot be opened, or another connection kept it busy past
/// [`BUSY_TIMEOUT`]), as opposed to refusing one statement: what the queue's
/// and the store's `is_unreachable()` say for SQLite.
pub fn is_unreachable(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::DatabaseBusy)
    )
}

/// Why [`run`] has no result: the blocking task did not finish (the
/// runtime is shutting down, or `work` panicked).
#[derive(Debug)]
pub struct Lost(tokio::task::JoinError);

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the database thread failed: {}", self.0)
    }
}

impl std::error::Error for Lost {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Runs `work` on `conn` on tokio's blocking pool and waits for it.
pub async fn run<T, F>(conn: &Arc<Mutex<Connection>>, work: F) -> Result<T, Lost>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> T + Send + 'static,
{
    let conn = conn.clone();
    tokio::task::spawn_blocking(move || work(&mut lock(&conn)))
        .await
        .map_err(Lost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn opens_in_wal_and_runs_off_the_runtime() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.db");
        let conn = Arc::new(Mutex::new(
            open(path.to_str().expect("utf-8")).expect("open"),
        ));
        let mode: String = run(&conn, |c| {
            c.query_row("PRAGMA journal_mode", [], |row| row.get(0))
        })
        .await
        .expect("ran")
        .expect("query");
        assert_eq!(mode, "wal");
        let missing = open("/nonexistent-dir/x.db").expect_err("no such folder");
        assert!(is_unreachable(&missing), "{missing}");
        let lost = run(&conn, |_| -> () { panic!("boom") }).await;
        assert!(lost.is_err());
        // The panic did not poison the connection for the next statement.
        let one: i64 = run(&conn, |c| c.query_row("SELECT 1", [], |row| row.get(0)))
            .await
            .expect("ran")
            .expect("query");
        assert_eq!(one, 1);
    }
}
