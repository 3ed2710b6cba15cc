//! The headless-browser driver (`common::browser`) against a small site served on loopback:
//! forms and links, cookie flags, dialogs, console errors (CSP violations included), screenshots,
//! and HTTPS with a self-signed certificate.

mod common;

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Form;
use axum::http::{StatusCode, header};
use axum::response::{AppendHeaders, Html, IntoResponse};
use axum::routing::{get, post};
use common::browser::{Browser, VIEWPORT};
use serde_json::{Value, json};

const FORM_PAGE: &str = r#"<!doctype html><title>Form</title>
<form id="greet" method="post" action="/submit">
  <input id="name" name="name" required><button id="send">Send</button>
</form>
<a id="next" href="/next">Next</a>"#;

const CONFIRM_PAGE: &str = r#"<!doctype html><title>Confirm</title>
<button id="delete" onclick="document.getElementById('answer').textContent = confirm('Delete it?') ? 'yes' : 'no'">Delete</button>
<p id="answer">none</p>"#;

const CSP_PAGE: &str = "<!doctype html><title>CSP</title><script>document.title = 'inline ran'</script>";

const ERRORS_PAGE: &str = r#"<!doctype html><title>Errors</title><link rel="icon" href="/favicon.ico">
<script>console.error('custom failure', 42)</script>
<script>throw new Error('boom')</script>
<img src="/missing.png">"#;

const TALL_PAGE: &str = r#"<!doctype html><title>Tall</title><body style="margin:0"><div style="height:3000px;background:linear-gradient(red,blue)"></div>"#;

const LATE_PAGE: &str = r#"<!doctype html><title>Late</title><p id="status">waiting</p>
<script>setTimeout(() => { document.getElementById('status').textContent = 'ready' }, 300)</script>"#;

/// The test site: each page exercises one part of the driver.
fn site() -> Router {
    Router::new()
        .route("/", get(|| async { Html(FORM_PAGE) }))
        .route("/submit", post(greet))
        .route("/next", get(|| async { Html("<!doctype html><title>Next</title><h1>Next page</h1>") }))
        .route(
            "/cookie",
            get(|| async {
                set_cookies(["session=s3cr3t; HttpOnly; SameSite=Strict; Path=/", "theme=dark; Max-Age=3600; Path=/"])
            }),
        )
        .route("/secure-cookie", get(|| async { set_cookies(["token=t0k3n; Secure; HttpOnly; SameSite=Lax; Path=/"]) }))
        .route("/confirm", get(|| async { Html(CONFIRM_PAGE) }))
        .route("/csp", get(|| async { ([(header::CONTENT_SECURITY_POLICY, "script-src 'self'")], Html(CSP_PAGE)) }))
        .route("/errors", get(|| async { Html(ERRORS_PAGE) }))
        .route(
            "/gone",
            get(|| async { (StatusCode::NOT_FOUND, Html("<!doctype html><title>Gone</title><p>gone</p>")) }),
        )
        .route("/tall", get(|| async { Html(TALL_PAGE) }))
        .route("/late", get(|| async { Html(LATE_PAGE) }))
}

async fn greet(Form(form): Form<HashMap<String, String>>) -> Html<String> {
    let name = form.get("name").map_or("", String::as_str);
    Html(format!("<!doctype html><title>Submitted</title><p id=\"greeting\">Hello, {name}</p>"))
}

fn set_cookies<const N: usize>(cookies: [&'static str; N]) -> impl IntoResponse {
    (AppendHeaders(cookies.map(|cookie| (header::SET_COOKIE, cookie))), Html("<!doctype html><title>Cookie</title>"))
}

/// Serves `app` over plain HTTP on `127.0.0.1:0` from a runtime on its own thread; returns the
/// base URL.
fn serve(app: Router) -> String {
    let address = on_loopback(|listener| async move {
        axum::serve(listener, app).await.expect("serve the test site");
    });
    format!("http://{address}")
}

/// Serves `app` over HTTPS with a fresh self-signed certificate for 127.0.0.1; returns the base
/// URL.
fn serve_tls(app: Router) -> String {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("self-signed cert");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .expect("TLS server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let address = on_loopback(|listener| async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    format!("https://{address}")
}

/// Binds `127.0.0.1:0` and runs `serve` on it in a runtime on its own thread; returns the address.
fn on_loopback<F, Fut>(serve: F) -> std::net::SocketAddr
where
    F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.set_nonblocking(true).expect("non-blocking listener");
    let address = listener.local_addr().expect("bound address");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            serve(listener).await;
        });
    });
    address
}

