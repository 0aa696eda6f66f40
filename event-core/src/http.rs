//! The HTTP request as the origin of a correlation chain (cargo feature
//! `http`): a tower [`Layer`] that opens the causation scope around each
//! request, so the events dispatched while handling it name the request as
//! their cause and share its correlation id, and that records the request
//! itself in the event store (a `request` hop: method and route, status,
//! duration). The dashboard's timeline then shows the request as the root
//! of the chain.
//!
//! ```no_run
//! use event_core::Dispatcher;
//! use event_core::http::RequestOrigin;
//!
//! fn origin(events: &Dispatcher) -> RequestOrigin {
//!     // With axum: `router.layer(origin(&events))` (`Router::layer` runs
//!     // after routing, so the matched route is in the extensions) and
//!     // `.route_from(|e| e.get::<axum::extract::MatchedPath>().map(|p| p.as_str().to_owned()))`.
//!     RequestOrigin::new(events.clone())
//! }
//! ```
//!
//! Per request, when the dispatcher has a recorder that records hops (an
//! installed event store): a fresh ULID is the request's id and, unless the
//! request carries an `X-Correlation-Id` header holding a valid ULID (a
//! chain the caller continues), its correlation id too. The handler runs
//! inside [`scope::within`](crate::store::within) with them; when the
//! response is ready the request is recorded as a hop under its id (name
//! `METHOD route`, the route from [`RequestOrigin::route_from`] or else the
//! path; the status; the time to the response's head) and the response gets
//! `X-Correlation-Id`. Without such a recorder the layer passes requests
//! through untouched. A job queued directly in the handler carries the
//! request's ids (its worker's attempts show under the request).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use event_kernel::Dispatcher;
use event_kernel::hop::{HopKind, Timing};
use event_kernel::scope::{self, Causation};
use http::{Extensions, HeaderName, HeaderValue, Request, Response};
use tower_layer::Layer;
use tower_service::Service;
use ulid::Ulid;

/// `X-Correlation-Id`: read from the request (a ULID continues that chain),
/// set on the response (the chain the request's events are in).
pub static CORRELATION_HEADER: HeaderName = HeaderName::from_static("x-correlation-id");

/// Reads the matched route template from a request's extensions.
type RouteOf = Arc<dyn Fn(&Extensions) -> Option<String> + Send + Sync>;

/// The layer: wrap a service (an axum `Router`, any tower HTTP service)
/// with it. See the [module](self).
#[derive(Clone)]
pub struct RequestOrigin {
    dispatcher: Dispatcher,
    route_of: Option<RouteOf>,
}

impl std::fmt::Debug for RequestOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestOrigin")
            .field("dispatcher", &self.dispatcher.id())
            .field("route_from", &self.route_of.is_some())
            .finish()
    }
}

impl RequestOrigin {
    /// Requests become origins of the chains `dispatcher` records (through
    /// the recorder it has when each request comes, so the store may be
    /// installed after the layer is built).
    pub fn new(dispatcher: Dispatcher) -> Self {
        Self {
            dispatcher,
            route_of: None,
        }
    }

    /// Names each request by the route it matched rather than its path
    /// (`POST /orders/{order}`, not `POST /orders/42`): `route` reads it from
    /// the request's extensions; `None` falls back to the path. With axum,
    /// `|e| e.get::<axum::extract::MatchedPath>().map(|p| p.as_str().to_owned())`
    /// (the layer added with `Router::layer`, which runs after routing).
    pub fn route_from(
        mut self,
        route: impl Fn(&Extensions) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.route_of = Some(Arc::new(route));
        self
    }
}

impl<S> Layer<S> for RequestOrigin {
    type Service = RequestOriginService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestOriginService {
            inner,
            origin: self.clone(),
        }
    }
}

/// The service [`RequestOrigin`] wraps around another.
#[derive(Clone, Debug)]
pub struct RequestOriginService<S> {
    inner: S,
    origin: RequestOrigin,
}

impl<S, B, R> Service<Request<B>> for RequestOriginService<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    R: 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let recorder = self
            .origin
            .dispatcher
            .recorder()
            .filter(|r| r.records_hops());
        let Some(recorder) = recorder else {
            return Box::pin(self.inner.call(request));
        };
        let request_id = Ulid::new();
        let correlation_id = request
            .headers()
            .get(&CORRELATION_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Ulid::from_string(v.trim()).ok())
            .unwrap_or(request_id);
        let route = self
            .origin
            .route_of
            .as_ref()
            .and_then(|route| route(request.extensions()));
        let name = format!(
            "{} {}",
            request.method(),
            route.as_deref().unwrap_or(request.uri().path())
        );
        let causation = Causation {
            event_id: request_id,
            correlation_id,
            replay_of: None,
        };
        let timing = Timing::start();
        let handled = self.inner.call(request);
        Box::pin(async move {
            let result = scope::within(causation, handled).await;
            let status = result.as_ref().ok().map(|r| r.status());
            let failed = match status {
                Some(s) if s.is_server_error() => Some(anyhow::anyhow!("{s}")),
                Some(_) => None,
                None => Some(anyhow::anyhow!("the service failed without a response")),
            };
            let mut hop = timing.hop(HopKind::Request, &name, failed.as_ref().map_or(Ok(()), Err));
            hop.status = status.map(|s| s.as_u16());
            recorder.hop(request_id, hop);
            result.map(|mut response| {
                if let Ok(value) = HeaderValue::from_str(&correlation_id.to_string()) {
                    response
                        .headers_mut()
                        .insert(CORRELATION_HEADER.clone(), value);
                }
                response
            })
        })
    }
}
