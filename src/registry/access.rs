//! Access control for `/v2/`: what each route needs, decided from the parsed [`Route`] (never
//! the raw path), checked with `auth` before any handler runs, and the 401 challenge that tells
//! clients where to get a token for exactly that.

use axum::http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

use super::error::{ApiError, ErrorCode};
use super::{Ctx, Route, headers};
use crate::accounts::Action;
use crate::auth::scope::{Resource, Scope};
use crate::auth::{Auth, Denial, Principal};
use crate::reference::RepoName;

/// The `(resource, action)` pairs a request needs. `/v2/` needs nothing but valid credentials.
fn needs(ctx: &Ctx, method: &Method, route: &Route) -> Vec<(Resource, Action)> {
    let repo = |r: &RepoName, a: Action| (Resource::Repository(r.clone()), a);
    let reading = *method == Method::GET || *method == Method::HEAD;
    match route {
        Route::Base => Vec::new(),
        Route::Catalog => vec![(Resource::Registry, Action::Catalog)],
        Route::Tags(r) | Route::Referrers(r, _) => vec![repo(r, Action::Pull)],
        Route::Manifest(r, _) | Route::Blob(r, _) if reading => vec![repo(r, Action::Pull)],
        Route::Manifest(r, _) | Route::Blob(r, _) if *method == Method::DELETE => vec![repo(r, Action::Delete)],
        Route::UploadStart(r) => {
            let mut n = vec![repo(r, Action::Push)];
            // A mount reads the source repository: the caller must be allowed to pull it.
            if let (Some(_), Some(from)) =
                (ctx.param("mount"), ctx.param("from").and_then(|f| f.parse::<RepoName>().ok()))
            {
                n.push(repo(&from, Action::Pull));
            }
            n
        }
        Route::Manifest(r, _) | Route::Blob(r, _) | Route::Upload(r, _) => vec![repo(r, Action::Push)],
    }
}

/// Checks the request's credentials against what the route needs.
///
/// # Errors
/// 401 with a Bearer challenge, 403 `DENIED`, 429 `TOOMANYREQUESTS`, or a 500.
pub(super) async fn authorize(ctx: &Ctx, method: &Method, route: &Route) -> Result<Option<Principal>, ApiError> {
    let Some(auth) = &ctx.app.auth else { return Ok(None) };
    let needs = needs(ctx, method, route);
    let decision = match Auth::parse_authorization(ctx.header("authorization")) {
        Ok(credentials) => auth.check(ctx.client, credentials, &needs).await,
        Err(d) => Err(d),
    };
    match decision {
        Ok(principal) => {
            tracing::debug!(user = principal.name(), "authorized");
            Ok(Some(principal))
        }
        Err(d) => Err(denial(ctx, &needs, d)),
    }
}

/// Turns a denial into its response.
pub(super) fn denial(ctx: &Ctx, needs: &[(Resource, Action)], d: Denial) -> ApiError {
    match d {
        Denial::Unauthenticated(_) | Denial::Malformed(_) => {
            let detail: Vec<Value> = needs
                .iter()
                .map(|(r, a)| match r {
                    Resource::Repository(name) => {
                        json!({"Type": "repository", "Name": name.as_str(), "Action": a.as_str()})
                    }
                    Resource::Registry => json!({"Type": "registry", "Name": "catalog", "Action": "*"}),
                })
                .collect();
            ApiError::new(ErrorCode::Unauthorized, d.to_string())
                .detail(Value::Array(detail))
                .header(headers::WWW_AUTHENTICATE, challenge(ctx, needs))
        }
        Denial::Forbidden => ApiError::new(ErrorCode::Denied, "requested access to the resource is denied"),
        Denial::RateLimited(wait) => ApiError::new(ErrorCode::TooManyRequests, d.to_string())
            .header(header::RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1))),
        Denial::Store(e) => e.into(),
    }
}

/// `Bearer realm="<origin>/v2/auth",service="<host>",scope="<scopes>"`, each an RFC 9110
/// quoted-string, the origin being the configured public host when there is one. Pushing implies pulling
/// (clients HEAD before they upload), so push scopes ask for both.
fn challenge(ctx: &Ctx, needs: &[(Resource, Action)]) -> HeaderValue {
    let base = ctx
        .origin
        .base()
        .map_or_else(|| format!("{}://localhost", if ctx.app.tls { "https" } else { "http" }), str::to_string);
    let service = ctx.origin.host().unwrap_or("mirror-registry");
    let mut scopes: Vec<Scope> = Vec::new();
    for (resource, action) in needs {
        let actions: &[Action] =
            if *action == Action::Push { &[Action::Pull, Action::Push] } else { std::slice::from_ref(action) };
        match scopes.iter_mut().find(|s| s.resource == *resource) {
            Some(s) => s.actions.extend_from_slice(actions),
            None => scopes.push(Scope { resource: resource.clone(), actions: actions.to_vec() }),
        }
    }
    let mut value =
        format!("Bearer realm={},service={}", headers::quoted(&format!("{base}/v2/auth")), headers::quoted(service));
    if !scopes.is_empty() {
        for s in &mut scopes {
            s.actions.sort();
            s.actions.dedup();
        }
        let scopes: Vec<String> = scopes.iter().map(Scope::to_challenge).collect();
        value = format!("{value},scope={}", headers::quoted(&scopes.join(" ")));
    }
    headers::text(&value)
}

/// The status a denial maps to (for logs and tests).
#[must_use]
pub(super) fn status_of(d: &Denial) -> StatusCode {
    match d {
        Denial::Unauthenticated(_) | Denial::Malformed(_) => StatusCode::UNAUTHORIZED,
        Denial::Forbidden => StatusCode::FORBIDDEN,
        Denial::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        Denial::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
