//! The page shell (header, navigation, logout, footer) and the formatting every page shares:
//! sizes, times, short digests, links, the copy-a-command line, the CSRF field.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::Visitor;
use crate::reference::Digest;

/// A whole page for `visitor` (or for nobody, on the login and error pages).
pub fn page(visitor: Option<&Visitor>, title: &str, body: &Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · mirror-registry" }
                link rel="stylesheet" href="/ui/assets/console.css";
                link rel="icon" href="/ui/assets/favicon.svg" type="image/svg+xml";
                script src="/ui/assets/console.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/ui/" { "mirror-registry" }
                    @if let Some(v) = visitor {
                        nav {
                            a href="/ui/" { "Repositories" }
                            @if v.is_admin() { a href="/ui/admin" { "Admin" } }
                        }
                        @if let Some(name) = v.name() {
                            form.who method="post" action="/ui/logout" {
                                span.user { (name) }
                                (csrf(v))
                                button.link type="submit" { "Log out" }
                            }
                        } @else {
                            span.who { "authentication off · read-only" }
                        }
                    }
                }
                main { (body) }
                footer { "mirror-registry " (env!("CARGO_PKG_VERSION")) }
            }
        }
    }
}

/// A markup page as a 200 response.
pub fn ok(markup: Markup) -> Response {
    Html(markup.into_string()).into_response()
}

/// The page of an error.
pub fn error_page(status: StatusCode, message: &str) -> Html<String> {
    let title = status.canonical_reason().unwrap_or("Error");
    let body = html! {
        h1 { (title) }
        p.error { (message) }
        p { a href="/ui/" { "Back to the repositories" } }
    };
    Html(page(None, title, &body).into_string())
}

/// The hidden field every state-changing form carries.
pub fn csrf(visitor: &Visitor) -> Markup {
    html! { input type="hidden" name="csrf" value=(visitor.csrf_token); }
}

/// A command with a button that copies it (the script adds the copying; without script the
/// command is still there to select).
pub fn copy_line(command: &str) -> Markup {
    html! {
        div.copy-line {
            code { (command) }
            button.copy type="button" data-copy=(command) title="Copy to the clipboard" { "Copy" }
        }
    }
}

/// `1.5 MiB` and the like.
pub fn bytes(n: u64) -> String {
    crate::store::gc::human_bytes(n)
}

/// A Unix time as `2026-12-05 19:20 UTC`.
pub fn when(seconds: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| "-".into())
}

/// `sha256:0123456789ab`: enough to tell digests apart on a page.
pub fn short(digest: &Digest) -> String {
    let s = digest.to_string();
    match s.split_once(':') {
        Some((algorithm, hex)) => format!("{algorithm}:{}", &hex[..hex.len().min(12)]),
        None => s,
    }
}

/// A console URL with an encoded query.
pub fn url(path: &str, query: &[(&str, &str)]) -> String {
    match serde_urlencoded::to_string(query) {
        Ok(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_string(),
    }
}

/// The page of a repository.
pub fn repo_url(name: &str) -> String {
    url("/ui/repo", &[("name", name)])
}

/// The page of a manifest.
pub fn manifest_url(repo: &str, digest: &Digest) -> String {
    url("/ui/manifest", &[("repo", repo), ("digest", &digest.to_string())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting() {
        assert_eq!(when(0), "1970-01-01 00:00 UTC");
        let d: Digest =
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".parse().expect("digest");
        assert_eq!(short(&d), "sha256:e3b0c44298fc");
        assert_eq!(repo_url("a/b"), "/ui/repo?name=a%2Fb");
        assert_eq!(url("/ui/", &[]), "/ui/");
    }

    #[test]
    fn values_are_escaped() {
        let evil = "<script>alert(1)</script>";
        let markup = copy_line(evil).into_string();
        assert!(!markup.contains("<script>"), "{markup}");
        assert!(markup.contains("&lt;script&gt;"), "{markup}");
    }
}
