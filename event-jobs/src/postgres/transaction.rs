//! Transactional enqueue: jobs dispatched inside [`in_transaction`] are
//! written through the caller's own PostgreSQL transaction.

use std::future::Future;
use std::sync::{Arc, Mutex};

use super::Inner;
use super::rows::{rows_of, rows_params};
use crate::QueueError;
use crate::job::Job;

type Held = Arc<Mutex<Vec<(Arc<Inner>, Vec<Job>)>>>;

tokio::task_local! {
    static HELD: Held;
}

/// Inside [`in_transaction`], keeps `jobs` for its transaction and returns
/// `None`; outside, hands them back to be written now.
pub(super) fn hold(inner: &Arc<Inner>, jobs: Vec<Job>) -> Option<Vec<Job>> {
    let mut jobs = Some(jobs);
    let _ = HELD.try_with(|held| {
        if let Some(jobs) = jobs.take() {
            held.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((inner.clone(), jobs));
        }
    });
    jobs
}

/// Runs `work`, writing every job it dispatches to a `postgres` connection
/// into `transaction` (the caller's own, on the same database): the jobs
/// exist if and only if the transaction commits, and workers are notified
/// when it does. It is `after_commit` in its strongest form: no window
/// where the data is committed and the job is not (or the reverse), even if
/// the process dies between the two.
///
/// ```no_run
/// # async fn demo(client: &mut event_jobs::postgres::tokio_postgres::Client,
/// #               dispatcher: &event_kernel::Dispatcher) -> anyhow::Result<()> {
/// # #[derive(Debug)] struct OrderPlaced; impl event_kernel::Event for OrderPlaced {
/// #     fn event_name(&self) -> &'static str { "OrderPlaced" }
/// #     fn to_json(&self) -> serde_json::Value { serde_json::Value::Null } }
/// use event_jobs::postgres::in_transaction;
/// let tx = client.transaction().await?;
/// tx.execute("INSERT INTO orders (id) VALUES (42)", &[]).await?;
/// in_transaction(&tx, async {
///     dispatcher.dispatch(OrderPlaced).await // its queued listeners' jobs go into `tx`
/// })
/// .await?;
/// tx.commit().await?; // the order and its jobs, or neither
/// # Ok(()) }
/// ```
///
/// Jobs for other connections are written as usual. Dispatches must happen
/// in the same task (not in a `tokio::spawn`ed one). When `work` fails, its
/// jobs are dropped and its error returned; roll the transaction back.
///
/// `in_transaction` does not see the commit (the caller makes it), so it
/// cannot hold deliveries for it: an `#[event(after_commit)]` event, or an
/// inline listener declaring `after_commit`, dispatched inside it fails
/// with an error naming `postgres::in_transaction`, unless the whole
/// transaction runs inside [`defer`](crate::defer), which then holds them
/// until it returns (after your `commit`).
pub async fn in_transaction<T, E, F>(
    transaction: &tokio_postgres::Transaction<'_>,
    work: F,
) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
    E: From<QueueError>,
{
    let held: Held = Arc::default();
    let result = event_kernel::unit::scope_unseen(
        "postgres::in_transaction",
        HELD.scope(held.clone(), work),
    )
    .await;
    let batches = std::mem::take(&mut *held.lock().unwrap_or_else(|e| e.into_inner()));
    let value = result?;
    for (inner, jobs) in batches {
        let rows = rows_of(&jobs).map_err(|e| inner.json("encode jobs", e))?;
        transaction
            .execute(
                inner.tables.insert.as_str(),
                &rows_params(&rows, &inner.tables.channel),
            )
            .await
            .map_err(|e| inner.pg("cannot write jobs in the transaction", e))?;
    }
    Ok(value)
}
