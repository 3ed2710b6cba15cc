//! The secure default of `serve` over real TLS on loopback: what a client sees with and without
//! the generated CA, credentials, bad input at the connection level, and certificate reload.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Registry;

fn client_trusting(ca: &std::path::Path) -> reqwest::blocking::ClientBuilder {
    let pem = std::fs::read(ca).expect("read CA");
    let cert = reqwest::Certificate::from_pem(&pem).expect("CA parses");
    reqwest::blocking::Client::builder().tls_certs_only([cert]).timeout(Duration::from_secs(20))
}

#[test]
fn first_start_generates_a_ca_and_an_admin_and_requires_credentials() {
    let reg = Registry::ours_secure();
    assert!(reg.tls, "the default serves HTTPS");
    let password = reg.init_password.clone().expect("init password printed once");
    assert_eq!(password.len(), 32);
    let client = client_trusting(reg.ca.as_ref().expect("CA")).build().expect("client");
    let url = format!("https://localhost:{}/v2/", reg.host.rsplit(':').next().expect("port"));

    let r = client.get(&url).send().expect("request verifies against the generated CA");
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().expect("ascii").to_string();
    assert!(challenge.starts_with("Bearer realm=\"https://localhost:"), "{challenge}");

    let r = client.get(&url).basic_auth("init", Some(&password)).send().expect("request");
    assert_eq!(r.status(), 200, "basic auth on /v2/");
    let r = client.get(&url).basic_auth("init", Some("not-the-password")).send().expect("request");
    assert_eq!(r.status(), 401, "a bad password is refused");

    // Key files and the database are owner-only.
    for f in ["quay-config/ssl.key", "quay-rootCA/rootCA.key", "sqlite-storage/registry.db"] {
        let mode = std::fs::metadata(reg.data_dir.join(f)).expect(f).permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
}

#[test]
fn the_certificate_does_not_verify_for_another_host() {
    let reg = Registry::ours_secure();
    let addr: std::net::SocketAddr = reg.host.parse().expect("addr");
    let client = client_trusting(reg.ca.as_ref().expect("CA")).resolve("wrong.example", addr).build().expect("client");
    let err =
        client.get(format!("https://wrong.example:{}/v2/", addr.port())).send().expect_err("name mismatch must fail");
    let chain = format!("{err:?}");
    assert!(chain.contains("NotValidForName") || chain.to_lowercase().contains("certificate"), "{chain}");
}

#[test]
fn plain_http_on_the_tls_port_is_closed_cleanly_and_the_server_lives_on() {
    let reg = Registry::ours_secure();
    let mut s = TcpStream::connect(&reg.host).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
    let mut buf = Vec::new();
    // The server drops the connection: EOF or a reset, never an HTTP answer or a hang.
    let _ = s.read_to_end(&mut buf);
    assert!(!String::from_utf8_lossy(&buf).contains("HTTP/1.1 200"), "answered plain HTTP: {buf:?}");
    let client = client_trusting(reg.ca.as_ref().expect("CA")).build().expect("client");
    let r = client.get(format!("https://localhost:{}/v2/", addr_port(&reg))).send().expect("server still serves TLS");
    assert_eq!(r.status(), 401);
}

#[test]
fn a_one_megabyte_header_is_refused_and_the_server_lives_on() {
    let reg = Registry::ours();
    let mut s = TcpStream::connect(&reg.host).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let big = "a".repeat(1 << 20);
    let _ = s.write_all(format!("GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").as_bytes());
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 431"), "unexpected answer: {}", &text[..text.len().min(200)]);
    let r = reqwest::blocking::get(format!("{}/v2/", reg.url())).expect("server still answers");
    assert_eq!(r.status(), 200);
}

fn addr_port(reg: &Registry) -> u16 {
    reg.host.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port")
}

/// A blocking rustls connection that trusts `ca`, for checking which certificate is served.
fn tls_connect(
    host: &str,
    server_name: &str,
    ca: &std::path::Path,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from_pem_file(ca).expect("CA")).expect("add CA");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(server_name.to_string()).expect("name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client connection");
    let tcp = TcpStream::connect(host).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    rustls::StreamOwned::new(conn, tcp)
}

fn get_v2(stream: &mut impl ReadWrite) -> String {
    stream.write_all(b"GET /v2/ HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("write");
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).expect("read");
    String::from_utf8_lossy(&buf[..n]).to_string()
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

#[test]
fn sighup_reloads_the_certificate_without_dropping_open_connections() {
    let reg = Registry::ours_secure();
    let ca = reg.ca.clone().expect("CA");
    // A connection opened before the reload.
    let mut before = tls_connect(&reg.host, "localhost", &ca);
    assert!(get_v2(&mut before).starts_with("HTTP/1.1 401"));

    // Replace ssl.cert/ssl.key with a certificate for another name, signed by the same CA.
    let ca_pair = mirror_registry::tls::PemPair {
        cert: std::fs::read_to_string(&ca).expect("CA cert"),
        key: std::fs::read_to_string(reg.data_dir.join("quay-rootCA/rootCA.key")).expect("CA key"),
    };
    let next = mirror_registry::tls::issue_server_cert(&ca_pair, &["reloaded.example".into()]).expect("issue");
    mirror_registry::tls::write_private(&reg.data_dir.join("quay-config/ssl.key"), next.key.as_bytes())
        .expect("write key");
    mirror_registry::tls::write_public(&reg.data_dir.join("quay-config/ssl.cert"), next.cert.as_bytes())
        .expect("write cert");
    reg.signal("HUP");

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut s = tls_connect(&reg.host, "reloaded.example", &ca);
        if s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: reloaded.example\r\n\r\n").is_ok() {
            let mut buf = [0u8; 64];
            if s.read(&mut buf).is_ok_and(|n| n > 0) {
                break;
            }
        }
        assert!(Instant::now() < deadline, "new certificate never served");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The connection made before the reload still works.
    assert!(get_v2(&mut before).starts_with("HTTP/1.1 401"), "open connection dropped by the reload");
}
