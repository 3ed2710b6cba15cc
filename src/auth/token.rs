//! Bearer tokens: compact JWTs signed with HMAC-SHA256 under a key only this registry holds.
//!
//! Access tokens carry the granted `access` list and expire after the configured TTL; refresh
//! tokens (OAuth2 `refresh_token` grant, `docker login`'s identity token) carry no access and
//! only let their subject ask for new access tokens.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};

use super::scope::Grant;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The issuer written into every token.
pub const ISSUER: &str = "mirror-registry";

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user name, or empty for anonymous.
    pub sub: String,
    /// Audience: the `service` it was requested for.
    pub aud: String,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Not before (Unix seconds).
    pub nbf: i64,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Unique id.
    pub jti: String,
    /// Granted access (empty for refresh tokens).
    #[serde(default)]
    pub access: Vec<Grant>,
    /// `access` or `refresh`.
    #[serde(default = "access_kind")]
    pub kind: String,
    /// The account's id (0 for anonymous). Tokens issued before ids were bound have none and
    /// are refused for accounts.
    #[serde(default)]
    pub uid: i64,
    /// The account's credential generation when the token was issued.
    #[serde(default, rename = "gen")]
    pub generation: i64,
}

fn access_kind() -> String {
    "access".into()
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts with JSON inside.
    #[error("malformed token")]
    Malformed,
    /// The signature is not ours.
    #[error("token signature invalid")]
    Signature,
    /// Past `exp` (or before `nbf`).
    #[error("token expired")]
    Expired,
    /// A refresh token used as an access token or the other way round.
    #[error("wrong kind of token")]
    Kind,
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length.
    <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
}

/// Signs claims into a compact JWT.
#[must_use]
pub fn sign(key: &[u8], claims: &Claims) -> String {
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    let signing_input = format!("{}.{}", B64.encode(HEADER), B64.encode(payload));
    let mut m = mac(key);
    m.update(signing_input.as_bytes());
    format!("{signing_input}.{}", B64.encode(m.finalize().into_bytes()))
}

/// Verifies signature, time window and kind, returning the claims.
///
/// # Errors
/// [`TokenError`].
pub fn verify(key: &[u8], token: &str, kind: &str, now: i64) -> Result<Claims, TokenError> {
    let mut parts = token.trim().splitn(3, '.');
    let (Some(h), Some(p), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed);
    };
    let sig = B64.decode(s).map_err(|_| TokenError::Malformed)?;
    let mut m = mac(key);
    m.update(format!("{h}.{p}").as_bytes());
    m.verify_slice(&sig).map_err(|_| TokenError::Signature)?;
    let header: serde_json::Value = serde_json::from_slice(&B64.decode(h).map_err(|_| TokenError::Malformed)?)
        .map_err(|_| TokenError::Malformed)?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(TokenError::Malformed);
    }
    let claims: Claims = serde_json::from_slice(&B64.decode(p).map_err(|_| TokenError::Malformed)?)
        .map_err(|_| TokenError::Malformed)?;
    if claims.exp <= now || claims.nbf > now + 60 {
        return Err(TokenError::Expired);
    }
    if claims.kind != kind || claims.iss != ISSUER {
        return Err(TokenError::Kind);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64, kind: &str) -> Claims {
        Claims {
            iss: ISSUER.into(),
            sub: "init".into(),
            aud: "reg".into(),
            exp,
            nbf: 0,
            iat: 0,
            jti: "1".into(),
            access: vec![Grant { kind: "repository".into(), name: "a".into(), actions: vec!["pull".into()] }],
            kind: kind.into(),
            uid: 7,
            generation: 2,
        }
    }

    #[test]
    fn round_trip_and_refusals() {
        let key = b"k1";
        let t = sign(key, &claims(100, "access"));
        assert_eq!(verify(key, &t, "access", 50), Ok(claims(100, "access")));
        assert_eq!(verify(key, &t, "access", 100), Err(TokenError::Expired));
        assert_eq!(verify(b"another key", &t, "access", 50), Err(TokenError::Signature));
        assert_eq!(verify(key, &t, "refresh", 50), Err(TokenError::Kind));
        assert_eq!(verify(key, "a.b", "access", 50), Err(TokenError::Malformed));
        assert_eq!(verify(key, "garbage", "access", 50), Err(TokenError::Malformed));
        // Tampering with the claims (granting push) breaks the signature.
        let (h, rest) = t.split_once('.').expect("parts");
        let (_, s) = rest.split_once('.').expect("parts");
        let mut forged = claims(100, "access");
        forged.access[0].actions.push("push".into());
        let p = B64.encode(serde_json::to_vec(&forged).expect("json"));
        assert_eq!(verify(key, &format!("{h}.{p}.{s}"), "access", 50), Err(TokenError::Signature));
    }
}
