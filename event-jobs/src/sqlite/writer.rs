//! Group commit for dispatches on the `sqlite` connection: one writer
//! thread takes every insert request waiting and commits them in one
//! transaction, so concurrent dispatches share a commit.

use std::sync::{Arc, Mutex};

use rusqlite::{Connection, TransactionBehavior, params};

/// One job row to insert.
pub(super) type Row = (String, String, i32, i64, u32, String);
pub(super) type Reply = tokio::sync::oneshot::Sender<rusqlite::Result<()>>;

/// The writer thread: takes every insert request waiting, writes them in one
/// transaction, answers each. Ends when the backend is dropped.
pub(super) fn write_loop(
    conn: Arc<Mutex<Connection>>,
    requests: std::sync::mpsc::Receiver<(Vec<Row>, Reply)>,
) {
    while let Ok(first) = requests.recv() {
        let mut batch = vec![first];
        let mut rows = batch[0].0.len();
        while rows < 4096 {
            match requests.try_recv() {
                Ok(more) => {
                    rows += more.0.len();
                    batch.push(more);
                }
                Err(_) => break,
            }
        }
        let mut conn = event_sqlite::lock(&conn);
        let together = insert_rows(&mut conn, batch.iter().flat_map(|(rows, _)| rows.iter()));
        match together {
            Ok(()) => {
                for (_, reply) in batch {
                    let _ = reply.send(Ok(()));
                }
            }
            // One request's failure must not fail the others sharing its
            // commit: each gets its own transaction and its own answer.
            Err(error) if batch.len() == 1 => {
                if let Some((_, reply)) = batch.pop() {
                    let _ = reply.send(Err(error));
                }
            }
            Err(_) => {
                for (rows, reply) in batch {
                    let _ = reply.send(insert_rows(&mut conn, rows.iter()));
                }
            }
        }
    }
}

fn insert_rows<'a>(
    conn: &mut Connection,
    rows: impl Iterator<Item = &'a Row>,
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO event_jobs (id, queue, priority, available_at, attempts, payload)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for row in rows {
            insert.execute(params![row.0, row.1, row.2, row.3, row.4, row.5])?;
        }
    }
    tx.commit()
}
