//! One dispatch, from the resolved listeners to each listener's result:
//! the plain loop, the interceptors' seam, the event store's record, the
//! broadcast, the queue handler and the listeners in order (until one
//! stops propagation). `dispatch`,
//! `dispatch_now` and `until` all come here, told apart by their [`Mode`].

use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::failure::{BroadcastFailed, listener_failed, queue_failed};
use super::held::{self, Holding};
use super::intercept::{self, Flow, Interception};
use super::local::Resolved;
use super::mode::Mode;
use super::{Dispatcher, Route};
use crate::broadcasting::{BroadcastMessage, Broadcaster, queued};
use crate::event::Event;
use crate::handler::{EventJobNeeds, QueueableHandler};
use crate::hop::{Hop, HopKind, Timing};
use crate::listener::EventListener;
use crate::propagation;
use crate::scope;
use crate::scope::Recorder;
use crate::unit;

impl Dispatcher {
    /// The one dispatch loop; `mode` says what the results make of it.
    /// `wrapped` is true inside the interceptors' `around`.
    pub(super) async fn dispatch_arc<M: Mode>(
        &self,
        event: Arc<dyn Event>,
        queue_event: bool,
        mut mode: M,
        wrapped: bool,
    ) -> M::Output {
        // Deferred (`deferral::defer`), or `after_commit` in a unit of work:
        // delivered later through this function again, or never.
        if !wrapped && held::may_hold(&*event) {
            match self.hold_dispatch(&event, queue_event) {
                Holding::Deliver => {}
                Holding::Held => return mode.taken(),
                Holding::Refused(error) => return refused(mode, error),
            }
        }
        let idle = intercept::idle();
        if !idle && !wrapped && intercept::wraps() {
            return self.dispatch_wrapped(event, queue_event, mode).await;
        }
        let resolved = self.resolve(&*event);
        if idle && resolved.plain {
            // Nothing to route, record, broadcast or queue: `deliver`'s loop
            // without a queue handler, run here rather than in a nested future.
            let output = 'listeners: {
                for listener in resolved.listeners.iter() {
                    let step = match listener.handle(event.clone()).await {
                        Ok(()) => mode.handled(Ok(())),
                        Err(error) if propagation::is_stop(&error) => {
                            break 'listeners mode.finish(Ok(()));
                        }
                        Err(error) => {
                            mode.handled(Err(listener_failed(listener, &event, error).await))
                        }
                    };
                    if let ControlFlow::Break(output) = step {
                        break 'listeners output;
                    }
                }
                mode.finish(Ok(()))
            };
            resolved.give_back();
            return output;
        }
        let routed;
        // Without interceptors, borrow the resolved handler and broadcaster
        // rather than cloning their (shared) Arcs.
        let (handler, broadcaster) = if idle {
            (
                resolved.handler.as_ref(),
                resolved.broadcaster.as_ref().map(|b| (b, true)),
            )
        } else {
            match self.intercept(&event, &resolved) {
                Some(route) => {
                    routed = route;
                    (routed.0.as_ref(), routed.1.as_ref().map(|b| (b, routed.2)))
                }
                None => return mode.taken(),
            }
        };
        match resolved.recorder.as_ref() {
            None => {
                self.deliver(
                    &event,
                    &resolved,
                    handler,
                    broadcaster,
                    queue_event,
                    mode,
                    None,
                )
                .await
            }
            // The event store: one record per dispatch that interceptors let
            // through (a faked event is never recorded); its listeners run in
            // the event's correlation scope.
            Some(recorder) => {
                let causation = recorder.record(&event);
                // Its hops too, when the recorder takes them (not in a replay,
                // whose dispatches are not stored).
                let hops =
                    (causation.replay_of.is_none() && recorder.records_hops()).then_some(Hops {
                        recorder: recorder.as_ref(),
                        event_id: causation.event_id,
                    });
                let delivery = self.deliver(
                    &event,
                    &resolved,
                    handler,
                    broadcaster,
                    queue_event,
                    mode,
                    hops.as_ref(),
                );
                scope::within(causation, delivery).await
            }
        }
    }

    /// Broadcasts, then queues the event or runs (or queues) each listener.
    #[allow(clippy::too_many_arguments)]
    async fn deliver<M: Mode>(
        &self,
        event: &Arc<dyn Event>,
        resolved: &Resolved,
        handler: Option<&Arc<dyn QueueableHandler>>,
        // The broadcaster, and whether it is the one installed (not a fake's).
        broadcaster: Option<(&Arc<dyn Broadcaster>, bool)>,
        queue_event: bool,
        mut mode: M,
        // The recorded event's hops go here, when the recorder takes them.
        hops: Option<&Hops<'_>>,
    ) -> M::Output {
        // `should_queue_broadcast`: a worker broadcasts through the queue; a
        // faked broadcaster records the broadcast now.
        let broadcast = match (broadcaster, handler) {
            (Some((used, true)), Some(handler)) if queued::is_queued(&**event) => {
                let timing = hops.map(|_| Timing::start());
                let queued = queued::queue(handler, used, event).await;
                if let (Some(hops), Some(timing)) = (hops, timing) {
                    let name = queued::BROADCAST_LISTENER;
                    hops.note(timing.hop(HopKind::Queued, name, queued.as_ref().map(|_| ())));
                }
                queued.map_err(|error| queue_failed(event, None, error))
            }
            (Some((broadcaster, _)), _) => broadcast(broadcaster.as_ref(), &**event, hops).await,
            (None, _) => Ok(()),
        };
        if let Some(handler) = handler
            && queue_event
            && event.should_queue()
            && !event.is_synchronous()
        {
            // Its listeners' `encrypted` and `after_commit` reach the
            // event's job, which carries the event before any of them runs.
            let needs = EventJobNeeds::new(resolved.sealed, resolved.after_commit);
            let queued = if needs.any() {
                handler.queue_event_with(event.clone(), needs).await
            } else {
                match handler.queue_event_now(event) {
                    Some(done) => done,
                    None => handler.queue_event(event.clone()).await,
                }
            };
            if let Err(error) = queued
                && let ControlFlow::Break(output) =
                    mode.queue_failed(queue_failed(event, None, error))
            {
                return output;
            }
            return mode.finish(broadcast);
        }
        // The hot loop: kept in this function (no nested future per listener).
        for listener in resolved.listeners.iter() {
            let queued = listener.should_queue();
            // Laravel's `shouldQueue($event)`: false, neither queued nor run.
            if queued && !listener.queue_if(&**event) {
                continue;
            }
            let step = if let Some(handler) = handler
                && queued
            {
                let timing = hops.map(|_| Timing::start());
                let queued = match handler.queue_listener_now(listener, event) {
                    Some(done) => done,
                    None => {
                        handler
                            .queue_listener(listener.clone(), event.clone())
                            .await
                    }
                };
                if let (Some(hops), Some(timing)) = (hops, timing) {
                    let mut hop = timing.hop(
                        HopKind::Queued,
                        listener.listener_name(),
                        queued.as_ref().map(|_| ()),
                    );
                    hop.queue = listener.options().queue;
                    hops.note(hop);
                }
                match queued {
                    Ok(()) => continue,
                    Err(error) => mode.queue_failed(queue_failed(event, Some(listener), error)),
                }
            } else {
                // `after_commit` on a listener running inline: a unit of
                // work holds the call until it commits.
                let holding = if queued && handler.is_none() && listener.options().unique.is_some()
                {
                    // Nothing declared is ignored: with no queue there is
                    // no lock to keep the job unique.
                    Holding::Refused(anyhow::anyhow!(
                        "listener `{}` declares `unique_id`, but no queue is installed, so nothing \
                         keeps its job unique: install one (`Queue::install`, or boot with \
                         EVENTS_QUEUE_CONNECTION set to memory, sqlite, redis or postgres)",
                        listener.listener_name()
                    ))
                } else if resolved.after_commit && unit::active() && listener.options().after_commit
                {
                    self.hold_listener(listener, event)
                } else {
                    Holding::Deliver
                };
                match holding {
                    Holding::Held => continue,
                    Holding::Refused(error) => mode.handled(Err(error)),
                    Holding::Deliver => match handle(listener, event, hops).await {
                        Ok(()) => mode.handled(Ok(())),
                        // Laravel's `return false`: the remaining listeners do not run.
                        Err(error) if propagation::is_stop(&error) => break,
                        Err(error) => {
                            mode.handled(Err(listener_failed(listener, event, error).await))
                        }
                    },
                }
            };
            if let ControlFlow::Break(output) = step {
                return output;
            }
        }
        mode.finish(broadcast)
    }

    /// Offers the dispatch to the interceptors: `None` when one took the
    /// event, else the queue handler and broadcaster to use.
    #[inline(never)]
    fn intercept(&self, event: &Arc<dyn Event>, resolved: &Resolved) -> Option<Route> {
        let mut dispatch = Interception::new(
            self,
            event,
            resolved.handler.clone(),
            resolved.broadcaster.clone(),
        );
        match intercept::before(&mut dispatch) {
            Flow::Taken => None,
            Flow::Deliver => Some(dispatch.into_route()),
        }
    }

    /// The dispatch run inside the interceptors that wrap deliveries.
    #[inline(never)]
    fn dispatch_wrapped<'a, M: Mode + 'a>(
        &'a self,
        event: Arc<dyn Event>,
        queue_event: bool,
        mode: M,
    ) -> Pin<Box<dyn Future<Output = M::Output> + Send + 'a>> {
        Box::pin(async move {
            let mut output = None;
            let scoped = event.clone();
            let delivery: intercept::Delivery<'_> = Box::pin(async {
                output = Some(self.dispatch_arc(event, queue_event, mode, true).await);
            });
            intercept::around(&scoped, delivery).await;
            // `None`: an interceptor dropped the delivery without running it.
            output.unwrap_or_else(M::dropped)
        })
    }
}

