//! Which server certificates the client accepts when it checks them: what the system trusts and
//! the CA certificates of `--cert-dir` and `certs.d` (webpki path validation, as before), and
//! also a server certificate the user put there itself.
//!
//! Lab registries often serve a self-signed certificate that is marked as a CA
//! (`basicConstraints: CA:TRUE`, what `openssl req -x509` makes by default). webpki refuses such
//! a certificate as a server's (`CaUsedAsEndEntity`) even when it is the trust anchor itself,
//! while skopeo, podman and curl accept it once trusted. So a server certificate byte-identical
//! to one in the trusted directories is accepted after its name and validity period are checked;
//! the handshake signature is checked for every certificate as usual. Nothing else is relaxed:
//! another certificate from the same key, or one merely signed by it, still needs a valid path.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

/// webpki verification against the system roots and the extra certificates, plus the
/// certificates the user trusts as they are.
#[derive(Debug)]
pub(super) struct TrustedCertificates {
    webpki: rustls_platform_verifier::Verifier,
    /// Every certificate of the trusted directories, DER.
    trusted: Vec<CertificateDer<'static>>,
}

impl TrustedCertificates {
    /// A verifier trusting the system roots and `trusted` (as roots, and as server certificates).
    pub(super) fn new(
        trusted: Vec<CertificateDer<'static>>,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<TrustedCertificates, rustls::Error> {
        let webpki = if trusted.is_empty() {
            rustls_platform_verifier::Verifier::new(provider)?
        } else {
            rustls_platform_verifier::Verifier::new_with_extra_roots(trusted.clone(), provider)?
        };
        Ok(TrustedCertificates { webpki, trusted })
    }
}

impl ServerCertVerifier for TrustedCertificates {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Ok(verified) => Ok(verified),
            Err(_) if self.trusted.iter().any(|c| c.as_ref() == end_entity.as_ref()) => {
                verify_trusted(end_entity, server_name, now)
            }
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// The checks a server certificate the user trusts as it is still gets: it names the server
/// (subject alternative names, as webpki matches them) and `now` is within its validity period.
fn verify_trusted(
    cert: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<ServerCertVerified, rustls::Error> {
    let parsed = rustls::server::ParsedCertificate::try_from(cert)?;
    rustls::client::verify_server_name(&parsed, server_name)?;
    let (_, x509) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let validity = x509.validity();
    if now < validity.not_before.timestamp() {
        return Err(rustls::Error::InvalidCertificate(CertificateError::NotValidYet));
    }
    if now > validity.not_after.timestamp() {
        return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
    }
    Ok(ServerCertVerified::assertion())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(names: &[&str], ca: bool, days: (i64, i64)) -> CertificateDer<'static> {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_string()).collect::<Vec<_>>()).expect("names");
        if ca {
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        }
        // Distinct subjects, so that no certificate looks issued by another.
        params.distinguished_name.push(rcgen::DnType::CommonName, format!("{names:?} ca={ca} {days:?}"));
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(days.0);
        params.not_after = now + time::Duration::days(days.1);
        let key = rcgen::KeyPair::generate().expect("key");
        params.self_signed(&key).expect("certificate").der().clone()
    }

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::aws_lc_rs::default_provider())
    }

    /// A self-signed `CA:TRUE` certificate the user trusts was refused with
    /// `CaUsedAsEndEntity`.
    #[test]
    fn a_trusted_server_certificate_is_accepted_as_it_is_with_its_name_and_dates_checked() {
        let lab = self_signed(&["127.0.0.1", "registry.lab"], true, (-1, 30));
        let expired = self_signed(&["127.0.0.1"], true, (-30, -1));
        let other = self_signed(&["127.0.0.1"], true, (-1, 30));
        let other_leaf = self_signed(&["127.0.0.1"], false, (-1, 30));
        let verifier = TrustedCertificates::new(vec![lab.clone(), expired.clone()], provider()).expect("verifier");
        let name = |n: &str| ServerName::try_from(n.to_string()).expect("server name");
        let cases: Vec<(&str, &CertificateDer<'static>, &str, Result<(), &str>)> = vec![
            ("trusted, by IP", &lab, "127.0.0.1", Ok(())),
            ("trusted, by DNS name", &lab, "registry.lab", Ok(())),
            ("trusted, another name", &lab, "other.lab", Err("NotValidForName")),
            ("trusted, expired", &expired, "127.0.0.1", Err("Expired")),
            // webpki's verdicts stand for every certificate the user did not put in the directories.
            ("not trusted, CA:TRUE", &other, "127.0.0.1", Err("CaUsedAsEndEntity")),
            ("not trusted", &other_leaf, "127.0.0.1", Err("UnknownIssuer")),
        ];
        for (case, cert, server, expected) in cases {
            let got = verifier.verify_server_cert(cert, &[], &name(server), &[], UnixTime::now());
            match (got, expected) {
                (Ok(_), Ok(())) => {}
                (Err(e), Err(want)) => assert!(format!("{e:?}").contains(want), "case {case}: {e:?}"),
                (got, _) => panic!("case {case}: {got:?}"),
            }
        }
    }
}
