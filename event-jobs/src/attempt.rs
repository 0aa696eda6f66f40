//! One attempt at a job, whatever stores it: rebuilding its event and
//! listeners, running them inside the job's middleware with its timeout,
//! and the verdict (done, retry, held back, failed for good, after the one
//! call of the `failed` hook).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::job::Job;
use super::registry::JobRegistry;
use super::settings::JobSettings;
use crate::current_job::{self, Decision};
use crate::error::RegistryError;
use crate::middleware::run::{self, Gate};
use crate::middleware::spec::Spec;
use crate::middleware::{JobInfo, Next, Release};
use crate::sealed::AppKeys;
use event_kernel::Event;
use event_kernel::EventListener;
use event_kernel::call::call_failed_hook;

pub(super) type Rebuilt = (Arc<dyn Event>, Vec<Arc<dyn EventListener>>);

/// The event and the listeners to run, from the live objects (memory) or
/// through the registry (JSON).
/// A sealed payload (an `encrypted` listener's job) is opened with `keys`.
pub(super) fn rebuild(
    registry: &JobRegistry,
    keys: &AppKeys,
    job: &Job,
) -> Result<Rebuilt, RegistryError> {
    let envelope = &job.envelope;
    let event = match &job.live {
        Some(live) => live.event.clone(),
        None => registry.decode(&envelope.event, envelope.event_json(keys)?)?,
    };
    let listeners = match (&job.live, &envelope.listener) {
        (Some(live), _) if live.listener.is_some() => live.listener.iter().cloned().collect(),
        (_, Some(name)) => vec![registry.listener_named(name)?],
        (_, None) => registry.listeners_for_job(&envelope.event, &*event),
    };
    Ok((event, listeners))
}

/// The job's middleware and where they keep their state.
pub(super) struct Wrap<'a> {
    pub gate: Gate<'a>,
    pub settings: &'a JobSettings,
    /// The job's id: who holds a `without_overlapping` lock.
    pub job_id: &'a str,
}

/// One attempt at a job, whatever stores it.
pub(super) struct Attempt<'a> {
    pub event: &'a Arc<dyn Event>,
    pub listeners: &'a [Arc<dyn EventListener>],
    /// 1-based.
    pub attempt: u32,
    /// Earlier attempts that ended in an error or a panic.
    pub exceptions: u32,
    pub tries: u32,
    pub timeout_ms: Option<u64>,
    pub max_exceptions: Option<u32>,
    /// Unix ms after which the job is not tried again (`retry_until`).
    pub deadline_ms: Option<i64>,
    /// `None` when the job has no middleware.
    pub wrap: Option<Wrap<'a>>,
    /// A queued event's job: its queued listeners are queued through this
    /// queue as jobs of their own (their settings, their lock, their
    /// seal), where the dispatch would have queued them; `None`: every
    /// listener runs here.
    pub fan_out: Option<&'a crate::Queue>,
}

impl Attempt<'_> {
    /// True when `listener` runs in this attempt, false when it is queued
    /// as a job of its own.
    fn runs_here(&self, listener: &Arc<dyn EventListener>) -> bool {
        self.fan_out.is_none() || !listener.should_queue()
    }
}

/// How an attempt ended.
pub(super) enum Verdict {
    Done,
    /// Try again after the backoff; `exceptions` counts this attempt.
    Retry {
        exceptions: u32,
        error: anyhow::Error,
    },
    /// A middleware held the job back, or its listener released it
    /// (`CurrentJob::release`): run it again after `after` (the attempt is
    /// used, not counted as an exception).
    Release {
        after: Duration,
        /// Released by the listener, not held back by a middleware.
        by_listener: bool,
    },
    /// A listener removed the job (`CurrentJob::delete`): not failed, not
    /// retried.
    Deleted,
    /// For good, after `attempts` attempts (the `failed` hook has run);
    /// `chain`: the error and its causes, outermost first.
    Fail {
        reason: String,
        attempts: u32,
        chain: Vec<String>,
    },
}

/// Why an attempt failed.
pub(super) enum Failure {
    Error(anyhow::Error),
    Timeout(u64),
}

