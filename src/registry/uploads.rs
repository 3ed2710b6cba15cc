//! Upload sessions: `POST`, `PATCH`, `PUT`, `GET` and `DELETE` under `/v2/<name>/blobs/uploads/`.
//!
//! Every step answers `Location` (the session URL), `Range: 0-<last>` and `Docker-Upload-UUID`,
//! so that clients can resume from any of them.

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::error::{ApiError, ErrorCode};
use super::{ApiResult, Ctx, empty, headers, range};
use crate::reference::{Digest, RepoName, UploadId};
use crate::store::upload::ChunkRange;

fn session_headers(ctx: &Ctx, repo: &RepoName, id: &UploadId, size: u64) -> [(HeaderName, HeaderValue); 3] {
    [
        (header::LOCATION, ctx.origin.location(&format!("/v2/{repo}/blobs/uploads/{id}"))),
        (header::RANGE, headers::upload_range(size)),
        (headers::UPLOAD_UUID, headers::upload_id(id)),
    ]
}

fn blob_created(ctx: &Ctx, repo: &RepoName, digest: &Digest) -> Response {
    empty(
        StatusCode::CREATED,
        [
            (header::LOCATION, ctx.origin.location(&format!("/v2/{repo}/blobs/{digest}"))),
            (headers::CONTENT_DIGEST, headers::digest(digest)),
        ],
    )
}

fn digest_param(ctx: &Ctx) -> Result<Option<Digest>, ApiError> {
    ctx.param("digest").map(|d| d.parse::<Digest>().map_err(ApiError::from)).transpose()
}

/// The chunk's `Content-Range`, if any. A malformed value is answered like an out-of-order
/// chunk: 416 with the current `Range`, so the client can resume.
async fn chunk_range(ctx: &Ctx, repo: &RepoName, id: &UploadId) -> Result<Option<ChunkRange>, ApiError> {
    let Some(value) = ctx.header("content-range") else { return Ok(None) };
    if let Some(range) = range::parse_chunk_range(value) {
        return Ok(Some(range));
    }
    let size = ctx.app.store.upload_size(repo, id).await?;
    Err(ApiError::new(ErrorCode::BlobUploadInvalid, format!("invalid Content-Range {value:?}"))
        .status(StatusCode::RANGE_NOT_SATISFIABLE)
        .header(header::RANGE, headers::upload_range(size)))
}

/// `POST`: a cross-repository mount (`?mount=&from=`), a monolithic push (`?digest=` with the
/// body), or the start of an upload session.
pub(super) async fn start(ctx: &Ctx, repo: &RepoName, body: Body) -> ApiResult {
    let store = &ctx.app.store;
    if let (Some(mount), Some(from)) = (ctx.param("mount"), ctx.param("from")) {
        let digest: Digest = mount.parse()?;
        let from: RepoName = from.parse()?;
        if store.mount_blob(repo, &digest, &from).await? {
            return Ok(blob_created(ctx, repo, &digest));
        }
        // Not mountable: fall through to an ordinary session, as the spec requires.
    } else if let Some(digest) = digest_param(ctx)? {
        store.put_blob(repo, &digest, ctx.body_stream(body)).await?;
        return Ok(blob_created(ctx, repo, &digest));
    }
    let id = store.start_upload(repo).await?;
    Ok(empty(StatusCode::ACCEPTED, session_headers(ctx, repo, &id, 0)))
}

/// `PATCH`: appends a chunk (streamed; `Content-Range` optional, chunked encoding fine).
pub(super) async fn patch(ctx: &Ctx, repo: &RepoName, id: &UploadId, body: Body) -> ApiResult {
    let range = chunk_range(ctx, repo, id).await?;
    let size = ctx.app.store.append_upload(repo, id, range, ctx.body_stream(body)).await?;
    Ok(empty(StatusCode::ACCEPTED, session_headers(ctx, repo, id, size)))
}

/// `PUT ?digest=`: appends the final chunk if any, verifies, and creates the blob.
pub(super) async fn put(ctx: &Ctx, repo: &RepoName, id: &UploadId, body: Body) -> ApiResult {
    let digest = digest_param(ctx)?.ok_or_else(|| {
        ApiError::new(ErrorCode::DigestInvalid, "the digest query parameter is required to complete an upload")
    })?;
    let range = chunk_range(ctx, repo, id).await?;
    ctx.app.store.commit_upload(repo, id, &digest, range, ctx.body_stream(body)).await?;
    Ok(blob_created(ctx, repo, &digest))
}

/// `GET`: the progress of a session (204 with `Range`).
pub(super) async fn status(ctx: &Ctx, repo: &RepoName, id: &UploadId) -> ApiResult {
    let size = ctx.app.store.upload_size(repo, id).await?;
    Ok(empty(StatusCode::NO_CONTENT, session_headers(ctx, repo, id, size)))
}

/// `DELETE`: abandons a session.
pub(super) async fn cancel(ctx: &Ctx, repo: &RepoName, id: &UploadId) -> ApiResult {
    ctx.app.store.cancel_upload(repo, id).await?;
    Ok(empty(StatusCode::NO_CONTENT, []))
}
