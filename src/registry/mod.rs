//! The HTTP API: Docker Registry HTTP API v2 / OCI distribution-spec v1.1 over axum.
//!
//! One wildcard route takes every `/v2/` request; [`route::parse`] turns the raw path into a
//! [`Route`], and [`dispatch`] picks the handler by method and route. Handlers read HTTP (query,
//! headers, body), make one call into [`crate::store`] and build the response; they never open a
//! file or run SQL. Errors of every layer become OCI error bodies in [`error`] alone.
//!
//! - [`blobs`]: GET / HEAD / DELETE of blobs
//! - [`uploads`]: POST / PATCH / PUT / GET / DELETE of upload sessions, mounts
//! - [`manifests`]: GET / HEAD / PUT / DELETE of manifests
//! - [`range`]: the `Range` of blob reads and the `Content-Range` of upload chunks
//! - [`listing`]: tags, catalog, referrers
//! - [`access`]: what each route needs, checked with `auth` before any handler runs
//! - [`token`]: the token endpoint `/v2/auth` (Docker token authentication, OAuth2 form)

mod access;
mod blobs;
pub mod error;
pub mod headers;
mod listing;
mod manifests;
pub mod range;
pub mod route;
mod token;
mod uploads;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use futures_util::TryStreamExt;
use tracing::Instrument;

use crate::auth::{Auth, Principal};
use crate::metrics::Metrics;
use crate::reference::RepoName;
use crate::serve::listener::ClientAddr;
use crate::store::{BodyError, ByteStream, Store};
pub use error::{ApiError, ErrorCode};
pub use route::Route;

/// Everything a handler may use. Cheap to clone.
#[derive(Clone)]
pub struct App {
    /// Metadata and blobs.
    pub store: Store,
    /// Accounts and tokens; `None` when `auth.enabled` is false.
    pub auth: Option<Arc<Auth>>,
    /// Request and GC counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Whether this listener serves HTTPS (for absolute `Location`s).
    pub tls: bool,
    /// The public host and the trusted proxies.
    pub frontend: Arc<headers::Frontend>,
}

/// One request, parsed as far as every handler needs.
pub struct Ctx {
    /// The application.
    pub app: App,
    /// Request headers.
    pub headers: HeaderMap,
    /// Query parameters in order, repeated keys kept (`?tag=a&tag=b`).
    pub query: Vec<(String, String)>,
    /// Where the client reached us, for `Location`s.
    pub origin: headers::Origin,
    /// The client's address (unspecified when unknown, as in tests).
    pub client: IpAddr,
    /// Who the request runs as, once access was checked (`None` with auth off).
    pub principal: Option<Principal>,
}

impl Ctx {
    /// The first value of a query parameter.
    #[must_use]
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of a query parameter.
    pub fn params<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.query.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// A request header as text.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Which repositories the caller may see in listings: `None` when it sees them all.
    #[must_use]
    pub fn visibility(&self) -> Option<Box<dyn Fn(&str) -> bool + Send>> {
        let (Some(auth), Some(principal)) = (&self.app.auth, &self.principal) else { return None };
        let anonymous_pull = auth.settings().anonymous_pull;
        if principal.sees_everything(anonymous_pull) {
            return None;
        }
        let principal = principal.clone();
        Some(Box::new(move |name| name.parse::<RepoName>().is_ok_and(|r| principal.sees(&r, anonymous_pull))))
    }
}

/// The response type of handlers.
pub type ApiResult = Result<Response, ApiError>;

/// The registry's router: `/v2/…` and `/health/instance`.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/v2", any(dispatch))
        .route("/v2/", any(dispatch))
        .route("/v2/auth", get(token::get).post(token::post))
        .route("/v2/{*rest}", any(dispatch))
        .route("/health/instance", get(health))
        .route("/metrics", get(metrics))
        .fallback(any(dispatch))
        .with_state(app)
}

/// Parses the route, checks access, runs the handler for the method, and adds the headers every
/// response has.
async fn dispatch(State(app): State<App>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let (method, uri) = (parts.method, parts.uri);
    let request_id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let span = tracing::info_span!("request", id = %request_id, %method, path = uri.path());
    let mut ctx = Ctx::new(app, parts.headers, &uri, &parts.extensions);
    let metrics = ctx.app.metrics.clone();
    let mut label = "other";
    let result = async {
        let route = route::parse(uri.path())?;
        label = route.label();
        ctx.principal = access::authorize(&ctx, &method, &route).await?;
        handle(ctx, &method, route, body).await
    }
    .instrument(span.clone())
    .await;
    let mut response = match result {
        Ok(r) => r,
        Err(e) => span.in_scope(|| e.with_request_id(&request_id)).into_response(),
    };
    response.headers_mut().insert(headers::API_VERSION, axum::http::HeaderValue::from_static("registry/2.0"));
    let sent = response
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .filter(|_| method != axum::http::Method::HEAD)
        .unwrap_or(0);
    metrics.record_request(label, method_label(&method), response.status().as_u16(), sent);
    span.in_scope(|| tracing::debug!(status = response.status().as_u16(), "answered"));
    response
}

