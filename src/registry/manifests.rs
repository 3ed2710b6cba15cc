//! `GET`, `HEAD`, `PUT` and `DELETE /v2/<name>/manifests/<reference>`.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use super::error::{ApiError, ErrorCode};
use super::{ApiResult, Ctx, empty, headers};
use crate::reference::{self, Reference, RepoName, Tag};
use crate::store;

/// A read or delete of a reference that is neither a tag nor a digest: no such manifest can
/// exist, so it is unknown (404), as distribution answers and the OCI conformance suite expects.
pub(super) fn cannot_exist(e: &reference::Error) -> ApiError {
    ApiError::new(ErrorCode::ManifestUnknown, format!("manifest unknown: {e}"))
}

/// `GET`/`HEAD`: the stored bytes exactly as pushed, with their media type and digest. The
/// `Accept` header does not filter: content is never converted, and HEAD without `Accept` must
/// still find OCI content.
pub(super) async fn get(ctx: &Ctx, repo: &RepoName, reference: &Reference, head: bool) -> ApiResult {
    let m = ctx.app.store.get_manifest(repo, reference).await?;
    let length = m.content.len();
    let mut response = Response::new(if head { Body::empty() } else { Body::from(m.content) });
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, headers::text(&m.media_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    h.insert(headers::CONTENT_DIGEST, headers::digest(&m.digest));
    h.insert(header::ETAG, headers::text(&format!("\"{}\"", m.digest)));
    Ok(response)
}

/// Reads a manifest body, refusing it once it passes the configured limit (never buffering more).
async fn read_limited(body: Body, limit: u64) -> Result<Bytes, ApiError> {
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::new(ErrorCode::ManifestInvalid, format!("reading the manifest body: {e}")))?;
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(store::Error::TooLarge { limit }.into());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// `PUT`: stores a manifest by tag or by digest; `?tag=` parameters add tags (answered with
/// one `OCI-Tag` header each), and a `subject` is answered with `OCI-Subject`.
pub(super) async fn put(ctx: &Ctx, repo: &RepoName, reference: &Reference, body: Body) -> ApiResult {
    let extra_tags = ctx.params("tag").map(str::parse::<Tag>).collect::<Result<Vec<_>, _>>()?;
    let content = read_limited(body, ctx.app.store.policy().max_manifest_bytes).await?;
    let outcome =
        ctx.app.store.put_manifest(repo, reference, ctx.header("content-type"), content, extra_tags.clone()).await?;
    let mut response = empty(
        StatusCode::CREATED,
        [
            (header::LOCATION, ctx.origin.location(&format!("/v2/{repo}/manifests/{}", outcome.digest))),
            (headers::CONTENT_DIGEST, headers::digest(&outcome.digest)),
        ],
    );
    let h = response.headers_mut();
    if let Some(subject) = &outcome.subject {
        h.insert(headers::OCI_SUBJECT, headers::digest(subject));
    }
    for tag in &extra_tags {
        h.append(headers::OCI_TAG, headers::text(tag.as_str()));
    }
    Ok(response)
}

/// `DELETE`: by digest removes the manifest and its tags; by tag removes only the tag.
pub(super) async fn delete(ctx: &Ctx, repo: &RepoName, reference: &Reference) -> ApiResult {
    ctx.app.store.delete_manifest(repo, reference).await?;
    Ok(empty(StatusCode::ACCEPTED, []))
}
