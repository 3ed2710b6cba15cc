//! The console's static files, embedded in the binary: the console needs nothing from outside
//! the registry (air-gapped bastions) and nothing can drift from the binary's version.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `(name, content type, bytes)` of every file served under `/ui/assets/`.
pub const FILES: [(&str, &str, &str); 3] = [
    ("console.css", "text/css; charset=utf-8", include_str!("assets/console.css")),
    ("console.js", "text/javascript; charset=utf-8", include_str!("assets/console.js")),
    ("favicon.svg", "image/svg+xml", include_str!("assets/favicon.svg")),
];

/// `GET /ui/assets/{file}`.
pub async fn serve(Path(file): Path<String>) -> Response {
    let Some((_, content_type, body)) = FILES.iter().find(|(name, ..)| *name == file) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let mut response = (*body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Short: a new version of the binary may change them, and they are a few KiB.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_small() {
        let total: usize = FILES.iter().map(|(_, _, body)| body.len()).sum();
        assert!(total < 300 * 1024, "{total} bytes of assets; the console aims under 300 KiB");
    }
}
