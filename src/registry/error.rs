//! Wire errors: the OCI error codes, their HTTP statuses, and the one place where lower-layer
//! errors become them.
//!
//! Body format (distribution-spec "Error Codes"): `{"errors":[{"code","message","detail"}]}`.
//! A 5xx never carries the internal cause: it is logged with the request id, which the client
//! gets instead.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::reference;
use crate::store::{self, blob::RangeError};

/// The error codes of the distribution-spec, plus the Docker-era codes clients still know
/// (`TAG_INVALID` is also among the codes the OCI conformance suite accepts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Blob unknown to registry.
    BlobUnknown,
    /// Blob upload invalid.
    BlobUploadInvalid,
    /// Blob upload unknown to registry.
    BlobUploadUnknown,
    /// Provided digest did not match uploaded content.
    DigestInvalid,
    /// Manifest references a manifest or blob unknown to registry.
    ManifestBlobUnknown,
    /// Manifest invalid.
    ManifestInvalid,
    /// Manifest unknown to registry.
    ManifestUnknown,
    /// Invalid repository name.
    NameInvalid,
    /// Repository name not known to registry.
    NameUnknown,
    /// Provided length did not match content length (also: content over a size limit).
    SizeInvalid,
    /// Docker registry API: a manifest pushed under a tag that breaks the tag grammar.
    TagInvalid,
    /// Authentication required.
    Unauthorized,
    /// Requested access to the resource is denied.
    Denied,
    /// The operation is unsupported.
    Unsupported,
    /// Too many requests.
    TooManyRequests,
    /// Docker registry API: invalid `n` in pagination.
    PaginationNumberInvalid,
    /// Docker registry API: an unexpected server failure.
    Unknown,
}

impl ErrorCode {
    /// The code as written on the wire and its default status: the single table of both.
    #[must_use]
    pub fn wire(self) -> (&'static str, StatusCode) {
        match self {
            ErrorCode::BlobUnknown => ("BLOB_UNKNOWN", StatusCode::NOT_FOUND),
            ErrorCode::BlobUploadInvalid => ("BLOB_UPLOAD_INVALID", StatusCode::BAD_REQUEST),
            ErrorCode::BlobUploadUnknown => ("BLOB_UPLOAD_UNKNOWN", StatusCode::NOT_FOUND),
            ErrorCode::DigestInvalid => ("DIGEST_INVALID", StatusCode::BAD_REQUEST),
            ErrorCode::ManifestBlobUnknown => ("MANIFEST_BLOB_UNKNOWN", StatusCode::BAD_REQUEST),
            ErrorCode::ManifestInvalid => ("MANIFEST_INVALID", StatusCode::BAD_REQUEST),
            ErrorCode::ManifestUnknown => ("MANIFEST_UNKNOWN", StatusCode::NOT_FOUND),
            ErrorCode::NameInvalid => ("NAME_INVALID", StatusCode::BAD_REQUEST),
            ErrorCode::NameUnknown => ("NAME_UNKNOWN", StatusCode::NOT_FOUND),
            ErrorCode::SizeInvalid => ("SIZE_INVALID", StatusCode::BAD_REQUEST),
            ErrorCode::TagInvalid => ("TAG_INVALID", StatusCode::BAD_REQUEST),
            ErrorCode::Unauthorized => ("UNAUTHORIZED", StatusCode::UNAUTHORIZED),
            ErrorCode::Denied => ("DENIED", StatusCode::FORBIDDEN),
            ErrorCode::Unsupported => ("UNSUPPORTED", StatusCode::METHOD_NOT_ALLOWED),
            ErrorCode::TooManyRequests => ("TOOMANYREQUESTS", StatusCode::TOO_MANY_REQUESTS),
            ErrorCode::PaginationNumberInvalid => ("PAGINATION_NUMBER_INVALID", StatusCode::BAD_REQUEST),
            ErrorCode::Unknown => ("UNKNOWN", StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

/// An error answered to the client. Boxed: it travels through every handler's `Result`.
#[derive(Debug)]
pub struct ApiError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    code: ErrorCode,
    status: StatusCode,
    message: String,
    detail: Option<Value>,
    headers: HeaderMap,
    /// The cause of a 5xx, for the log only.
    internal: Option<String>,
}

impl ApiError {
    /// An error with the code's default status.
    #[must_use]
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError(Box::new(Inner {
            code,
            status: code.wire().1,
            message: message.into(),
            detail: None,
            headers: HeaderMap::new(),
            internal: None,
        }))
    }

    /// The error code.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        self.0.code
    }

    /// Overrides the status (416 for ranges, 413 for sizes, 404 for unknown routes).
    #[must_use]
    pub fn status(mut self, status: StatusCode) -> ApiError {
        self.0.status = status;
        self
    }

    /// Adds a `detail` object.
    #[must_use]
    pub fn detail(mut self, detail: Value) -> ApiError {
        self.0.detail = Some(detail);
        self
    }

    /// Adds a response header.
    #[must_use]
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> ApiError {
        self.0.headers.insert(name, value);
        self
    }

    /// A 500 whose cause is logged, never sent.
    #[must_use]
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        let mut e = ApiError::new(ErrorCode::Unknown, "internal server error");
        e.0.internal = Some(cause.to_string());
        e
    }