/// A browser and the test site over plain HTTP, or `None` when chromium is missing outside CI.
fn start() -> Option<(Browser, String)> {
    let browser = Browser::launch()?;
    Some((browser, serve(site())))
}

/// The message of the panic `action` raises.
fn panic_message(action: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(action)).expect_err("the call panics");
    payload.downcast_ref::<String>().cloned().expect("a formatted panic message")
}

/// Width and height from a PNG's IHDR chunk, after checking the PNG signature.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).expect("read the screenshot");
    assert_eq!(bytes[..8], *b"\x89PNG\r\n\x1a\n", "{} is not a PNG", path.display());
    assert_eq!(&bytes[12..16], b"IHDR", "{} starts without its IHDR chunk", path.display());
    let be_u32 = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("four bytes"));
    (be_u32(16), be_u32(20))
}

#[test]
fn forms_submit_and_links_navigate() {
    let Some((mut browser, base)) = start() else { return };
    browser.navigate(&format!("{base}/"));
    assert_eq!(browser.title(), "Form");
    assert!(browser.exists("#greet") && !browser.exists("#nothing-here"));

    browser.fill("#name", "Ada Lovelace");
    browser.submit("#greet");
    assert_eq!((browser.url(), browser.text("#greeting")), (format!("{base}/submit"), "Hello, Ada Lovelace".into()));

    browser.navigate(&format!("{base}/"));
    browser.fill("#name", "Grace Hopper");
    browser.click_and_wait("#send");
    assert_eq!(browser.text("#greeting"), "Hello, Grace Hopper");

    browser.navigate(&format!("{base}/"));
    browser.click_and_wait("#next");
    assert_eq!((browser.url(), browser.title()), (format!("{base}/next"), "Next".into()));

    browser.eval("location.assign('/')");
    browser.wait_for_navigation();
    assert_eq!(browser.title(), "Form", "a navigation started by script is waited for too");
}

#[test]
fn cookies_keep_the_flags_the_server_set() {
    let Some((mut browser, base)) = start() else { return };
    browser.navigate(&format!("{base}/cookie"));

    let session = browser.cookie("session").expect("the session cookie is stored");
    assert_eq!((session.value.as_str(), session.domain.as_str(), session.path.as_str()), ("s3cr3t", "127.0.0.1", "/"));
    assert!(session.http_only && !session.secure, "{session:?}");
    assert_eq!((session.same_site.as_deref(), session.expires), (Some("Strict"), None), "{session:?}");

    let theme = browser.cookie("theme").expect("the theme cookie is stored");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970");
    assert!(!theme.http_only && theme.same_site.is_none(), "{theme:?}");
    assert!(theme.expires.is_some_and(|at| at > now.as_secs_f64() + 3000.0), "Max-Age=3600: {theme:?}");

    assert_eq!(browser.cookies().len(), 2);
    assert_eq!(browser.eval("document.cookie"), "theme=dark", "HttpOnly hides the session from scripts");
}

#[test]
fn confirm_dialogs_are_accepted_or_dismissed() {
    let Some((mut browser, base)) = start() else { return };
    browser.navigate(&format!("{base}/confirm"));
    browser.click("#delete");
    assert_eq!(browser.text("#answer"), "yes");

    browser.set_accept_dialogs(false);
    browser.click("#delete");
    assert_eq!(browser.text("#answer"), "no");
    assert_eq!(browser.dialogs(), ["Delete it?", "Delete it?"]);
}

#[test]
fn csp_violations_are_console_errors() {
    let Some((mut browser, base)) = start() else { return };
    browser.navigate(&format!("{base}/next"));
    assert_eq!(browser.console_errors(), Vec::<String>::new(), "a clean page reports nothing");

    browser.navigate(&format!("{base}/csp"));
    assert_eq!(browser.title(), "CSP", "the inline script was blocked");
    let errors = browser.console_errors();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].starts_with("security: Executing inline script violates"), "{errors:#?}");
    assert!(errors[0].contains("Content Security Policy directive 'script-src 'self''"), "{errors:#?}");
}

