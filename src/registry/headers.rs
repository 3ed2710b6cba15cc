//! The headers clients depend on, each built in one place.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use std::net::IpAddr;

use crate::ip_range::IpRange;
use crate::reference::image::is_valid_host;
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

/// An RFC 9110 `quoted-string` of `s` (`"` and `\\` escaped, control characters dropped), for
/// parameters of `WWW-Authenticate`.
#[must_use]
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
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

/// How the registry names itself to clients: the configured public host, and the reverse
/// proxies whose `X-Forwarded-*` headers are believed. Anyone else's forwarded headers are
/// ignored, so a client cannot point token realms or `Location`s at another host.
#[derive(Debug, Clone, Default)]
pub struct Frontend {
    /// `host[:port]` from `http.public_host`.
    pub public_host: Option<String>,
    /// `http.trusted_proxies`.
    pub trusted_proxies: Vec<IpRange>,
}

impl Frontend {
    /// The `http:` section's view of it.
    #[must_use]
    pub fn from_config(http: &crate::config::Http) -> Frontend {
        Frontend { public_host: http.public_host.clone(), trusted_proxies: http.trusted_proxies.clone() }
    }
}

/// Where the client reached us, for absolute `Location` headers and the token realm: the
/// configured public host, else `X-Forwarded-Host` from a trusted proxy, else `Host` (or the
/// HTTP/2 authority) when it is a valid `host[:port]`. The scheme is `X-Forwarded-Proto` from a
/// trusted proxy, else the listener's. Without a host the `Location` stays relative, which the
/// spec allows.
#[derive(Debug, Clone)]
pub struct Origin(Option<String>);

impl Origin {
    /// Reads the origin of a request from `peer`; `tls` says whether this listener is HTTPS.
    #[must_use]
    pub fn from_request(
        headers: &HeaderMap,
        authority: Option<&str>,
        tls: bool,
        peer: IpAddr,
        frontend: &Frontend,
    ) -> Origin {
        let first = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let proxied = frontend.trusted_proxies.iter().any(|r| r.contains(peer));
        let forwarded = |name: &str| if proxied { first(name) } else { None };
        let scheme = match forwarded("x-forwarded-proto") {
            Some(p) if p.eq_ignore_ascii_case("https") => "https",
            Some(p) if p.eq_ignore_ascii_case("http") => "http",
            _ if tls => "https",
            _ => "http",
        };
        let host = frontend.public_host.as_deref().or_else(|| {
            [forwarded("x-forwarded-host"), first("host"), authority].into_iter().flatten().find(|h| is_valid_host(h))
        });
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

    const PROXY: &str = "10.0.0.5";
    const CLIENT: &str = "192.0.2.7";

    fn origin(headers: &[(&str, &str)], tls: bool, peer: &str, public_host: Option<&str>) -> Origin {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(HeaderName::from_bytes(k.as_bytes()).expect("name"), HeaderValue::from_str(v).expect("value"));
        }
        let frontend = Frontend {
            public_host: public_host.map(str::to_string),
            trusted_proxies: vec![PROXY.parse().expect("range")],
        };
        Origin::from_request(&map, None, tls, peer.parse().expect("ip"), &frontend)
    }

    #[test]
    fn locations_honour_forwarded_headers_only_from_trusted_proxies() {
        let cases: &[(&str, &[(&str, &str)], bool, &str, Option<&str>, &str)] = &[
            ("no host: relative", &[], false, CLIENT, None, "/v2/x"),
            ("host over http", &[("host", "reg:5000")], false, CLIENT, None, "http://reg:5000/v2/x"),
            ("host over tls", &[("host", "reg:8443")], true, CLIENT, None, "https://reg:8443/v2/x"),
            (
                "proxy says https",
                &[("host", "reg"), ("x-forwarded-proto", "https")],
                false,
                PROXY,
                None,
                "https://reg/v2/x",
            ),
            (
                "proxy host wins",
                &[("host", "inner:5000"), ("x-forwarded-host", "outer"), ("x-forwarded-proto", "https,http")],
                false,
                PROXY,
                None,
                "https://outer/v2/x",
            ),
            (
                "a client's forwarded headers are ignored",
                &[("host", "reg:5000"), ("x-forwarded-host", "evil.example"), ("x-forwarded-proto", "https")],
                false,
                CLIENT,
                None,
                "http://reg:5000/v2/x",
            ),
            (
                "bogus proto ignored",
                &[("host", "reg"), ("x-forwarded-proto", "gopher")],
                false,
                PROXY,
                None,
                "http://reg/v2/x",
            ),
            ("quote in host refused", &[("host", "a\"b")], true, CLIENT, None, "/v2/x"),
            ("path in host refused", &[("host", "a/b")], true, CLIENT, None, "/v2/x"),
            (
                "configured host wins over everything",
                &[("host", "other:1"), ("x-forwarded-host", "outer")],
                true,
                PROXY,
                Some("registry.example:8443"),
                "https://registry.example:8443/v2/x",
            ),
        ];
        for (name, headers, tls, peer, public, expected) in cases {
            assert_eq!(origin(headers, *tls, peer, *public).location("/v2/x"), *expected, "case {name}");
        }
    }

    #[test]
    fn http2_authority_stands_in_for_host() {
        let o = Origin::from_request(
            &HeaderMap::new(),
            Some("reg:8443"),
            true,
            CLIENT.parse().expect("ip"),
            &Frontend::default(),
        );
        assert_eq!(o.location("/v2/x"), "https://reg:8443/v2/x");
        assert_eq!(o.host(), Some("reg:8443"));
    }

    #[test]
    fn quoted_strings_escape_quotes_and_backslashes() {
        assert_eq!(quoted("https://reg/v2/auth"), "\"https://reg/v2/auth\"");
        assert_eq!(quoted("a\"b\\c\r\n"), "\"a\\\"b\\\\c\"");
    }

    #[test]
    fn upload_ranges() {
        assert_eq!(upload_range(0), "0-0");
        assert_eq!(upload_range(10), "0-9");
    }
}
