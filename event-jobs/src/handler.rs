//! The queue as the dispatcher's [`QueueableHandler`]: a queued listener
//! or event becomes a job here. A job for a backend in this process
//! (`memory`) is pushed at once, without a future (`queue_*_now`); every
//! other job is built with its envelope and written through its
//! connection, after the unit of work when it is `after_commit`.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

use super::{JobSettings, MemoryBackend, Queue, QueueError, middleware, settings};
use event_kernel::Event;
use event_kernel::WeakDispatcher;
use event_kernel::{EventJobNeeds, EventListener, QueueableHandler};

impl Queue {
    /// Where a job for `connection` goes when that is a backend in this
    /// process; `None` when it needs the general path (storage, `sync`).
    fn in_process_target(
        &self,
        connection: Option<&str>,
    ) -> Option<Result<&MemoryBackend, QueueError>> {
        if connection.is_none() {
            return self.in_process().map(Ok);
        }
        match self.route(connection) {
            Ok(target) => target?.in_process().map(Ok),
            Err(e) => Some(Err(e)),
        }
    }
}

impl Queue {
    /// The dispatcher's fast path: a job for a backend in this process
    /// (`memory`) is pushed without waiting; `None` when it needs the
    /// general path.
    pub(super) fn queue_listener_now_on(
        &self,
        listener: &Arc<dyn EventListener>,
        event: &Arc<dyn Event>,
    ) -> Option<anyhow::Result<()>> {
        if self.inner.memory.is_none() && self.inner.others.is_empty() {
            return None;
        }
        // Resolved in place and read by reference: the settings are not
        // moved on the way to the backend.
        let options = listener.options();
        if options.unique.is_some() || options.encrypted {
            // The lock is taken, and the payload sealed, on the general path.
            return None;
        }
        let mut settings = JobSettings::from(options);
        settings::resolve(&mut settings, &**event, &self.inner.defaults);
        self.push_now(&settings, event, Some(listener))
    }

    fn queue_event_now_on(&self, event: &Arc<dyn Event>) -> Option<anyhow::Result<()>> {
        if self.inner.memory.is_none() && self.inner.others.is_empty() {
            return None;
        }
        let settings = self.event_settings(&**event);
        self.push_now(&settings, event, None)
    }

    fn push_now(
        &self,
        settings: &JobSettings,
        event: &Arc<dyn Event>,
        listener: Option<&Arc<dyn EventListener>>,
    ) -> Option<anyhow::Result<()>> {
        let target = match self.in_process_target(settings.connection.as_deref())? {
            Ok(target) => target,
            Err(e) => return Some(Err(e.into())),
        };
        // `after_commit` may be held by a unit of work, and a job queued
        // inside a recorded event's listeners carries the event store's
        // ids in its envelope: the general path.
        if settings.after_commit || event_kernel::scope::recorded() {
            return None;
        }
        if let Err(e) = middleware::spec::check(&settings.middleware) {
            return Some(Err(e.into()));
        }
        let queue = settings.queue_or(self.default_queue());
        target.push_live(event, listener, settings, queue);
        Some(Ok(()))
    }

    async fn queue_event_on(
        &self,
        event: Arc<dyn Event>,
        dispatcher: Option<&WeakDispatcher>,
        needs: EventJobNeeds,
    ) -> anyhow::Result<()> {
        let mut job = self.event_job(&event);
        // An `encrypted` queued listener's payload is the event: its job
        // carries it sealed too; an `after_commit` listener holds it.
        job.envelope.settings.encrypted |= needs.sealed;
        job.envelope.settings.after_commit |= needs.after_commit;
        middleware::spec::check(&job.envelope.settings.middleware)?;
        match self.route(job.envelope.settings.connection.as_deref())? {
            Some(target) => Ok(self.enqueue(target, job).await?),
            None => {
                let dispatcher = dispatcher.and_then(WeakDispatcher::upgrade).context(
                    "a queued event on the `sync` connection needs `Queue::install` on a live dispatcher",
                )?;
                dispatcher.dispatch_now(event).await
            }
        }
    }

