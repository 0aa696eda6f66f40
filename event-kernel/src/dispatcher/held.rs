//! Deliveries held for later: a whole dispatch inside a deferral
//! (`deferral::defer`) or of an `after_commit` event inside a unit of work
//! (`unit::scope`), and one `after_commit` listener's call inside a unit.
//! The dispatcher builds what `unit` and `deferral` hold; they run it.

use std::sync::Arc;

use super::Dispatcher;
use super::failure::listener_failed;
use super::mode::Propagating;
use crate::deferral;
use crate::event::Event;
use crate::listener::EventListener;
use crate::propagation;
use crate::unit::{self, Delivery, Hold};

/// What became of a dispatch offered to the deferral and the unit of work.
pub(super) enum Holding {
    /// Deliver it now.
    Deliver,
    /// Held: it is delivered later, or never.
    Held,
    /// It cannot be held where it was dispatched.
    Refused(anyhow::Error),
}

/// True when a dispatch of `event` may have to be held: only after a unit
/// or deferral was ever entered (one relaxed load until then).
#[inline(always)]
pub(super) fn may_hold(event: &dyn Event) -> bool {
    unit::ever_entered()
        && (deferral::active() || (event.dispatch_after_commit() && unit::active()))
}

impl Dispatcher {
    /// Offers the dispatch of `event` to the deferral, then (an
    /// `after_commit` event) to the unit of work.
    #[inline(never)]
    pub(super) fn hold_dispatch(&self, event: &Arc<dyn Event>, queue_event: bool) -> Holding {
        let dispatcher = self.clone();
        let again = event.clone();
        let delivery = Delivery {
            event: event.clone(),
            run: Box::new(move || {
                Box::pin(async move {
                    dispatcher
                        .dispatch_arc(again, queue_event, Propagating, false)
                        .await
                })
            }),
        };
        let Some(delivery) = deferral::hold(delivery) else {
            return Holding::Held;
        };
        if !event.dispatch_after_commit() {
            return Holding::Deliver;
        }
        match unit::hold(delivery) {
            Hold::Now => Holding::Deliver,
            Hold::Held => Holding::Held,
            Hold::Unseen(owner) => Holding::Refused(unseen(owner, event, None)),
        }
    }

    /// Holds the inline call of an `after_commit` listener until the unit
    /// of work commits.
    #[inline(never)]
    pub(super) fn hold_listener(
        &self,
        listener: &Arc<dyn EventListener>,
        event: &Arc<dyn Event>,
    ) -> Holding {
        let (held_listener, held_event) = (listener.clone(), event.clone());
        let delivery = Delivery {
            event: event.clone(),
            run: Box::new(move || {
                Box::pin(async move {
                    match held_listener.handle(held_event.clone()).await {
                        Ok(()) => Ok(()),
                        // Held past its dispatch: no listener is left to stop.
                        Err(error) if propagation::is_stop(&error) => Ok(()),
                        Err(error) => {
                            Err(listener_failed(&held_listener, &held_event, error).await)
                        }
                    }
                })
            }),
        };
        match unit::hold(delivery) {
            Hold::Now => Holding::Deliver,
            Hold::Held => Holding::Held,
            Hold::Unseen(owner) => Holding::Refused(unseen(owner, event, Some(listener))),
        }
    }
}

fn unseen(
    owner: &str,
    event: &Arc<dyn Event>,
    listener: Option<&Arc<dyn EventListener>>,
) -> anyhow::Error {
    unit::unseen_error(owner, &**event, listener.map(|l| l.listener_name()))
}