    /// Replaces a 5xx message by one naming the request id, and logs the cause. A 507 keeps
    /// its message: it names no internal cause, only what the operator must do (free space).
    #[must_use]
    pub fn with_request_id(mut self, request_id: &str) -> ApiError {
        if self.0.status == StatusCode::INSUFFICIENT_STORAGE {
            tracing::warn!(request_id, cause = %self.0.message, "request refused for lack of space");
        } else if self.0.status.is_server_error() {
            tracing::error!(
                request_id,
                cause = self.0.internal.as_deref().unwrap_or(&self.0.message),
                "request failed"
            );
            self.0.message =
                format!("internal server error; the server log has the cause under request id {request_id}");
        }
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let Inner { code, status, message, detail, headers, internal: _ } = *self.0;
        let (code, _) = code.wire();
        let mut error = json!({ "code": code, "message": message });
        if let Some(detail) = detail {
            error["detail"] = detail;
        }
        let body = json!({ "errors": [error] }).to_string();
        let mut response = (status, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response();
        response.headers_mut().extend(headers);
        response
    }
}

impl From<store::Error> for ApiError {
    fn from(e: store::Error) -> ApiError {
        use store::Error as E;
        match e {
            E::BlobUnknown(ref d) => {
                ApiError::new(ErrorCode::BlobUnknown, e.to_string()).detail(json!({ "digest": d.to_string() }))
            }
            E::UploadUnknown(_) => ApiError::new(ErrorCode::BlobUploadUnknown, e.to_string()),
            E::DigestMismatch { .. } => ApiError::new(ErrorCode::DigestInvalid, e.to_string()),
            E::ChunkOutOfOrder { size, .. } => ApiError::new(ErrorCode::BlobUploadInvalid, e.to_string())
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(HeaderName::from_static("range"), super::headers::upload_range(size)),
            E::TooLarge { .. } => {
                ApiError::new(ErrorCode::SizeInvalid, e.to_string()).status(StatusCode::PAYLOAD_TOO_LARGE)
            }
            E::NameUnknown(_) => ApiError::new(ErrorCode::NameUnknown, e.to_string()),
            E::ManifestUnknown(_) => ApiError::new(ErrorCode::ManifestUnknown, e.to_string()),
            E::ManifestInvalid(_) => ApiError::new(ErrorCode::ManifestInvalid, e.to_string()),
            E::ManifestBlobUnknown(ref d) => {
                ApiError::new(ErrorCode::ManifestBlobUnknown, e.to_string()).detail(json!({ "digest": d.to_string() }))
            }
            E::Body(_) => ApiError::new(ErrorCode::BlobUploadInvalid, e.to_string()),
            // 507 Insufficient Storage (RFC 4918): a server-side condition, so a 5xx that clients
            // may retry later, with a message that says what to do. BLOB_UPLOAD_INVALID is the
            // spec's code for an upload that "can no longer proceed"; the spec has none for a
            // full disk elsewhere, so that is UNKNOWN with the same status.
            E::UploadSpace { .. } => {
                ApiError::new(ErrorCode::BlobUploadInvalid, e.to_string()).status(StatusCode::INSUFFICIENT_STORAGE)
            }
            E::StorageFull => ApiError::new(ErrorCode::Unknown, e.to_string()).status(StatusCode::INSUFFICIENT_STORAGE),
            E::Io(_) | E::Database(_) | E::Join(_) => ApiError::internal(e),
        }
    }
}

impl From<RangeError> for ApiError {
    fn from(e: RangeError) -> ApiError {
        match e {
            RangeError::NotSatisfiable { size } => ApiError::new(ErrorCode::SizeInvalid, e.to_string())
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(HeaderName::from_static("content-range"), super::headers::unsatisfied_range(size)),
            RangeError::Store(e) => e.into(),
        }
    }
}

impl From<reference::Error> for ApiError {
    fn from(e: reference::Error) -> ApiError {
        use reference::Error as E;
        let code = match e {
            E::Name(_) => ErrorCode::NameInvalid,
            E::Tag(_) => ErrorCode::TagInvalid,
            E::Digest(_) | E::DigestAlgorithm(_) => ErrorCode::DigestInvalid,
            E::UploadId(_) => ErrorCode::BlobUploadUnknown,
        };
        ApiError::new(code, e.to_string())
    }
}
