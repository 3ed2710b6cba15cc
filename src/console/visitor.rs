//! Who is browsing: the session cookie read into a [`Visitor`] (an extractor, so a handler
//! cannot forget it), the cookie written at login, and the checks every form passes: the
//! session's CSRF token, and an `Origin` that is this site.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};

use super::{Console, ConsoleError};
use crate::accounts::{Action, Role};
use crate::auth::session::{SESSION_TTL, tokens_match};
use crate::auth::{Principal, scope::Resource};
use crate::reference::RepoName;
use crate::registry::headers::Origin;
use crate::serve::listener::ClientAddr;

/// The cookie's name. Under TLS the `__Host-` prefix makes browsers refuse it unless it is
/// `Secure`, host-only and for the whole site, so no sibling domain can plant one.
fn cookie_name(tls: bool) -> &'static str {
    if tls { "__Host-mirror-registry-session" } else { "mirror-registry-session" }
}

/// The session secret a request's `Cookie` headers carry, if any.
pub fn session_secret(headers: &HeaderMap, tls: bool) -> Option<String> {
    let name = cookie_name(tls);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// `Set-Cookie` for a new session: script cannot read it, no other site's request carries it.
#[must_use]
pub fn session_cookie(secret: &str, tls: bool) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    let value = format!(
        "{}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        cookie_name(tls),
        SESSION_TTL.as_secs()
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` that removes the session cookie.
#[must_use]
pub fn cleared_cookie(tls: bool) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}", cookie_name(tls)))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The client's address as the listener saw it.
pub fn client(parts: &Parts) -> IpAddr {
    parts.extensions.get::<ClientAddr>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0)
}

/// Whether a form's `Origin` (when the browser sends one) is this site: as the browser reached
/// it (`Host` in HTTP/1.1, the `:authority` in HTTP/2), or as the registry names itself. A page
/// of another site posting here fails.
fn same_origin(headers: &HeaderMap, authority: Option<&str>, ours: &Origin, tls: bool) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let scheme = if tls { "https" } else { "http" };
    let reached = headers.get(header::HOST).and_then(|v| v.to_str().ok()).or(authority);
    let by_host = reached.map(|h| format!("{scheme}://{h}"));
    Some(origin) == by_host.as_deref() || Some(origin) == ours.base()
}

/// The browsing account and the request's origin.
pub struct Visitor {
    /// The account, as it is now; `None` when authentication is off (read-only console).
    pub principal: Option<Principal>,
    /// The session's form token.
    pub csrf_token: String,
    /// `host[:port]` clients pull from, for the `podman pull` lines.
    pub registry_host: String,
    /// Whether the request's `Origin` is this site.
    same_origin: bool,
    anonymous_pull: bool,
}

impl Visitor {
    /// The account's name, when logged in.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.principal.as_ref().map(Principal::name)
    }

    /// Whether the account may do `action` on `repo`, as the registry API would decide. With
    /// authentication off the console only reads.
    #[must_use]
    pub fn may(&self, repo: &RepoName, action: Action) -> bool {
        match &self.principal {
            Some(p) => p.allows(&Resource::Repository(repo.clone()), action, self.anonymous_pull),
            None => action == Action::Pull,
        }
    }

    /// Whether the account is an administrator of the whole registry.
    #[must_use]
    pub fn is_admin(&self) -> bool {
        matches!(&self.principal, Some(Principal::User { permissions, .. }) if permissions.role == Role::Admin)
    }

    /// Checks a state-changing form: a logged-in account, the session's token, this site.
    ///
    /// # Errors
    /// [`ConsoleError::Csrf`] or [`ConsoleError::Forbidden`].
    pub fn check_form(&self, token: &str) -> Result<(), ConsoleError> {
        if self.principal.is_none() {
            return Err(ConsoleError::Forbidden("authentication is off: the console is read-only".into()));
        }
        if self.same_origin && tokens_match(token, &self.csrf_token) { Ok(()) } else { Err(ConsoleError::Csrf) }
    }

    /// Requires an administrator.
    ///
    /// # Errors
    /// [`ConsoleError::Forbidden`].
    pub fn require_admin(&self) -> Result<(), ConsoleError> {
        if self.is_admin() { Ok(()) } else { Err(ConsoleError::Forbidden("this page is for administrators".into())) }
    }
}

impl FromRequestParts<Arc<Console>> for Visitor {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, console: &Arc<Console>) -> Result<Visitor, ConsoleError> {
        let app = &console.app;
        let Arrival { registry_host, same_origin, .. } = Arrival::from_request_parts(parts, console).await?;
        let Some(auth) = &app.auth else {
            return Ok(Visitor {
                principal: None,
                csrf_token: String::new(),
                registry_host,
                same_origin,
                anonymous_pull: true,
            });
        };
        let secret = session_secret(&parts.headers, app.tls).ok_or(ConsoleError::LoginRequired)?;
        let session = auth.session(&secret).await?.ok_or(ConsoleError::LoginRequired)?;
        Ok(Visitor {
            principal: Some(session.principal),
            csrf_token: session.csrf_token,
            registry_host,
            same_origin,
            anonymous_pull: auth.settings().anonymous_pull,
        })
    }
}

/// Where a request comes from: for the login form (which has no session yet), and the base of every [`Visitor`].
pub struct Arrival {
    /// The client's address, for the login back-off.
    pub client: IpAddr,
    /// Whether the request's `Origin` is this site.
    pub same_origin: bool,
    /// `host[:port]` of the registry as this client names it (for `podman pull` lines).
    pub registry_host: String,
}

impl FromRequestParts<Arc<Console>> for Arrival {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, console: &Arc<Console>) -> Result<Arrival, ConsoleError> {
        let app = &console.app;
        let authority = parts.uri.authority().map(axum::http::uri::Authority::as_str);
        let origin = Origin::from_request(&parts.headers, authority, app.tls, client(parts), &app.frontend);
        Ok(Arrival {
            client: client(parts),
            same_origin: same_origin(&parts.headers, authority, &origin, app.tls),
            registry_host: origin.host().unwrap_or("localhost").to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_origins() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; __Host-mirror-registry-session=s3cret"));
        assert_eq!(session_secret(&h, true).as_deref(), Some("s3cret"));
        assert_eq!(session_secret(&h, false), None, "the plain-HTTP name is another cookie");
        let set = session_cookie("x", true);
        let set = set.to_str().expect("ascii");
        for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
            assert!(set.contains(attr), "{set} has {attr}");
        }
        assert!(!session_cookie("x", false).to_str().expect("ascii").contains("Secure"));

        let ours = Origin::from_request(
            &HeaderMap::new(),
            None,
            true,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            &crate::registry::headers::Frontend::default(),
        );
        let mut form = HeaderMap::new();
        form.insert(header::HOST, HeaderValue::from_static("reg.example:8443"));
        assert!(same_origin(&form, None, &ours, true), "no Origin header (older browsers, curl)");
        form.insert(header::ORIGIN, HeaderValue::from_static("https://reg.example:8443"));
        assert!(same_origin(&form, None, &ours, true));
        form.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(!same_origin(&form, None, &ours, true));
        form.insert(header::ORIGIN, HeaderValue::from_static("http://reg.example:8443"));
        assert!(!same_origin(&form, None, &ours, true), "another scheme is another origin");

        // HTTP/2 has no Host header: the authority of the request line stands in.
        let mut h2 = HeaderMap::new();
        h2.insert(header::ORIGIN, HeaderValue::from_static("https://reg.example:8443"));
        assert!(same_origin(&h2, Some("reg.example:8443"), &ours, true));
        assert!(!same_origin(&h2, Some("other.example:8443"), &ours, true));
    }
}
