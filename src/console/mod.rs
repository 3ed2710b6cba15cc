//! The web console: what the Red Hat appliance calls "the UI at https://<host>:8443", served by
//! `serve` on the registry's own port, with the registry's accounts.
//!
//! Server-rendered HTML (maud, which escapes every value it writes), so reading needs no
//! JavaScript; one small script adds copy buttons, one stylesheet, all embedded in the binary.
//! Every page carries a strict `Content-Security-Policy` (no inline script or style, nothing
//! from another origin): the console works on an air-gapped bastion and an injected tag runs
//! nothing.
//!
//! ```text
//! GET  /                      → /ui/
//! GET  /ui/                   repositories (search, namespaces as a tree)
//! GET  /ui/repo?name=R        tags and untagged images of R
//! GET  /ui/manifest?repo=R&digest=D   one manifest: JSON, layers, config, referrers
//! GET  /ui/delete?repo=R&reference=T|D  confirmation;  POST /ui/delete
//! GET  /ui/login, POST /ui/login, POST /ui/logout
//! GET  /ui/admin              accounts, grants, storage, GC, certificate, version (admins)
//! POST /ui/admin/{user,password,role,delete-user,robot,grant,revoke,gc}
//! GET  /ui/admin/gc           what GC would free, then POST runs it
//! GET  /ui/assets/{file}      stylesheet, script, icon
//! ```
//!
//! - [`visitor`]: who is browsing (session cookie), and the CSRF and `Origin` checks of forms
//! - [`layout`]: the page shell and the formatting every page shares
//! - [`login`], [`repos`], [`manifest`], [`admin`]: the pages
//! - [`assets`]: the embedded files
//!
//! Rights are the registry's: a page or action checks the account as it is now, exactly as the
//! API would for the same request, so nothing the console allows is refused by `/v2/` or the
//! reverse. With `auth.enabled: false` the console is read-only.

mod admin;
mod assets;
mod layout;
mod login;
mod manifest;
mod repos;
mod visitor;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::accounts::store::AccountError;
use crate::registry::App;
use crate::store::{self, gc};
pub use visitor::Visitor;

/// The policy of every console response: only this origin's files, no inline code, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What the console needs beyond the registry's [`App`].
pub struct Console {
    /// The registry's store, auth and frontend.
    pub app: App,
    /// The GC options of the config (what "run GC" runs).
    pub gc: gc::Options,
    /// The server certificate, for its expiry (`None` over plain HTTP).
    pub cert: Option<PathBuf>,
    /// The blob directory, for the free space on its filesystem.
    pub blobs_dir: PathBuf,
    /// Held while a GC started from the console runs: a second click waits instead of racing.
    pub gc_running: tokio::sync::Mutex<()>,
}

/// The console's routes, to merge with the registry's router.
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(repos::list))
        .route("/ui/repo", get(repos::show))
        .route("/ui/manifest", get(manifest::show))
        .route("/ui/delete", get(manifest::confirm_delete).post(manifest::delete))
        .route("/ui/login", get(login::form).post(login::submit))
        .route("/ui/logout", post(login::logout))
        .route("/ui/admin", get(admin::show))
        .route("/ui/admin/gc", get(admin::confirm_gc).post(admin::run_gc))
        .route("/ui/admin/{action}", post(admin::act))
        .route("/ui/assets/{file}", get(assets::serve))
        .layer(axum::middleware::map_response(secure_headers))
        .with_state(console)
}

/// Headers every console response carries.
async fn secure_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Nothing leaves for other sites; `no-referrer` would also make the browser send
    // `Origin: null` on our own forms, which the CSRF check must refuse.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Why a console request failed; each becomes a page with its status.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// Not logged in: back to the login page.
    #[error("log in first")]
    LoginRequired,
    /// No such repository or manifest, or not one the visitor may see.
    #[error("{0}")]
    NotFound(String),
    /// The visitor may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// A form without its CSRF token, or from another origin.
    #[error("this form is stale or came from another site; reload the page and try again")]
    Csrf,
    /// A form value is invalid.
    #[error("{0}")]
    BadRequest(String),
    /// An account change was refused.
    #[error(transparent)]
    Account(#[from] AccountError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl From<crate::accounts::Error> for ConsoleError {
    fn from(e: crate::accounts::Error) -> Self {
        ConsoleError::BadRequest(e.to_string())
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let status = match &self {
            ConsoleError::LoginRequired => return Redirect::to("/ui/login").into_response(),
            ConsoleError::NotFound(_) | ConsoleError::Account(AccountError::Unknown(_)) => StatusCode::NOT_FOUND,
            ConsoleError::Forbidden(_) | ConsoleError::Csrf => StatusCode::FORBIDDEN,
            ConsoleError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsoleError::Account(AccountError::Store(_)) | ConsoleError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ConsoleError::Account(_) => StatusCode::CONFLICT,
        };
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            // The detail goes to the log, not to the browser.
            tracing::error!(error = %self, "console request failed");
            "the registry could not complete this request; see its log".to_string()
        } else {
            self.to_string()
        };
        (status, layout::error_page(status, &message)).into_response()
    }
}

/// The result of a console handler.
pub type PageResult = Result<Response, ConsoleError>;
