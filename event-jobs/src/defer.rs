//! `after_commit`: jobs dispatched inside a unit of work are written only
//! when it succeeds, and the deliveries the kernel held in it
//! (`event_kernel::unit`: `after_commit` events and inline listeners) run
//! then.

use std::future::Future;
use std::sync::{Arc, Mutex};

use super::job::Job;
use super::{Queue, QueueError};

type Held = Arc<Mutex<Vec<(Queue, Job)>>>;

tokio::task_local! {
    static UNIT: Held;
}

/// Holds `job` when called inside [`defer`]; false (write it now) otherwise.
pub(crate) fn hold(target: &Queue, job: &Job) -> bool {
    UNIT.try_with(|held| {
        held.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((target.clone(), job.clone()));
    })
    .is_ok()
}

/// Runs `work` as a unit of work (Laravel's database transaction for
/// `after_commit`). Queued listeners and events marked `after_commit` that
/// it dispatches are written only if it returns `Ok`, after it returns; on
/// `Err` they are dropped. Others are written at once, as usual.
///
/// The same holds for deliveries: an event with `#[event(after_commit)]`
/// (`Event::dispatch_after_commit`, Laravel's `ShouldDispatchAfterCommit`)
/// reaches none of its listeners, inline or queued, until `work` returns
/// `Ok`, and none at all on `Err`; an inline listener declaring
/// `after_commit` (Laravel's `ShouldHandleEventsAfterCommit`) is called
/// then too. They run after the held jobs are written, in dispatch order;
/// the first that fails stops the rest and is returned
/// ([`QueueError::AfterCommit`]).
///
/// ```no_run
/// # async fn demo() -> anyhow::Result<()> {
/// event_jobs::defer(async {
///     // save the order in your database transaction, then:
///     // OrderPlacedEvent { .. }.dispatch().await?;
///     // commit; an error here drops the queued jobs
///     Ok::<_, anyhow::Error>(())
/// })
/// .await?;
/// # Ok(()) }
/// ```
///
/// Dispatches must happen in the same task (not in a `tokio::spawn`ed one).
/// Nested units hand their jobs to the enclosing one when they succeed. If
/// writing the held jobs fails, the error is returned.
pub async fn defer<T, E, F>(work: F) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
    E: From<QueueError>,
{
    let held: Held = Arc::default();
    let (result, deliveries) = event_kernel::unit::scope(UNIT.scope(held.clone(), work)).await;
    let jobs = std::mem::take(&mut *held.lock().unwrap_or_else(|e| e.into_inner()));
    let value = match result {
        Ok(value) => value,
        Err(error) => {
            deliveries.roll_back();
            free_unique_locks(jobs).await;
            return Err(error);
        }
    };
    write(jobs).await?;
    deliveries.commit().await.map_err(QueueError::AfterCommit)?;
    Ok(value)
}

/// A rolled-back unit's jobs are never written: the unique locks they took
/// at dispatch are freed, so the same id can be queued at once (not only
/// after `unique_for`).
async fn free_unique_locks(jobs: Vec<(Queue, Job)>) {
    for (queue, job) in jobs {
        if let Some(lock) = &job.envelope.settings.unique
            && let Ok(backend) = queue.backend()
        {
            lock.free(&**backend, &job.envelope.id).await;
        }
    }
}

/// Writes the jobs a unit held, or hands them to the enclosing unit.
async fn write(jobs: Vec<(Queue, Job)>) -> Result<(), QueueError> {
    if jobs.is_empty() {
        return Ok(());
    }
    // Inside an enclosing unit: it decides.
    let mut jobs = Some(jobs);
    let _ = UNIT.try_with(|outer| {
        if let Some(jobs) = jobs.take() {
            outer.lock().unwrap_or_else(|e| e.into_inner()).extend(jobs);
        }
    });
    let Some(jobs) = jobs else {
        return Ok(());
    };
    // One write per connection, in dispatch order within each.
    let mut batches: Vec<(Queue, Vec<Job>)> = Vec::new();
    for (queue, job) in jobs {
        match batches
            .iter_mut()
            .find(|(q, _)| Arc::ptr_eq(&q.inner, &queue.inner))
        {
            Some((_, batch)) => batch.push(job),
            None => batches.push((queue, vec![job])),
        }
    }
    for (queue, batch) in batches {
        queue.push(batch).await?;
    }
    Ok(())
}
