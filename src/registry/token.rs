//! The token endpoint `/v2/auth` (Docker token authentication).
//!
//! - `GET /v2/auth?service=..&scope=..` with Basic credentials (or none, for anonymous pull):
//!   what podman, skopeo and containerd use. `offline_token=true` adds a refresh token.
//! - `POST /v2/auth` with an OAuth2 form: `grant_type=password` (`username`, `password`) or
//!   `grant_type=refresh_token` (`refresh_token`); `access_type=offline` adds a refresh token.
//!
//! Answer: `{"token","access_token","expires_in","issued_at"[,"refresh_token"]}`, each scope
//! narrowed to what the account's role allows.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::json;

use super::error::{ApiError, ErrorCode};
use super::{App, Ctx, access};
use crate::accounts::Secret;
use crate::auth::scope::Scope;
use crate::auth::{Auth, Credentials, Denial, Issued, Principal};

/// Largest OAuth2 form accepted.
const MAX_FORM_BYTES: usize = 64 * 1024;

fn finish(result: Result<Response, ApiError>) -> Response {
    let mut response = result.unwrap_or_else(|e| e.with_request_id("token").into_response());
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn parse_scopes<'a>(values: impl Iterator<Item = &'a str>) -> Result<Vec<Scope>, ApiError> {
    values
        .flat_map(|v| v.split(' ').filter(|s| !s.is_empty()))
        .map(|s| {
            Scope::parse(s)
                .map_err(|e| ApiError::new(ErrorCode::Unsupported, e.to_string()).status(StatusCode::BAD_REQUEST))
        })
        .collect()
}

fn issued_response(issued: &Issued, scopes: &[Scope]) -> Response {
    let issued_at = time::OffsetDateTime::from_unix_timestamp(issued.issued_at)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default();
    let mut body = json!({
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": issued_at,
        "scope": scopes.iter().map(Scope::to_challenge).collect::<Vec<_>>().join(" "),
    });
    if let Some(r) = &issued.refresh_token {
        body["refresh_token"] = json!(r);
    }
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn auth_of(ctx: &Ctx) -> Result<&Auth, ApiError> {
    ctx.app.auth.as_deref().ok_or_else(|| {
        ApiError::new(ErrorCode::Unsupported, "authentication is disabled on this registry")
            .status(StatusCode::NOT_FOUND)
    })
}

fn login_failed(ctx: &Ctx, d: Denial) -> ApiError {
    let status = access::status_of(&d);
    let e = access::denial(ctx, &[], d);
    // A token endpoint answers a bad password with a plain 401; no Bearer challenge to follow.
    if status == StatusCode::UNAUTHORIZED {
        ApiError::new(ErrorCode::Unauthorized, "invalid user name or password")
    } else {
        e
    }
}

/// `GET /v2/auth`.
pub(super) async fn get(State(app): State<App>, request: Request<Body>) -> Response {
    let (parts, _) = request.into_parts();
    let ctx = Ctx::new(app, parts.headers, &parts.uri, &parts.extensions);
    finish(
        async {
            let auth = auth_of(&ctx)?;
            let principal =
                match Auth::parse_authorization(ctx.header("authorization")).map_err(|d| login_failed(&ctx, d))? {
                    Credentials::None => Principal::Anonymous,
                    Credentials::Basic { user, password } => {
                        auth.login(ctx.client, &user, &password).await.map_err(|d| login_failed(&ctx, d))?
                    }
                    Credentials::Bearer(_) => {
                        return Err(ApiError::new(ErrorCode::Unauthorized, "use Basic credentials to get a token"));
                    }
                };
            let scopes = parse_scopes(ctx.params("scope"))?;
            let service = ctx.param("service").or(ctx.origin.host()).unwrap_or("mirror-registry");
            let issued = auth.issue(&principal, service, &scopes, ctx.param("offline_token") == Some("true"));
            tracing::debug!(user = principal.name(), scopes = scopes.len(), "token issued");
            Ok(issued_response(&issued, &scopes))
        }
        .await,
    )
}

/// `POST /v2/auth` (OAuth2 form).
pub(super) async fn post(State(app): State<App>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let ctx = Ctx::new(app, parts.headers, &parts.uri, &parts.extensions);
    finish(
        async {
            let auth = auth_of(&ctx)?;
            let form = read_form(body).await?;
            let field = |k: &str| form.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
            let principal = match field("grant_type") {
                Some("password") => {
                    let user = field("username").ok_or_else(|| bad_form("username is required"))?;
                    let password = Secret::presented(field("password").unwrap_or(""));
                    auth.login(ctx.client, user, &password).await.map_err(|d| login_failed(&ctx, d))?
                }
                Some("refresh_token") => {
                    let token = field("refresh_token").ok_or_else(|| bad_form("refresh_token is required"))?;
                    auth.redeem_refresh_token(token).await.map_err(|d| login_failed(&ctx, d))?
                }
                _ => return Err(bad_form("grant_type must be password or refresh_token")),
            };
            let scopes = parse_scopes(field("scope").into_iter())?;
            let service = field("service").or(ctx.origin.host()).unwrap_or("mirror-registry");
            let issued = auth.issue(&principal, service, &scopes, field("access_type") == Some("offline"));
            Ok(issued_response(&issued, &scopes))
        }
        .await,
    )
}

fn bad_form(message: &str) -> ApiError {
    ApiError::new(ErrorCode::Unsupported, message).status(StatusCode::BAD_REQUEST)
}

async fn read_form(body: Body) -> Result<Vec<(String, String)>, ApiError> {
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| bad_form(&format!("reading the form: {e}")))?;
        if buf.len() + chunk.len() > MAX_FORM_BYTES {
            return Err(bad_form("form too large"));
        }
        buf.extend_from_slice(&chunk);
    }
    serde_urlencoded::from_bytes(&buf).map_err(|e| bad_form(&format!("invalid form: {e}")))
}