fn method_label(m: &axum::http::Method) -> &'static str {
    match m.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "PUT" => "PUT",
        "POST" => "POST",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        _ => "OTHER",
    }
}

impl Ctx {
    fn new(app: App, headers: HeaderMap, uri: &axum::http::Uri, extensions: &axum::http::Extensions) -> Ctx {
        let query = serde_urlencoded::from_str::<Vec<(String, String)>>(uri.query().unwrap_or("")).unwrap_or_default();
        let client = extensions.get::<ClientAddr>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0);
        let authority = uri.authority().map(axum::http::uri::Authority::as_str);
        let origin = headers::Origin::from_request(&headers, authority, app.tls, client, &app.frontend);
        Ctx { app, headers, query, origin, client, principal: None }
    }
}

async fn handle(ctx: Ctx, method: &axum::http::Method, route: Route, body: Body) -> ApiResult {
    let m = method.as_str();
    match (m, route) {
        ("GET" | "HEAD", Route::Base) => {
            Ok((StatusCode::OK, [(axum::http::header::CONTENT_TYPE, "application/json")], "{}").into_response())
        }
        ("GET", Route::Catalog) => listing::catalog(&ctx).await,
        ("GET", Route::Tags(repo)) => listing::tags(&ctx, &repo).await,
        ("GET", Route::Referrers(repo, digest)) => listing::referrers(&ctx, &repo, &digest).await,
        ("GET" | "HEAD" | "DELETE", Route::Manifest(_, Err(e))) => Err(manifests::cannot_exist(&e)),
        ("PUT", Route::Manifest(_, Err(e))) => Err(e.into()),
        ("GET" | "HEAD", Route::Manifest(repo, Ok(reference))) => {
            manifests::get(&ctx, &repo, &reference, m == "HEAD").await
        }
        ("PUT", Route::Manifest(repo, Ok(reference))) => manifests::put(&ctx, &repo, &reference, body).await,
        ("DELETE", Route::Manifest(repo, Ok(reference))) => manifests::delete(&ctx, &repo, &reference).await,
        ("GET" | "HEAD", Route::Blob(repo, digest)) => blobs::get(&ctx, &repo, &digest, m == "HEAD").await,
        ("DELETE", Route::Blob(repo, digest)) => blobs::delete(&ctx, &repo, &digest).await,
        ("POST", Route::UploadStart(repo)) => uploads::start(&ctx, &repo, body).await,
        ("PATCH", Route::Upload(repo, id)) => uploads::patch(&ctx, &repo, &id, body).await,
        ("PUT", Route::Upload(repo, id)) => uploads::put(&ctx, &repo, &id, body).await,
        ("GET", Route::Upload(repo, id)) => uploads::status(&ctx, &repo, &id).await,
        ("DELETE", Route::Upload(repo, id)) => uploads::cancel(&ctx, &repo, &id).await,
        (_, route) => Err(ApiError::new(ErrorCode::Unsupported, format!("{m} is not supported on {route:?}"))),
    }
}

/// `GET /health/instance`: 200 when the database answers, for systemd and load balancers.
async fn health(State(app): State<App>) -> Response {
    match app.store.ping().await {
        Ok(()) => (StatusCode::OK, [(axum::http::header::CONTENT_TYPE, "application/json")], r#"{"status":"healthy"}"#)
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                r#"{"status":"unhealthy"}"#,
            )
                .into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(State(app): State<App>) -> Response {
    let stats = app.store.stats().await.map_err(|e| tracing::warn!(error = %e, "storage gauges unavailable")).ok();
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(stats.as_ref()),
    )
        .into_response()
}

impl Ctx {
    /// The request body as a chunk stream for the store, counted into the metrics.
    #[must_use]
    pub fn body_stream(&self, body: Body) -> ByteStream {
        let metrics = self.app.metrics.clone();
        Box::pin(
            body.into_data_stream()
                .map_ok(move |chunk| {
                    metrics.record_bytes_in(chunk.len() as u64);
                    chunk
                })
                .map_err(|e| BodyError(e.to_string())),
        )
    }
}

/// An empty response with a status and headers.
pub(crate) fn empty(
    status: StatusCode,
    headers: impl IntoIterator<Item = (axum::http::HeaderName, axum::http::HeaderValue)>,
) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response.headers_mut().extend(headers.into_iter().map(|(k, v)| (Some(k), v)));
    response.headers_mut().insert(axum::http::header::CONTENT_LENGTH, axum::http::HeaderValue::from_static("0"));
    response
}

/// Tower layer used by `serve` for access logs. Kept here so tests build the same stack.
#[must_use]
pub fn trace_layer() -> tower_http::trace::TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    impl Fn(&Request<Body>) -> tracing::Span + Clone,
> {
    tower_http::trace::TraceLayer::new_for_http().make_span_with(
        |req: &Request<Body>| tracing::debug_span!("http", method = %req.method(), path = req.uri().path()),
    )
}

#[cfg(test)]
mod tests;
