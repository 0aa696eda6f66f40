//! Each thread's resolved listener lists: a dispatch leases its thread's
//! last one (moved out of a plain cell and back), checked against the
//! dispatcher's epoch, so it writes no reference count but its event's and
//! takes no lock. Epochs come from one process-wide counter, so an epoch
//! also names its dispatcher: a stale entry never matches.

use std::cell::{Cell, RefCell};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use rustc_hash::FxHashMap;

use super::{Dispatcher, Inner, Listeners};
use crate::broadcasting::Broadcaster;
use crate::event::Event;
use crate::handler::QueueableHandler;
use crate::scope::Recorder;

/// What one thread needs to dispatch one event name.
pub(super) struct Resolved {
    pub(super) listeners: Listeners,
    pub(super) handler: Option<Arc<dyn QueueableHandler>>,
    pub(super) broadcaster: Option<Arc<dyn Broadcaster>>,
    pub(super) recorder: Option<Arc<dyn Recorder>>,
    /// No queue handler, broadcaster, recorder, queued listener (whose
    /// `queue_if` is asked even when it runs inline) or `after_commit`
    /// listener: with no interceptor
    /// either, a dispatch only calls each listener in order.
    pub(super) plain: bool,
    /// A listener declares `after_commit`: a unit of work may hold its
    /// inline call.
    pub(super) after_commit: bool,
    /// A queued listener declares `encrypted`: a queued event's job is
    /// sealed.
    pub(super) sealed: bool,
    /// The dispatcher's epoch it was resolved at and the event name it is for.
    tag: Tag,
}

impl Resolved {
    pub(super) fn new(
        listeners: Listeners,
        handler: Option<Arc<dyn QueueableHandler>>,
        broadcaster: Option<Arc<dyn Broadcaster>>,
        recorder: Option<Arc<dyn Recorder>>,
        tag: Tag,
    ) -> Self {
        let after_commit = listeners.iter().any(|l| l.options().after_commit);
        let sealed = listeners
            .iter()
            .any(|l| l.should_queue() && l.options().encrypted);
        let plain = handler.is_none()
            && broadcaster.is_none()
            && recorder.is_none()
            && !after_commit
            && !listeners.iter().any(|l| l.should_queue());
        Self {
            listeners,
            handler,
            broadcaster,
            recorder,
            plain,
            after_commit,
            sealed,
            tag,
        }
    }
}

/// Which dispatcher state and event name a [`Resolved`] is for: the
/// dispatcher's epoch when it was resolved (epochs come from one
/// process-wide counter, so an epoch also names its dispatcher) and the
/// event name's address and length.
pub(super) type Tag = (u64, (usize, usize));

/// A [`Resolved`] taken from this thread's `LAST` slot (or its cache) for
/// one dispatch; dropping it (also on an error, a panic or a cancelled
/// dispatch) moves it back into the `LAST` slot of the thread it ends on.
/// A stale one put back is never used: its tag no longer matches.
pub(super) struct Lease {
    resolved: Option<Arc<Resolved>>,
}

impl std::ops::Deref for Lease {
    type Target = Resolved;

    #[inline]
    fn deref(&self) -> &Resolved {
        match &self.resolved {
            Some(resolved) => resolved,
            None => unreachable!("a lease holds its Resolved until dropped"),
        }
    }
}

impl Lease {
    /// Ends the lease on the dispatch's own path: the same as dropping it,
    /// inlined into the dispatch (the drop glue is a call of its own).
    #[inline(always)]
    pub(super) fn give_back(mut self) {
        let resolved = self.resolved.take();
        // Nothing is left to drop: `resolved` is taken.
        std::mem::forget(self);
        put_back(resolved);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        put_back(self.resolved.take());
    }
}

#[inline(always)]
fn put_back(resolved: Option<Arc<Resolved>>) {
    // `try_with`: the thread may be tearing down its locals. What the slot
    // held (a nested dispatch's lease) is dropped outside the cell.
    let _previous = LAST.try_with(move |last| last.replace(resolved));
}

pub(super) struct LocalCache {
    id: u64,
    epoch: u64,
    owner: Weak<Inner>,
    /// Keyed by the name's address and length: `event_name()` returns a
    /// `&'static str`, usually the same literal every time, so hashing two
    /// words beats hashing the text. The same text at another address just
    /// gets its own (equal) entry.
    by_name: FxHashMap<(usize, usize), Arc<Resolved>>,
}

thread_local! {
    static LOCAL: RefCell<Vec<LocalCache>> = const { RefCell::new(Vec::new()) };
    /// This thread's most recently used [`Resolved`], checked before
    /// `LOCAL`: taking it and putting it back are a few moves.
    static LAST: Cell<Option<Arc<Resolved>>> = const { Cell::new(None) };
}

impl Dispatcher {
    /// The listeners, handler and broadcaster for `event`, leased from this
    /// thread: the fast path moves the `Arc` out of the thread's `LAST` slot
    /// and the lease moves it back when the dispatch ends, so a dispatch
    /// touches no reference count (two atomic writes were a third of a
    /// one-listener dispatch's cost).
    #[inline]
    pub(super) fn resolve(&self, event: &dyn Event) -> Lease {
        let name = event.event_name();
        let tag = (
            self.inner.epoch.load(Ordering::Acquire),
            (name.as_ptr() as usize, name.len()),
        );
        // Fast path: the same dispatcher, listeners and event as last time
        // on this thread. A mismatch leaves the slot empty until this
        // dispatch's lease goes back (the entry lives on in `LOCAL`).
        let resolved = match LAST.try_with(Cell::take).ok().flatten() {
            Some(last) if last.tag == tag => last,
            _ => self.resolve_slow(event, tag),
        };
        Lease {
            resolved: Some(resolved),
        }
    }

    #[inline(never)]
    fn resolve_slow(&self, event: &dyn Event, tag: Tag) -> Arc<Resolved> {
        let (epoch, key) = tag;
        let cached = LOCAL.with(|local| {
            let mut local = local.try_borrow_mut().ok()?;
            let slot = match local.iter().position(|c| c.id == self.inner.id) {
                Some(i) => i,
                None => {
                    local.retain(|c| c.owner.strong_count() > 0);
                    local.push(LocalCache {
                        id: self.inner.id,
                        epoch,
                        owner: Arc::downgrade(&self.inner),
                        by_name: FxHashMap::default(),
                    });
                    local.len() - 1
                }
            };
            let cache = &mut local[slot];
            if cache.epoch != epoch {
                cache.by_name.clear();
                cache.epoch = epoch;
            }
            let resolved = match cache.by_name.get(&key) {
                Some(hit) => hit.clone(),
                None => {
                    let resolved = Arc::new(self.resolve_uncached(event, tag));
                    cache.by_name.insert(key, resolved.clone());
                    resolved
                }
            };
            Some(resolved)
        });
        cached.unwrap_or_else(|| Arc::new(self.resolve_uncached(event, tag)))
    }
}