/// A dispatch that could not be held where it was made.
fn refused<M: Mode>(mut mode: M, error: anyhow::Error) -> M::Output {
    match mode.queue_failed(error) {
        ControlFlow::Break(output) => output,
        ControlFlow::Continue(()) => mode.finish(Ok(())),
    }
}

async fn broadcast(
    broadcaster: &dyn Broadcaster,
    event: &dyn Event,
    hops: Option<&Hops<'_>>,
) -> Result<()> {
    let Some(message) = BroadcastMessage::for_event(event) else {
        return Ok(());
    };
    let sent = match hops {
        None => broadcaster.broadcast(&message).await,
        // Recorded: ask the broadcaster how many connections it reached.
        Some(hops) => {
            let timing = Timing::start();
            let delivered = broadcaster.deliver(&message).await;
            let mut hop = timing.hop(
                HopKind::Broadcast,
                &message.event,
                delivered.as_ref().map(|_| ()),
            );
            hop.channels = message.channels.clone();
            hop.receivers = delivered.as_ref().ok().and_then(|d| d.receivers);
            hops.note(hop);
            delivered.map(|_| ())
        }
    };
    sent.with_context(|| BroadcastFailed {
        event: event.event_name().to_string(),
    })
}

/// A sync listener's call, timed as a hop when the event's hops are taken.
async fn handle(
    listener: &Arc<dyn EventListener>,
    event: &Arc<dyn Event>,
    hops: Option<&Hops<'_>>,
) -> Result<()> {
    let Some(hops) = hops else {
        return listener.handle(event.clone()).await;
    };
    let timing = Timing::start();
    let result = listener.handle(event.clone()).await;
    let shown = match &result {
        // Stopping propagation is not a failure.
        Err(error) if !propagation::is_stop(error) => Err(error),
        _ => Ok(()),
    };
    hops.note(timing.hop(HopKind::Listener, listener.listener_name(), shown));
    result
}

/// Where a recorded event's hops go: its recorder, under its id.
struct Hops<'a> {
    recorder: &'a dyn Recorder,
    event_id: ulid::Ulid,
}

impl Hops<'_> {
    fn note(&self, hop: Hop) {
        self.recorder.hop(self.event_id, hop);
    }
}
