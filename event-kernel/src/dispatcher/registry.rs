//! Who listens to what: the `Registry` writers edit under a mutex, and the
//! immutable `Snapshot` it publishes for dispatches to read, with each
//! name's listeners (its own, then the wildcard matches) resolved once.

use std::any::TypeId;
use std::sync::{Arc, Mutex};

use rustc_hash::FxHashMap;

use super::local::{Resolved, Tag};
use super::{Dispatcher, Listeners, lock};
use crate::broadcasting::Broadcaster;
use crate::event::Event;
use crate::handler::QueueableHandler;
use crate::listener::EventListener;
use crate::pattern;
use crate::scope::Recorder;

#[derive(Clone)]
pub(super) struct Entry {
    pub(super) listener: Arc<dyn EventListener>,
    /// The event type of a `listen::<E>` registration, for re-keying.
    pub(super) typed: Option<TypeId>,
}

#[derive(Default)]
pub(super) struct Registry {
    pub(super) by_name: FxHashMap<String, Vec<Entry>>,
    pub(super) patterns: Vec<(String, Arc<dyn EventListener>)>,
    pub(super) handler: Option<Arc<dyn QueueableHandler>>,
    pub(super) broadcaster: Option<Arc<dyn Broadcaster>>,
    pub(super) recorder: Option<Arc<dyn Recorder>>,
}

/// An immutable view of a `Registry`, with per-name resolution cached.
pub(super) struct Snapshot {
    /// Names with listeners of their own, wildcard matches appended.
    pub(super) direct: FxHashMap<Box<str>, Listeners>,
    pub(super) patterns: Vec<(Box<str>, Arc<dyn EventListener>)>,
    /// Event type -> the name its typed listeners are registered under.
    pub(super) typed: FxHashMap<TypeId, Box<str>>,
    pub(super) handler: Option<Arc<dyn QueueableHandler>>,
    pub(super) broadcaster: Option<Arc<dyn Broadcaster>>,
    pub(super) recorder: Option<Arc<dyn Recorder>>,
    /// Wildcard matches of names without listeners of their own, filled on first use.
    pub(super) wildcard_cache: Mutex<FxHashMap<Box<str>, Listeners>>,
}

impl Dispatcher {
    pub(super) fn resolve_uncached(&self, event: &dyn Event, tag: Tag) -> Resolved {
        let name = event.event_name();
        let mut snapshot = self.inner.snapshot.load_full();
        if !snapshot.direct.contains_key(name) {
            let type_id = (event as &dyn std::any::Any).type_id();
            if snapshot
                .typed
                .get(&type_id)
                .is_some_and(|key| &**key != name)
            {
                self.rekey(type_id, name);
                snapshot = self.inner.snapshot.load_full();
            }
        }
        Resolved::new(
            snapshot.resolve_name(name),
            snapshot.handler.clone(),
            snapshot.broadcaster.clone(),
            snapshot.recorder.clone(),
            tag,
        )
    }

    /// Moves `listen::<E>` registrations made under the conventional name to
    /// the name `E`'s values actually carry.
    fn rekey(&self, type_id: TypeId, actual: &str) {
        self.edit(|r| {
            let mut moved = Vec::new();
            for entries in r.by_name.values_mut() {
                let (typed, rest): (Vec<Entry>, Vec<Entry>) =
                    entries.drain(..).partition(|e| e.typed == Some(type_id));
                *entries = rest;
                moved.extend(typed);
            }
            r.by_name.retain(|_, entries| !entries.is_empty());
            r.by_name
                .entry(actual.to_string())
                .or_default()
                .extend(moved);
        });
    }
}

impl Registry {
    pub(super) fn snapshot(&self) -> Snapshot {
        let patterns: Vec<(Box<str>, Arc<dyn EventListener>)> = self
            .patterns
            .iter()
            .map(|(p, l)| (p.as_str().into(), l.clone()))
            .collect();
        let direct = self
            .by_name
            .iter()
            .filter(|(_, entries)| !entries.is_empty())
            .map(|(name, entries)| {
                let listeners: Listeners = entries
                    .iter()
                    .map(|e| e.listener.clone())
                    .chain(wildcard_matches(&patterns, name))
                    .collect();
                (name.as_str().into(), listeners)
            })
            .collect();
        let typed = self
            .by_name
            .iter()
            .flat_map(|(name, entries)| {
                entries
                    .iter()
                    .filter_map(move |e| e.typed.map(|t| (t, name.as_str().into())))
            })
            .collect();
        Snapshot {
            direct,
            patterns,
            typed,
            handler: self.handler.clone(),
            broadcaster: self.broadcaster.clone(),
            recorder: self.recorder.clone(),
            wildcard_cache: Mutex::default(),
        }
    }
}

fn wildcard_matches<'a>(
    patterns: &'a [(Box<str>, Arc<dyn EventListener>)],
    name: &'a str,
) -> impl Iterator<Item = Arc<dyn EventListener>> + 'a {
    patterns
        .iter()
        .filter(move |(p, _)| pattern::matches(p, name))
        .map(|(_, l)| l.clone())
}

impl Snapshot {
    pub(super) fn resolve_name(&self, name: &str) -> Listeners {
        if let Some(listeners) = self.direct.get(name) {
            return listeners.clone();
        }
        if self.patterns.is_empty() {
            return Arc::from([]);
        }
        let mut cache = lock(&self.wildcard_cache);
        cache
            .entry(name.into())
            .or_insert_with(|| wildcard_matches(&self.patterns, name).collect())
            .clone()
    }
}