/// Runs the listeners in order with the timeout, inside the job's
/// middleware; decides retry or failure.
pub(super) async fn attempt(run: Attempt<'_>) -> Verdict {
    let Attempt {
        event,
        listeners,
        attempt,
        tries,
        ..
    } = run;
    if attempt > tries {
        let reason = format!(
            "job has been attempted too many times ({} of {tries} tries): its worker stopped mid-job",
            attempt - 1,
        );
        return fail_all(&run, reason, attempt - 1).await;
    }
    if let Some(reason) = past_deadline(&run) {
        // Laravel fails a job popped after its `retryUntil` without running it.
        return fail_all(
            &run,
            format!("{reason} before attempt {attempt}"),
            attempt - 1,
        )
        .await;
    }
    let failed: Mutex<Option<(usize, Failure)>> = Mutex::new(None);
    let listeners_run = run_listeners(&run, &failed);
    let result = match &run.wrap {
        None => listeners_run.await,
        Some(wrap) => {
            let specs: Result<Vec<Spec>, _> = wrap
                .settings
                .middleware
                .iter()
                .map(|m| Spec::parse(m))
                .collect();
            let specs = match specs {
                Ok(specs) => specs,
                Err(e) => return fail_all(&run, e.to_string(), attempt).await,
            };
            let listener = match listeners {
                [one] => Some(one.listener_name()),
                _ => None,
            };
            let info = JobInfo {
                event,
                listener,
                attempt,
                settings: wrap.settings,
                timeout: run.timeout_ms.map(Duration::from_millis),
            };
            let next: Next<'_> = Box::pin(listeners_run);
            run::wrap(&wrap.gate, &info, wrap.job_id, &specs, next).await
        }
    };
    let failure = failed.lock().unwrap_or_else(|e| e.into_inner()).take();
    // The listener's own say (`CurrentJob`) wins over how it returned.
    if let Some((index, decision)) = current_job::take_decision() {
        return decided(&run, index, decision).await;
    }
    match (result, failure) {
        (Ok(()), _) => Verdict::Done,
        (Err(_), Some((index, failure))) => failed_attempt(&run, &listeners[index], failure).await,
        (Err(error), None) => match error.downcast_ref::<Release>() {
            Some(Release(after)) if attempt < tries && past_deadline(&run).is_none() => {
                Verdict::Release {
                    after: *after,
                    by_listener: false,
                }
            }
            Some(_) => {
                let reason = format!("{error}, with no tries left ({attempt} of {tries})");
                fail_all(&run, reason, attempt).await
            }
            // A middleware's own error: an exception of this attempt.
            None => match listeners.first() {
                Some(first) => failed_attempt(&run, first, Failure::Error(error)).await,
                None => Verdict::Fail {
                    reason: format!("{error:#}"),
                    attempts: attempt,
                    chain: crate::attempt_record::chain_of(&error),
                },
            },
        },
    }
}

/// The listeners, in order, each with the timeout. A failure is left in
/// `failed` (which listener, and why); the future's error only says there
/// was one, for the middleware around it.
// The middleware chain needs the future to be `Send`, which `async fn` would not spell out.
#[allow(clippy::manual_async_fn)]
fn run_listeners<'a>(
    run: &'a Attempt<'a>,
    failed: &'a Mutex<Option<(usize, Failure)>>,
) -> impl std::future::Future<Output = anyhow::Result<()>> + Send + 'a {
    async move {
        // The timeout bounds the attempt, not each listener: a queued
        // event's listeners share it (and a `without_overlapping` lock,
        // which lives for the timeout, outlives the attempt).
        let deadline = run
            .timeout_ms
            .map(|ms| (ms, tokio::time::Instant::now() + Duration::from_millis(ms)));
        for (index, listener) in run.listeners.iter().enumerate() {
            if let Some(queue) = run.fan_out
                && listener.should_queue()
            {
                // A queued event's queued listener: its own job, as the
                // dispatch would have made it.
                if let Err(error) = queue
                    .queue_listener_on(listener.clone(), run.event.clone())
                    .await
                {
                    let summary = anyhow::anyhow!(
                        "listener `{}` could not be queued: {error:#}",
                        listener.listener_name()
                    );
                    *failed.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some((index, Failure::Error(error)));
                    return Err(summary);
                }
                continue;
            }
            current_job::calling(index);
            let call = event_kernel::call::invoke(listener, run.event);
            let result = match deadline {
                Some((ms, deadline)) => match tokio::time::timeout_at(deadline, call).await {
                    Ok(result) => result.map_err(Failure::Error),
                    Err(_) => Err(Failure::Timeout(ms)),
                },
                None => call.await.map_err(Failure::Error),
            };
            if current_job::decided() {
                // The listener released, deleted or failed its job: the
                // listeners after it do not run; what it returned is only
                // logged.
                if let Err(failure) = result {
                    let error = match failure {
                        Failure::Error(e) => format!("{e:#}"),
                        Failure::Timeout(ms) => format!("timed out after {ms} ms"),
                    };
                    tracing::warn!(listener = listener.listener_name(), %error, "listener returned an error after deciding its job's end; the decision stands");
                }
                return Ok(());
            }
            if let Err(failure) = result {
                let summary = match &failure {
                    Failure::Error(e) => {
                        anyhow::anyhow!("listener `{}` failed: {e:#}", listener.listener_name())
                    }
                    Failure::Timeout(ms) => anyhow::anyhow!(
                        "listener `{}` timed out after {ms} ms",
                        listener.listener_name()
                    ),
                };
                *failed.lock().unwrap_or_else(|e| e.into_inner()) = Some((index, failure));
                return Err(summary);
            }
        }
        Ok(())
    }
}