    /// Queues one queued listener's job (also what a worker does with the
    /// queued listeners of a queued event's job).
    pub(crate) async fn queue_listener_on(
        &self,
        listener: Arc<dyn EventListener>,
        event: Arc<dyn Event>,
    ) -> anyhow::Result<()> {
        let job = self.listener_job(&listener, &event);
        middleware::spec::check(&job.envelope.settings.middleware)?;
        match self.route(job.envelope.settings.connection.as_deref())? {
            Some(target) => Ok(self.enqueue(target, job).await?),
            None => {
                let after_commit = job.envelope.settings.after_commit;
                let (held_event, name) = (event.clone(), listener.listener_name().to_string());
                let run = move || -> std::pin::Pin<
                    Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>,
                > { Box::pin(run_inline(job, listener, event)) };
                // `after_commit` inside a unit of work: held like an inline
                // listener's call, run once the unit commits.
                if after_commit {
                    return match event_kernel::unit::hold_call(held_event, &name, run)? {
                        Some(run) => run().await,
                        None => Ok(()),
                    };
                }
                run().await
            }
        }
    }
}

/// What [`Queue::install`] sets on a dispatcher: the queue, and which
/// dispatcher it serves (for queued events that run inline on `sync`).
pub(super) struct Installed {
    pub(super) queue: Queue,
    pub(super) dispatcher: WeakDispatcher,
}

#[async_trait]
impl QueueableHandler for Installed {
    fn queue_listener_now(
        &self,
        listener: &Arc<dyn EventListener>,
        event: &Arc<dyn Event>,
    ) -> Option<anyhow::Result<()>> {
        self.queue.queue_listener_now_on(listener, event)
    }

    fn queue_event_now(&self, event: &Arc<dyn Event>) -> Option<anyhow::Result<()>> {
        self.queue.queue_event_now_on(event)
    }

    async fn queue_event(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
        self.queue
            .queue_event_on(event, Some(&self.dispatcher), EventJobNeeds::default())
            .await
    }

    async fn queue_event_with(
        &self,
        event: Arc<dyn Event>,
        needs: EventJobNeeds,
    ) -> anyhow::Result<()> {
        self.queue
            .queue_event_on(event, Some(&self.dispatcher), needs)
            .await
    }

    async fn queue_listener(
        &self,
        listener: Arc<dyn EventListener>,
        event: Arc<dyn Event>,
    ) -> anyhow::Result<()> {
        self.queue.queue_listener_on(listener, event).await
    }
}

/// A `Queue` set as a handler by hand (`set_queueable_handler`) serves no
/// dispatcher in particular: [`Queue::install`] it to run `sync` queued
/// events inline.
#[async_trait]
impl QueueableHandler for Queue {
    fn queue_listener_now(
        &self,
        listener: &Arc<dyn EventListener>,
        event: &Arc<dyn Event>,
    ) -> Option<anyhow::Result<()>> {
        self.queue_listener_now_on(listener, event)
    }

    fn queue_event_now(&self, event: &Arc<dyn Event>) -> Option<anyhow::Result<()>> {
        self.queue_event_now_on(event)
    }

    async fn queue_event(&self, event: Arc<dyn Event>) -> anyhow::Result<()> {
        self.queue_event_on(event, None, EventJobNeeds::default())
            .await
    }

    async fn queue_event_with(
        &self,
        event: Arc<dyn Event>,
        needs: EventJobNeeds,
    ) -> anyhow::Result<()> {
        self.queue_event_on(event, None, needs).await
    }

    async fn queue_listener(
        &self,
        listener: Arc<dyn EventListener>,
        event: Arc<dyn Event>,
    ) -> anyhow::Result<()> {
        self.queue_listener_on(listener, event).await
    }
}

/// A queued listener's job on the `sync` connection: run here, now. A
/// unique listener's lock is this process's, held while it runs (or until
/// it starts).
async fn run_inline(
    job: crate::job::Job,
    listener: Arc<dyn EventListener>,
    event: Arc<dyn Event>,
) -> anyhow::Result<()> {
    let lock = job.envelope.settings.unique.as_ref();
    let owner = &job.envelope.id;
    if let Some(lock) = lock
        && !lock.take_inline(owner)
    {
        tracing::info!(lock = %lock.key, "unique job not run: one with the same id is running");
        return Ok(());
    }
    if let Some(lock) = lock.filter(|l| l.until_processing) {
        lock.free_inline(owner);
    }
    let result = event_kernel::call::invoke(&listener, &event).await;
    if let Err(error) = &result {
        event_kernel::call::call_failed_hook(&listener, &event, error).await;
    }
    if let Some(lock) = lock {
        lock.free_inline(owner);
    }
    result
}
