//! `GET /v2/<name>/tags/list`, `GET /v2/_catalog` and `GET /v2/<name>/referrers/<digest>`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::{ApiError, ErrorCode};
use super::{ApiResult, Ctx, headers};
use crate::manifest::OCI_INDEX;
use crate::reference::{Digest, RepoName};
use crate::store::listing::Page;

/// Reads `n` and `last`. `n` must be a non-negative integer.
fn pagination(ctx: &Ctx) -> Result<(Option<u32>, Option<String>), ApiError> {
    let n = ctx
        .param("n")
        .map(|n| {
            n.parse::<u32>().map_err(|_| {
                ApiError::new(ErrorCode::PaginationNumberInvalid, format!("n={n:?} is not a non-negative integer"))
            })
        })
        .transpose()?;
    Ok((n, ctx.param("last").map(str::to_string)))
}

/// A JSON page with a `Link` to the next one when more follow (RFC 5988, as the spec shows).
fn page_response(path: &str, n: Option<u32>, page: &Page, body: &Value) -> Response {
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
    if let (true, Some(n), Some(last)) = (page.more, n, page.items.last()) {
        let query = serde_urlencoded::to_string([("n", n.to_string()), ("last", last.clone())]).unwrap_or_default();
        response.headers_mut().insert(header::LINK, headers::text(&format!("<{path}?{query}>; rel=\"next\"")));
    }
    response
}

/// Tags of a repository, in lexical order.
pub(super) async fn tags(ctx: &Ctx, repo: &RepoName) -> ApiResult {
    let (n, last) = pagination(ctx)?;
    let page = ctx.app.store.list_tags(repo, last, n).await?;
    Ok(page_response(&format!("/v2/{repo}/tags/list"), n, &page, &json!({ "name": repo.as_str(), "tags": page.items })))
}

/// Repositories, in lexical order: those the caller may pull.
pub(super) async fn catalog(ctx: &Ctx) -> ApiResult {
    let (n, last) = pagination(ctx)?;
    let keep = ctx.visibility();
    let page = ctx.app.store.list_repositories(last, n, keep).await?;
    Ok(page_response("/v2/_catalog", n, &page, &json!({ "repositories": page.items })))
}

/// Referrers of a manifest as an OCI index; an unknown subject has an empty list, never a 404.
pub(super) async fn referrers(ctx: &Ctx, repo: &RepoName, subject: &Digest) -> ApiResult {
    let filter = ctx.param("artifactType").filter(|t| !t.is_empty()).map(str::to_string);
    let referrers = ctx.app.store.list_referrers(repo, subject, filter.clone()).await?;
    let manifests: Vec<Value> = referrers
        .into_iter()
        .map(|r| {
            let mut d = json!({ "mediaType": r.media_type, "digest": r.digest.to_string(), "size": r.size });
            if let Some(t) = r.artifact_type {
                d["artifactType"] = Value::String(t);
            }
            if let Some(a) = r.annotations {
                d["annotations"] = Value::Object(a);
            }
            d
        })
        .collect();
    let body = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, OCI_INDEX)], body.to_string()).into_response();
    if filter.is_some() {
        response.headers_mut().insert(headers::OCI_FILTERS_APPLIED, headers::text("artifactType"));
    }
    Ok(response)
}