#[test]
fn console_errors_collect_logged_errors_exceptions_and_failed_loads() {
    let Some((mut browser, base)) = start() else { return };
    browser.navigate(&format!("{base}/errors"));
    let errors = browser.console_errors();
    assert!(errors.contains(&"console.error: custom failure 42".to_string()), "{errors:#?}");
    assert!(errors.iter().any(|e| e.starts_with("exception: Uncaught Error: boom")), "{errors:#?}");
    let missing = format!(
        "network: Failed to load resource: the server responded with a status of 404 (Not Found) ({base}/missing.png)"
    );
    assert!(errors.contains(&missing), "{errors:#?}");
    assert_eq!(errors.len(), 3, "the missing favicon is not an error: {errors:#?}");

    // A 4xx page with a body loads like any other, and its status is reported as a failed load.
    browser.navigate(&format!("{base}/gone"));
    assert_eq!(browser.text("p"), "gone");
    let errors = browser.console_errors();
    assert!(errors[3].ends_with(&format!("404 (Not Found) ({base}/gone)")), "{errors:#?}");
}

#[test]
fn eval_returns_json_and_failures_panic_with_what_went_wrong() {
    let Some((mut browser, base)) = start() else { return };
    browser.navigate(&format!("{base}/late"));
    assert_eq!(browser.eval("({ sum: 1 + 1, list: ['a', null] })"), json!({ "sum": 2, "list": ["a", null] }));
    assert_eq!(browser.eval("new Promise(done => setTimeout(() => done('later'), 10))"), "later");
    assert_eq!(browser.eval("undefined"), Value::Null);

    browser.wait_for("document.getElementById('status').textContent === 'ready'", Duration::from_secs(10));
    assert_eq!(browser.text("#status"), "ready");

    let message = panic_message(|| drop(browser.eval("throw new Error('boom')")));
    assert!(message.contains("Uncaught Error: boom"), "{message}");
    let message = panic_message(|| browser.click("#nothing-here"));
    assert!(message.starts_with("click `#nothing-here`: ") && message.contains("no element matches"), "{message}");
    let message = panic_message(|| browser.wait_for("false", Duration::from_millis(200)));
    assert!(message.contains("`false` did not hold within 200ms"), "{message}");
    assert_eq!(browser.title(), "Late", "the browser still answers after those panics");
}

#[test]
fn screenshots_are_png_files_of_the_viewport_or_the_whole_page() {
    let Some((mut browser, base)) = start() else { return };
    browser.navigate(&format!("{base}/tall"));
    let dir = tempfile::tempdir().expect("temp dir");
    let viewport = dir.path().join("shots/nested/viewport.png");
    browser.screenshot(&viewport);
    assert_eq!(png_size(&viewport), VIEWPORT);

    let full = dir.path().join("shots/full.png");
    browser.screenshot_full_page(&full);
    assert_eq!(png_size(&full), (VIEWPORT.0, 3000));
}

#[test]
fn https_with_a_self_signed_certificate() {
    let Some(mut browser) = Browser::launch() else { return };
    let base = serve_tls(site());
    browser.navigate(&format!("{base}/secure-cookie"));
    assert_eq!(browser.eval("window.isSecureContext && location.protocol"), "https:");
    let token = browser.cookie("token").expect("the Secure cookie is stored over HTTPS");
    assert!(token.secure && token.http_only && token.same_site.as_deref() == Some("Lax"), "{token:?}");
    assert_eq!(browser.console_errors(), Vec::<String>::new());
}

#[test]
fn dropping_the_browser_kills_chromium_and_removes_its_profile() {
    let Some(browser) = Browser::launch() else { return };
    let profile = browser.profile_dir().to_path_buf();
    let user_data_dir = format!("--user-data-dir={}", profile.join("profile").display());
    assert!(!chromium_processes(&user_data_dir).is_empty(), "chromium runs with {user_data_dir}");
    drop(browser);

    assert!(!profile.exists(), "the profile {} is removed", profile.display());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !chromium_processes(&user_data_dir).is_empty() {
        assert!(Instant::now() < deadline, "left running: {:?}", chromium_processes(&user_data_dir));
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Pids of the live processes whose command line holds `argument` (killed ones have none).
fn chromium_processes(argument: &str) -> Vec<String> {
    let entries = std::fs::read_dir("/proc").expect("list /proc");
    let pids = entries.filter_map(|entry| entry.ok()?.file_name().into_string().ok());
    pids.filter(|pid| {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        cmdline.split(|byte| *byte == 0).any(|arg| arg == argument.as_bytes())
    })
    .collect()
}
