//! [`DashboardState`]: what the dashboard reads and who may read it.

use std::sync::Arc;

use axum::http::request::Parts;
use event_core::queue::{FailedJobs, JobRegistry, Monitor, Queue};
use event_core::store::EventStore;

use crate::error::DashboardError;
use crate::live::Push;
use crate::redact::Redactor;

/// A gate: true lets the request in. It sees the request's method, URI and
/// headers (a session cookie, a header set by your auth middleware).
pub type Gate = Arc<dyn Fn(&Parts) -> bool + Send + Sync>;

/// Names the operator of a request (your session's user, a header your
/// auth middleware sets), for the record of the actions it takes; `None`
/// falls back to the default name (see [`DashboardState::operator`]).
pub type NameOperator = Arc<dyn Fn(&Parts) -> Option<String> + Send + Sync>;

/// Who may use the dashboard.
#[derive(Clone)]
pub(crate) enum Access {
    /// Mounted without a gate: loopback clients only.
    Loopback,
    /// Mounted with the app's gate.
    Gate(Gate),
    /// Standalone: the token printed at start, given once in the URL and
    /// then kept in a cookie (or sent as `Authorization: Bearer`).
    Token(String),
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Access::Loopback => "Loopback",
            Access::Gate(_) => "Gate",
            Access::Token(_) => "Token(..)",
        })
    }
}

/// What the dashboard shows and steers, and who may see it. Cheap to clone.
///
/// ```no_run
/// # async fn demo(queue: event_core::queue::Queue) -> Result<(), event_dashboard::DashboardError> {
/// use event_dashboard::DashboardState;
/// let state = DashboardState::new(queue)?
///     .gate(|parts| parts.headers.get("x-admin").is_some())
///     .read_only(true);
/// let app: axum::Router = axum::Router::new().nest("/events", event_dashboard::router(state));
/// # let _ = app; Ok(()) }
/// ```
#[derive(Clone)]
pub struct DashboardState {
    pub(crate) monitor: Monitor,
    pub(crate) failed: FailedJobs,
    pub(crate) store: Option<EventStore>,
    pub(crate) access: Access,
    pub(crate) read_only: bool,
    pub(crate) replay: Option<Arc<JobRegistry>>,
    /// Where a replay goes without a registry: a job for the app's workers.
    pub(crate) queue: Queue,
    pub(crate) redact: Option<Redactor>,
    pub(crate) push: Option<Arc<Push>>,
    pub(crate) operator: Option<NameOperator>,
}

impl std::fmt::Debug for DashboardState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DashboardState")
            .field("connection", &self.monitor.connection())
            .field("store", &self.store.is_some())
            .field("access", &self.access)
            .field("read_only", &self.read_only)
            .field("replay", &self.replay.is_some())
            .field("redact", &self.redact.is_some())
            .field("push", &self.push)
            .field("operator", &self.operator.is_some())
            .finish()
    }
}

impl DashboardState {
    /// A dashboard over `queue`'s figures and failed jobs: loopback clients
    /// only (until [`gate`](Self::gate)), actions allowed, no event store.
    /// The `sync` connection keeps no jobs and is refused.
    pub fn new(queue: Queue) -> Result<Self, DashboardError> {
        let monitor = queue.monitor().map_err(DashboardError::Queue)?;
        let failed = queue.failed().map_err(DashboardError::Queue)?;
        Ok(Self {
            monitor,
            failed,
            store: None,
            access: Access::Loopback,
            read_only: false,
            replay: None,
            queue,
            redact: None,
            push: None,
            operator: None,
        })
    }

    /// Also shows the event history and correlation chains of `store`.
    pub fn store(mut self, store: EventStore) -> Self {
        self.store = Some(store);
        self
    }

    /// Lets in the requests `gate` accepts (from any address), and answers
    /// 403 to the others.
    pub fn gate(mut self, gate: impl Fn(&Parts) -> bool + Send + Sync + 'static) -> Self {
        self.access = Access::Gate(Arc::new(gate));
        self
    }

    /// Names who takes an action, for its record in the event store
    /// (`event_dashboard::ActionTaken`'s `operator.name`): e.g.
    /// `.operator(|parts| user_from(&parts.headers))`. When it answers
    /// `None` (or without it) the name says how the request got in: `token
    /// holder`, `client let in by the gate` or `loopback client`. The
    /// client's address is recorded beside it either way.
    pub fn operator(
        mut self,
        name: impl Fn(&Parts) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.operator = Some(Arc::new(name));
        self
    }

    /// Lets in the requests that carry `token` (once as `?token=`, then the
    /// cookie it sets; or `Authorization: Bearer`), and answers 401 to the
    /// others: what [`serve`](crate::serve) does. An empty token is refused.
    pub fn token(mut self, token: impl Into<String>) -> Result<Self, DashboardError> {
        let token = token.into();
        if token.trim().is_empty() {
            return Err(DashboardError::EmptyToken);
        }
        self.access = Access::Token(token);
        Ok(self)
    }

    /// With `true`, the pages show no action and the server refuses every
    /// action (retry, forget, pause, resume, clear) with 403.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Lets the page replay a stored event to its listeners (all, or one),
    /// run here with the app's `registry`: for a dashboard mounted in the
    /// app. Without it, a replay is handed to the app's workers as a job on
    /// the dashboard's queue connection, which `queue:work` runs (the
    /// standalone dashboard has no listeners).
    pub fn replay_with(mut self, registry: Arc<JobRegistry>) -> Self {
        self.replay = Some(registry);
        self
    }

    /// Changes every payload before it is shown (a failed job's envelope,
    /// stored events' payloads): e.g.
    /// `.redact(event_dashboard::redact::fields(["password", "card_number"]))`,
    /// or any closure over the JSON.
    pub fn redact(mut self, redactor: Redactor) -> Self {
        self.redact = Some(redactor);
        self
    }

    /// `value` as the pages may show it.
    pub(crate) fn shown(&self, mut value: serde_json::Value) -> serde_json::Value {
        if let Some(redact) = &self.redact {
            redact(&mut value);
        }
        value
    }

    /// Live pages by push: the dashboard publishes a small frame on its
    /// private channel of the app's Pusher-protocol server whenever the
    /// figures change (compared every [`WATCH_EVERY`](crate::WATCH_EVERY),
    /// straight to the broadcaster, never through the queue), and the pages
    /// subscribe with pusher-js, authorised by this dashboard's guard.
    /// `config` is the app's `EVENTS_BROADCAST_*` settings: the `pusher` or
    /// `redis` connection with the app's key and secret; another connection
    /// is an error. Without it (or when the socket drops) pages poll.
    pub async fn push(
        mut self,
        config: &event_core::broadcasting::BroadcastConfig,
    ) -> Result<Self, DashboardError> {
        self.push = Some(Arc::new(Push::connect(config).await?));
        Ok(self)
    }

    /// Whether actions are refused.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }
}
