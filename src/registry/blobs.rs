//! `GET`, `HEAD` and `DELETE /v2/<name>/blobs/<digest>`.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::range::{self, Selection};
use super::{ApiResult, Ctx, empty, headers};
use crate::reference::{Digest, RepoName};
use crate::store::blob::RangeError;

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
    // With `storage.s3.redirect`, the client fetches the bytes from the object store itself
    // (any Range header goes along with it); the access check above it is ours.
    if let Some(url) = store.blob_redirect(repo, digest).await? {
        return Ok(empty(StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, headers::text(&url))]));
    }
    // Range handling is defined for GET only (RFC 9110 §14.2); see `range` for what is ignored.
    let range = match ctx.header("range").and_then(range::parse_range) {
        None => None,
        Some(specs) => {
            let size = store.stat_blob(repo, digest, false).await?;
            match range::select(&specs, size) {
                Selection::Whole => None,
                Selection::Part { first, last } => Some((first, Some(last))),
                Selection::Unsatisfiable => return Err(RangeError::NotSatisfiable { size }.into()),
            }
        }
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