/// The verdict a listener chose through `CurrentJob` (listener `index`
/// of the attempt's listeners).
pub(super) async fn decided(run: &Attempt<'_>, index: usize, decision: Decision) -> Verdict {
    let Some(listener) = run.listeners.get(index).or(run.listeners.first()) else {
        return Verdict::Done;
    };
    let event = run.event;
    match decision {
        Decision::Delete => Verdict::Deleted,
        Decision::Release(after) if run.attempt < run.tries && past_deadline(run).is_none() => {
            Verdict::Release {
                after,
                by_listener: true,
            }
        }
        Decision::Release(_) => {
            let reason = match past_deadline(run) {
                Some(passed) => format!(
                    "listener `{}` released the job after {passed}",
                    listener.listener_name()
                ),
                None => format!(
                    "listener `{}` released the job with no tries left ({} of {})",
                    listener.listener_name(),
                    run.attempt,
                    run.tries
                ),
            };
            call_failed_hook(listener, event, &anyhow::anyhow!(reason.clone())).await;
            Verdict::Fail {
                chain: vec![reason.clone()],
                reason,
                attempts: run.attempt,
            }
        }
        Decision::Fail(reason) => {
            call_failed_hook(listener, event, &anyhow::anyhow!(reason.clone())).await;
            Verdict::Fail {
                chain: vec![reason.clone()],
                reason,
                attempts: run.attempt,
            }
        }
    }
}

/// Why the job may not be tried again: its `retry_until` deadline passed.
fn past_deadline(run: &Attempt<'_>) -> Option<String> {
    let deadline = run.deadline_ms?;
    let now = crate::job::now_ms();
    (now >= deadline).then(|| {
        let at = chrono::DateTime::from_timestamp_millis(deadline)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_else(|| deadline.to_string());
        format!("its retry_until deadline ({at}) passed")
    })
}

/// Fails the job for good: every listener's `failed` hook, then the verdict.
async fn fail_all(run: &Attempt<'_>, reason: String, attempts: u32) -> Verdict {
    let error = anyhow::anyhow!(reason.clone());
    for listener in run.listeners.iter().filter(|l| run.runs_here(l)) {
        call_failed_hook(listener, run.event, &error).await;
    }
    Verdict::Fail {
        chain: vec![reason.clone()],
        reason,
        attempts,
    }
}

/// The verdict on an attempt that `listener` failed: retry, or (after its
/// `failed` hook) fail for good.
pub(super) async fn failed_attempt(
    run: &Attempt<'_>,
    listener: &Arc<dyn EventListener>,
    failure: Failure,
) -> Verdict {
    let event = run.event;
    let mut exceptions = run.exceptions;
    let error = match failure {
        Failure::Error(e) => {
            exceptions += 1;
            e.context(format!(
                "listener `{}` failed handling event `{}`",
                listener.listener_name(),
                event.event_name()
            ))
        }
        Failure::Timeout(ms) => anyhow::anyhow!(
            "listener `{}` timed out after {ms} ms handling event `{}`",
            listener.listener_name(),
            event.event_name()
        ),
    };
    let too_many_exceptions = run.max_exceptions.is_some_and(|max| exceptions >= max);
    let passed = past_deadline(run);
    if run.attempt >= run.tries || too_many_exceptions || passed.is_some() {
        let error = match passed {
            Some(passed) => error.context(passed),
            None => error,
        };
        call_failed_hook(listener, event, &error).await;
        return Verdict::Fail {
            reason: format!("{error:#}"),
            attempts: run.attempt,
            chain: crate::attempt_record::chain_of(&error),
        };
    }
    Verdict::Retry { exceptions, error }
}
