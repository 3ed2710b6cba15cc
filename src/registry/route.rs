//! The URL grammar of `/v2/`, parsed from the raw (still percent-encoded) path into a [`Route`].
//!
//! ```text
//! /v2/                                   Base
//! /v2/_catalog                           Catalog
//! /v2/<name>/tags/list                   Tags
//! /v2/<name>/manifests/<reference>       Manifest
//! /v2/<name>/blobs/uploads/              UploadStart   (trailing slash optional)
//! /v2/<name>/blobs/uploads/<uuid>        Upload
//! /v2/<name>/blobs/<digest>              Blob
//! /v2/<name>/referrers/<digest>          Referrers
//! ```
//!
//! `<name>` may have any depth, so the path is matched from its end. The raw path is used so that
//! `%2e%2e` reaches the name check as it was sent and is refused there.
//!
//! A manifest `<reference>` that is neither a tag nor a digest still routes (the repository is
//! known, so access is checked first): a read of it is answered 404, since no such manifest can
//! exist (the OCI conformance suite asks for `.INVALID_MANIFEST_NAME`), and a write is refused.

use super::error::{ApiError, ErrorCode};
use crate::reference::{self, Digest, Reference, RepoName, UploadId};
use axum::http::StatusCode;

/// What a `/v2/` path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// API version check.
    Base,
    /// List of repositories.
    Catalog,
    /// Tags of a repository.
    Tags(RepoName),
    /// A manifest by tag or digest, or the reason the reference is neither.
    Manifest(RepoName, Result<Reference, reference::Error>),
    /// A blob.
    Blob(RepoName, Digest),
    /// Start of an upload (or a mount, or a monolithic push).
    UploadStart(RepoName),
    /// An upload session.
    Upload(RepoName, UploadId),
    /// Referrers of a manifest.
    Referrers(RepoName, Digest),
}

impl Route {
    /// The route's kind, as a metrics label.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Route::Base => "base",
            Route::Catalog => "catalog",
            Route::Tags(_) => "tags",
            Route::Manifest(..) => "manifest",
            Route::Blob(..) => "blob",
            Route::UploadStart(_) | Route::Upload(..) => "upload",
            Route::Referrers(..) => "referrers",
        }
    }

    /// The repository a route addresses, if any.
    #[must_use]
    pub fn repository(&self) -> Option<&RepoName> {
        match self {
            Route::Base | Route::Catalog => None,
            Route::Tags(r)
            | Route::Manifest(r, _)
            | Route::Blob(r, _)
            | Route::UploadStart(r)
            | Route::Upload(r, _)
            | Route::Referrers(r, _) => Some(r),
        }
    }
}

fn not_found(path: &str) -> ApiError {
    ApiError::new(ErrorCode::Unsupported, format!("no registry API at {path}")).status(StatusCode::NOT_FOUND)
}

