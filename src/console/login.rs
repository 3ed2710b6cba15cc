//! Logging in and out. The password check is the registry's own ([`crate::auth::Auth::login`]),
//! so the console shares its back-off per client and per user name with `podman login`.

use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, page};
use super::visitor::{self, Arrival};
use super::{Console, ConsoleError, PageResult, Visitor};
use crate::accounts::Secret;
use crate::auth::Denial;

/// The login form's fields.
#[derive(Deserialize)]
pub struct LoginForm {
    user: String,
    password: String,
}

/// The logout form's field.
#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

fn login_page(status: StatusCode, user: &str, message: Option<&str>) -> Response {
    let body: Markup = html! {
        section.login {
            h1 { "Log in" }
            p.muted { "Use a registry account, as for " code { "podman login" } "." }
            @if let Some(m) = message { p.error role="alert" { (m) } }
            form method="post" action="/ui/login" {
                label { "User name" input name="user" autocomplete="username" required value=(user) autofocus; }
                label { "Password" input name="password" type="password" autocomplete="current-password" required; }
                button.primary type="submit" { "Log in" }
            }
        }
    };
    (status, layout::ok(page(None, "Log in", &body))).into_response()
}

/// `GET /ui/login`: the form, or the repositories for someone already logged in.
pub async fn form(State(console): State<Arc<Console>>, headers: HeaderMap) -> PageResult {
    let Some(auth) = &console.app.auth else { return Ok(Redirect::to("/ui/").into_response()) };
    if let Some(secret) = visitor::session_secret(&headers, console.app.tls)
        && auth.session(&secret).await?.is_some()
    {
        return Ok(Redirect::to("/ui/").into_response());
    }
    Ok(login_page(StatusCode::OK, "", None))
}

/// `POST /ui/login`: checks the password, opens a session, sets its cookie.
pub async fn submit(State(console): State<Arc<Console>>, arrival: Arrival, Form(form): Form<LoginForm>) -> PageResult {
    let Some(auth) = &console.app.auth else { return Ok(Redirect::to("/ui/").into_response()) };
    if !arrival.same_origin {
        return Err(ConsoleError::Csrf);
    }
    let principal = match auth.login(arrival.client, form.user.trim(), &Secret::presented(&form.password)).await {
        Ok(p) => p,
        Err(Denial::RateLimited(wait)) => {
            let message = format!("Too many failed logins. Try again in {} s.", wait.as_secs().max(1));
            let mut response = login_page(StatusCode::TOO_MANY_REQUESTS, &form.user, Some(&message));
            if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return Ok(response);
        }
        Err(Denial::Store(e)) => return Err(e.into()),
        Err(_) => {
            return Ok(login_page(StatusCode::UNAUTHORIZED, &form.user, Some("Invalid user name or password.")));
        }
    };
    let Some((secret, _)) = auth.open_session(&principal).await? else { return Err(ConsoleError::LoginRequired) };
    tracing::info!(user = principal.name(), "console login");
    let mut response = Redirect::to("/ui/").into_response();
    response.headers_mut().insert(header::SET_COOKIE, visitor::session_cookie(secret.expose(), console.app.tls));
    Ok(response)
}

/// `POST /ui/logout`: ends the session and removes its cookie.
pub async fn logout(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> PageResult {
    visitor.check_form(&form.csrf)?;
    if let (Some(auth), Some(secret)) = (&console.app.auth, visitor::session_secret(&headers, console.app.tls)) {
        auth.close_session(&secret).await?;
    }
    let mut response = Redirect::to("/ui/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, visitor::cleared_cookie(console.app.tls));
    Ok(response)
}
