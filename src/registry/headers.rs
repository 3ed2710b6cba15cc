//! The headers clients depend on, each built in one place.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::reference::{Digest, UploadId};

/// `Docker-Content-Digest`.
pub const CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");
/// `Docker-Upload-UUID`.
pub const UPLOAD_UUID: HeaderName = HeaderName::from_static("docker-upload-uuid");
/// `Docker-Distribution-API-Version`, which Docker clients check on `/v2/`.
pub const API_VERSION: HeaderName = HeaderName::from_static("docker-distribution-api-version");
/// `OCI-Subject`, answered on a push of a manifest with a `subject`.
pub const OCI_SUBJECT: HeaderName = HeaderName::from_static("oci-subject");
/// `OCI-Tag`, one per tag created by `?tag=` on a push by digest.
pub const OCI_TAG: HeaderName = HeaderName::from_static("oci-tag");
/// `WWW-Authenticate`, the challenge on a 401.
pub const WWW_AUTHENTICATE: HeaderName = HeaderName::from_static("www-authenticate");
/// `OCI-Filters-Applied`, when the referrers list was filtered.
pub const OCI_FILTERS_APPLIED: HeaderName = HeaderName::from_static("oci-filters-applied");

fn value(s: &str) -> HeaderValue {
    // Every value built here is ASCII from validated types or numbers.
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Range: 0-<last>` of an upload holding `size` bytes. An empty upload says `0-0`, as
/// distribution does and clients expect.
#[must_use]
pub fn upload_range(size: u64) -> HeaderValue {
    value(&format!("0-{}", size.saturating_sub(1)))
}

/// `Content-Range: bytes */<size>` for a range that cannot be served.
#[must_use]
pub fn unsatisfied_range(size: u64) -> HeaderValue {
    value(&format!("bytes */{size}"))
}

/// A digest header value.
#[must_use]
pub fn digest(d: &Digest) -> HeaderValue {
    value(&d.to_string())
}

/// An upload id header value.
#[must_use]
pub fn upload_id(id: &UploadId) -> HeaderValue {
    value(id.as_str())
}

/// A plain text value (tags, media types, links) that came from validated input.
#[must_use]
pub fn text(s: &str) -> HeaderValue {
    value(s)
}

/// Where the client reached us, for absolute `Location` headers: scheme from
/// `X-Forwarded-Proto` (a TLS-terminating proxy in front), host from `X-Forwarded-Host` or
/// `Host`. Without a host the `Location` stays relative, which the spec allows.
#[derive(Debug, Clone)]
pub struct Origin(Option<String>);

impl Origin {
    /// Reads the origin from the request headers (HTTP/2 carries the host in the URI's authority
    /// instead of a `Host` header); `tls` says whether this listener is HTTPS.
    #[must_use]
    pub fn from_headers(headers: &HeaderMap, authority: Option<&str>, tls: bool) -> Origin {
        let first = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let scheme = match first("x-forwarded-proto") {
            Some(p) if p.eq_ignore_ascii_case("https") => "https",
            Some(p) if p.eq_ignore_ascii_case("http") => "http",
            _ if tls => "https",
            _ => "http",
        };
        let host = first("x-forwarded-host")
            .or_else(|| first("host"))
            .or(authority)
            .filter(|h| h.bytes().all(|b| b.is_ascii_graphic() && b != b'/'));
        Origin(host.map(|h| format!("{scheme}://{h}")))
    }

    /// `scheme://host` as the client reached us, when known.
    #[must_use]
    pub fn base(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// The host (and port) the client reached, when known.
    #[must_use]
    pub fn host(&self) -> Option<&str> {
        self.0.as_deref().and_then(|b| b.split_once("://")).map(|(_, h)| h)
    }

    /// A `Location` header for `path` (which starts with `/v2/`).
    #[must_use]
    pub fn location(&self, path: &str) -> HeaderValue {
        match &self.0 {
            Some(base) => value(&format!("{base}{path}")),
            None => value(path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_honour_forwarded_proto() {
        let cases: &[(&str, &[(&str, &str)], bool, &str)] = &[
            ("no host: relative", &[], false, "/v2/x"),
            ("host over http", &[("host", "reg:5000")], false, "http://reg:5000/v2/x"),
            ("host over tls", &[("host", "reg:8443")], true, "https://reg:8443/v2/x"),
            ("proxy says https", &[("host", "reg"), ("x-forwarded-proto", "https")], false, "https://reg/v2/x"),
            (
                "proxy host wins",
                &[("host", "inner:5000"), ("x-forwarded-host", "outer"), ("x-forwarded-proto", "https,http")],
                false,
                "https://outer/v2/x",
            ),
            ("bogus proto ignored", &[("host", "reg"), ("x-forwarded-proto", "gopher")], false, "http://reg/v2/x"),
        ];
        for (name, headers, tls, expected) in cases {
            let mut map = HeaderMap::new();
            for (k, v) in *headers {
                map.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
            }
            assert_eq!(Origin::from_headers(&map, None, *tls).location("/v2/x"), *expected, "case {name}");
        }
    }

    #[test]
    fn http2_authority_stands_in_for_host() {
        let o = Origin::from_headers(&HeaderMap::new(), Some("reg:8443"), true);
        assert_eq!(o.location("/v2/x"), "https://reg:8443/v2/x");
        assert_eq!(o.host(), Some("reg:8443"));
    }

    #[test]
    fn upload_ranges() {
        assert_eq!(upload_range(0), "0-0");
        assert_eq!(upload_range(10), "0-9");
    }
}