/// Parses a request path.
///
/// # Errors
/// `NAME_INVALID`, `DIGEST_INVALID` or `BLOB_UPLOAD_UNKNOWN` for a malformed part (a malformed
/// manifest reference is left to the method, see [`Route::Manifest`]); 404 for a path outside
/// the API.
pub fn parse(path: &str) -> Result<Route, ApiError> {
    let rest = match path.strip_prefix("/v2") {
        Some("" | "/") => return Ok(Route::Base),
        Some(rest) => rest.strip_prefix('/').ok_or_else(|| not_found(path))?,
        None => return Err(not_found(path)),
    };
    if rest == "_catalog" {
        return Ok(Route::Catalog);
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let name = |parts: &[&str]| -> Result<RepoName, ApiError> {
        if parts.is_empty() {
            return Err(not_found(path));
        }
        Ok(parts.join("/").parse::<RepoName>()?)
    };
    match segments.as_slice() {
        [parts @ .., "tags", "list"] => Ok(Route::Tags(name(parts)?)),
        [parts @ .., "blobs", "uploads" | "uploads/"] | [parts @ .., "blobs", "uploads", ""] => {
            Ok(Route::UploadStart(name(parts)?))
        }
        [parts @ .., "blobs", "uploads", id] => {
            let repo = name(parts)?;
            Ok(Route::Upload(repo, id.parse()?))
        }
        [parts @ .., "blobs", digest] => {
            let repo = name(parts)?;
            Ok(Route::Blob(repo, digest.parse()?))
        }
        [parts @ .., "manifests", reference] => {
            let repo = name(parts)?;
            Ok(Route::Manifest(repo, reference.parse()))
        }
        [parts @ .., "referrers", digest] => {
            let repo = name(parts)?;
            Ok(Route::Referrers(repo, digest.parse()?))
        }
        _ => Err(not_found(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const U: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

    fn repo(s: &str) -> RepoName {
        s.parse().expect("valid name")
    }

    #[test]
    fn routes() {
        let cases: Vec<(&str, String, Route)> = vec![
            ("base", "/v2/".into(), Route::Base),
            ("base without slash", "/v2".into(), Route::Base),
            ("catalog", "/v2/_catalog".into(), Route::Catalog),
            ("tags", "/v2/a/b/tags/list".into(), Route::Tags(repo("a/b"))),
            (
                "manifest by tag",
                "/v2/x/manifests/v1".into(),
                Route::Manifest(repo("x"), Ok("v1".parse().expect("tag"))),
            ),
            (
                "manifest by digest, deep name",
                format!("/v2/a/b/c/d/e/manifests/{D}"),
                Route::Manifest(repo("a/b/c/d/e"), Ok(D.parse().expect("digest"))),
            ),
            (
                "manifest reference that is no tag keeps its repository",
                "/v2/a/b/manifests/.INVALID_MANIFEST_NAME".into(),
                Route::Manifest(repo("a/b"), Err(reference::Error::Tag(".INVALID_MANIFEST_NAME".into()))),
            ),
            (
                "manifest reference that is no digest keeps its repository",
                "/v2/x/manifests/sha256:abc".into(),
                Route::Manifest(repo("x"), Err(reference::Error::Digest("sha256:abc".into()))),
            ),
            ("upload start", "/v2/x/blobs/uploads/".into(), Route::UploadStart(repo("x"))),
            ("upload start without slash", "/v2/x/blobs/uploads".into(), Route::UploadStart(repo("x"))),
            ("upload", format!("/v2/x/blobs/uploads/{U}"), Route::Upload(repo("x"), U.parse().expect("uuid"))),
            ("blob", format!("/v2/x/blobs/{D}"), Route::Blob(repo("x"), D.parse().expect("digest"))),
            (
                "repository named like a keyword",
                format!("/v2/blobs/blobs/{D}"),
                Route::Blob(repo("blobs"), D.parse().expect("digest")),
            ),
            ("referrers", format!("/v2/x/referrers/{D}"), Route::Referrers(repo("x"), D.parse().expect("digest"))),
        ];
        for (name, path, expected) in cases {
            assert_eq!(parse(&path).unwrap_or_else(|e| panic!("case {name}: {e:?}")), expected, "case {name}");
        }
    }

    #[test]
    fn refused_paths() {
        let cases: Vec<(&str, String, StatusCode, &str)> = vec![
            ("dot dot name", "/v2/../manifests/v1".into(), StatusCode::BAD_REQUEST, "NAME_INVALID"),
            (
                "bad name before a bad reference",
                "/v2/Foo/manifests/.INVALID_MANIFEST_NAME".into(),
                StatusCode::BAD_REQUEST,
                "NAME_INVALID",
            ),
            ("encoded dot dot", "/v2/%2e%2e/manifests/v1".into(), StatusCode::BAD_REQUEST, "NAME_INVALID"),
            ("upper case", "/v2/Foo/tags/list".into(), StatusCode::BAD_REQUEST, "NAME_INVALID"),
            ("empty component", "/v2/a//b/tags/list".into(), StatusCode::BAD_REQUEST, "NAME_INVALID"),
            ("bad digest", "/v2/x/blobs/sha256:abc".into(), StatusCode::BAD_REQUEST, "DIGEST_INVALID"),
            (
                "unknown algorithm",
                "/v2/x/blobs/md5:d41d8cd98f00b204e9800998ecf8427e".into(),
                StatusCode::BAD_REQUEST,
                "DIGEST_INVALID",
            ),
            ("bad upload id", "/v2/x/blobs/uploads/..%2f..".into(), StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN"),
            ("no name", "/v2/tags/list".into(), StatusCode::NOT_FOUND, "UNSUPPORTED"),
            ("unknown endpoint", "/v2/x/whatever".into(), StatusCode::NOT_FOUND, "UNSUPPORTED"),
            ("outside v2", "/v3/x".into(), StatusCode::NOT_FOUND, "UNSUPPORTED"),
        ];
        for (name, path, status, code) in cases {
            let err = parse(&path).expect_err(name);
            assert_eq!(err.code().wire().0, code, "case {name}");
            let response = axum::response::IntoResponse::into_response(err);
            assert_eq!(response.status(), status, "case {name}");
        }
    }
}
