//! `GET`, `HEAD` and `DELETE /v2/<name>/blobs/<digest>`.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::error::{ApiError, ErrorCode};
use super::{ApiResult, Ctx, empty, headers};
use crate::reference::{Digest, RepoName};

/// Parses a `Range: bytes=<start>-[<end>]` header (one range; suffix ranges `bytes=-N` too).
/// Returns `Ok(None)` when there is no header or it asks for several ranges, which we answer
/// with the whole blob as HTTP allows.
fn parse_range(value: Option<&str>, size_hint: Option<u64>) -> Result<Option<(u64, Option<u64>)>, ApiError> {
    let Some(value) = value else { return Ok(None) };
    let invalid = || {
        ApiError::new(ErrorCode::SizeInvalid, format!("invalid Range header {value:?}"))
            .status(StatusCode::RANGE_NOT_SATISFIABLE)
    };
    let spec = value.trim().strip_prefix("bytes=").ok_or_else(invalid)?;
    if spec.contains(',') {
        return Ok(None);
    }
    let (start, end) = spec.split_once('-').ok_or_else(invalid)?;
    match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| invalid())?;
            let size = size_hint.ok_or_else(invalid)?;
            if n == 0 {
                return Err(invalid());
            }
            Ok(Some((size.saturating_sub(n), None)))
        }
        (s, "") => Ok(Some((s.parse().map_err(|_| invalid())?, None))),
        (s, e) => Ok(Some((s.parse().map_err(|_| invalid())?, Some(e.parse().map_err(|_| invalid())?)))),
    }
}

/// `GET`/`HEAD` of a blob, with byte ranges on `GET`. `HEAD` always carries `Content-Length`
/// and refreshes the blob's `last_seen` (clients HEAD before deciding not to upload).
pub(super) async fn get(ctx: &Ctx, repo: &RepoName, digest: &Digest, head: bool) -> ApiResult {
    let store = &ctx.app.store;
    if head {
        let size = store.stat_blob(repo, digest, true).await?;
        let mut r = empty(StatusCode::OK, [(headers::CONTENT_DIGEST, headers::digest(digest))]);
        r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(size));
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        r.headers_mut().insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        return Ok(r);
    }
    let range_header = ctx.header("range");
    let range = if range_header.is_some_and(|v| v.contains("=-")) {
        // A suffix range needs the size first.
        let size = store.stat_blob(repo, digest, false).await?;
        parse_range(range_header, Some(size))?
    } else {
        parse_range(range_header, None)?
    };
    let blob = store.open_blob(repo, digest, range).await?;
    let (status, length) = match blob.range {
        Some((start, end)) => (StatusCode::PARTIAL_CONTENT, end - start + 1),
        None => (StatusCode::OK, blob.size),
    };
    let mut response = Response::new(Body::from_stream(blob.body));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(headers::CONTENT_DIGEST, headers::digest(digest));
    if let Some((start, end)) = blob.range {
        h.insert(header::CONTENT_RANGE, headers::text(&format!("bytes {start}-{end}/{}", blob.size)));
    }
    Ok(response)
}

/// `DELETE` of a blob: unlinks it from the repository; garbage collection reclaims the bytes.
pub(super) async fn delete(ctx: &Ctx, repo: &RepoName, digest: &Digest) -> ApiResult {
    ctx.app.store.delete_blob(repo, digest).await?;
    Ok(empty(StatusCode::ACCEPTED, [(headers::CONTENT_DIGEST, headers::digest(digest))]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let cases: Vec<(&str, Option<&str>, Option<u64>, Result<Option<(u64, Option<u64>)>, ()>)> = vec![
            ("none", None, None, Ok(None)),
            ("closed", Some("bytes=0-9"), None, Ok(Some((0, Some(9))))),
            ("open end", Some("bytes=5-"), None, Ok(Some((5, None)))),
            ("suffix", Some("bytes=-4"), Some(10), Ok(Some((6, None)))),
            ("several ranges: whole blob", Some("bytes=0-1,4-5"), None, Ok(None)),
            ("wrong unit", Some("items=0-1"), None, Err(())),
            ("garbage", Some("bytes=a-b"), None, Err(())),
        ];
        for (name, header, size, expected) in cases {
            assert_eq!(parse_range(header, size).map_err(|_| ()), expected, "case {name}");
        }
    }
}
