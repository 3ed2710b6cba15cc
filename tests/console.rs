//! The web console (`/ui/`) of `serve` over real TLS on loopback: driven in headless Chromium
//! (log in, browse what skopeo pushed, delete a tag, run GC, hand out a robot token that skopeo
//! then pulls with, log out) and by direct HTTP (sessions, CSRF, what a pull-only account may do).
//! Screenshots of the main pages land in `target/console-screenshots/`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::browser::Browser;
use common::{Registry, require_tool};
use reqwest::blocking::{Client, Response};
use reqwest::header;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// GC with no grace period, so what a deletion frees is freed by the next collection.
const CONFIG: &str = "gc: {grace_period: 0s}\n";
const SESSION: &str = "__Host-mirror-registry-session";

/// A registry with TLS and accounts, reached as `https://localhost:PORT` (a name its certificate holds).
struct Site {
    reg: Registry,
    host: String,
    password: String,
    /// A directory holding the registry's CA as `ca.crt`, for skopeo's `--cert-dir`.
    certs: tempfile::TempDir,
}

impl Site {
    fn start() -> Site {
        let reg = Registry::ours_secure_configured(CONFIG);
        let host = format!("localhost:{}", reg.host.rsplit(':').next().expect("port"));
        let password = reg.init_password.clone().expect("init password");
        let certs = tempfile::tempdir().expect("temp dir");
        std::fs::copy(reg.ca.as_ref().expect("CA"), certs.path().join("ca.crt")).expect("copy CA");
        Site { reg, host, password, certs }
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.host)
    }

    /// An HTTP client that trusts the registry's CA and shows redirects instead of following them.
    fn http(&self) -> Client {
        let pem = std::fs::read(self.reg.ca.as_ref().expect("CA")).expect("read CA");
        Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&pem).expect("CA parses")])
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client")
    }

    /// Runs skopeo with verified TLS; returns its output.
    fn skopeo(&self, args: &[&str]) -> std::process::Output {
        let cert_dir = self.certs.path().to_str().expect("utf-8");
        let mut command = Command::new("skopeo");
        command.arg("--override-arch=amd64").args(args);
        match args.first() {
            Some(&"copy") => command.args(["--src-cert-dir", cert_dir, "--dest-cert-dir", cert_dir]),
            _ => command.args(["--cert-dir", cert_dir]),
        };
        command.output().expect("run skopeo")
    }
}

/// A session opened over HTTP: its cookie and its CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

fn login(site: &Site, http: &Client, user: &str, password: &str) -> Session {
    let r = http
        .post(site.url("/ui/login"))
        .header(header::ORIGIN, site.url(""))
        .form(&[("user", user), ("password", password)])
        .send()
        .expect("POST /ui/login");
    assert_eq!(r.status(), 303, "login of {user}");
    let set = r.headers()[header::SET_COOKIE].to_str().expect("ascii").to_string();
    let cookie = set.split(';').next().expect("name=value").to_string();
    assert!(cookie.starts_with(&format!("{SESSION}=")), "{set}");
    let page = get(http, &site.url("/ui/"), &cookie).text().expect("body");
    Session { cookie, csrf: csrf_of(&page) }
}

/// The CSRF token a page's forms carry.
fn csrf_of(page: &str) -> String {
    let start = page.find(r#"name="csrf" value=""#).expect("a form with a CSRF token") + r#"name="csrf" value=""#.len();
    page[start..].split('"').next().expect("token").to_string()
}

fn get(http: &Client, url: &str, cookie: &str) -> Response {
    http.get(url).header(header::COOKIE, cookie).send().unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

fn post(site: &Site, http: &Client, path: &str, cookie: &str, form: &[(&str, &str)]) -> Response {
    http.post(site.url(path))
        .header(header::COOKIE, cookie)
        .header(header::ORIGIN, site.url(""))
        .form(form)
        .send()
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

/// Pushes, with umoci and skopeo, an image of one incompressible layer of `layer_len` bytes made
/// from `seed`, under each of `tags` of `repo`.
fn push_image(site: &Site, tmp: &Path, repo: &str, tags: &[&str], seed: u64, layer_len: usize) {
    let layout = tmp.join(format!("layout-{seed}"));
    let image = format!("{}:img", layout.display());
    let run = |program: &str, args: &[&str]| {
        let out = Command::new(program).args(args).current_dir(tmp).output().expect(program);
        assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run("umoci", &["init", "--layout", layout.to_str().expect("utf-8")]);
    run("umoci", &["new", "--image", &image]);
    let bundle = tmp.join(format!("bundle-{seed}"));
    run("umoci", &["unpack", "--rootless", "--image", &image, bundle.to_str().expect("utf-8")]);
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005) | 1;
    let data: Vec<u8> = (0..layer_len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    std::fs::write(bundle.join("rootfs/data.bin"), data).expect("write layer file");
    run("umoci", &["repack", "--image", &image, bundle.to_str().expect("utf-8")]);
    run("umoci", &["config", "--image", &image, "--architecture", "amd64", "--os", "linux"]);
    let creds = format!("init:{}", site.password);
    for tag in tags {
        let dest = format!("docker://{}/{repo}:{tag}", site.host);
        let out = site.skopeo(&["copy", "--dest-creds", &creds, &format!("oci:{image}"), &dest]);
        assert!(out.status.success(), "push {dest}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Pushes `data` as a blob of `repo` over the API; returns its descriptor.
fn put_blob(site: &Site, http: &Client, repo: &str, media_type: &str, data: &[u8]) -> Value {
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(data)));
    let r = http
        .post(site.url(&format!("/v2/{repo}/blobs/uploads/")))
        .basic_auth("init", Some(&site.password))
        .send()
        .expect("start upload");
    assert_eq!(r.status(), 202, "start upload");
    let location = r.headers()[header::LOCATION].to_str().expect("ascii").to_string();
    let location = if location.starts_with('/') { site.url(&location) } else { location };
    let separator = if location.contains('?') { '&' } else { '?' };
    let r = http
        .put(format!("{location}{separator}digest={digest}"))
        .basic_auth("init", Some(&site.password))
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(data.to_vec())
        .send()
        .expect("finish upload");
    assert_eq!(r.status(), 201, "finish upload of {digest}");
    json!({"mediaType": media_type, "digest": digest, "size": data.len()})
}

/// Pushes a manifest over the API under `tag`, or by digest without one; returns its descriptor.
fn put_manifest(site: &Site, http: &Client, repo: &str, tag: Option<&str>, manifest: &Value) -> Value {
    let body = serde_json::to_vec(manifest).expect("json");
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&body)));
    let reference = tag.unwrap_or(&digest);
    let media_type = manifest["mediaType"].as_str().expect("mediaType");
    let r = http
        .put(site.url(&format!("/v2/{repo}/manifests/{reference}")))
        .basic_auth("init", Some(&site.password))
        .header(header::CONTENT_TYPE, media_type)
        .body(body.clone())
        .send()
        .expect("put manifest");
    assert_eq!(r.status(), 201, "put {repo}:{reference}");
    json!({"mediaType": media_type, "digest": digest, "size": body.len()})
}

/// Pushes over the API an index of an amd64 and an arm64 image as `repo:tag`.
fn push_index(site: &Site, repo: &str, tag: &str) {
    let http = site.http();
    let mut children = Vec::new();
    for arch in ["amd64", "arm64"] {
        let config = json!({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}});
        let config =
            put_blob(site, &http, repo, "application/vnd.oci.image.config.v1+json", config.to_string().as_bytes());
        let layer = put_blob(site, &http, repo, "application/vnd.oci.image.layer.v1.tar", arch.repeat(512).as_bytes());
        let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": config, "layers": [layer]});
        let mut child = put_manifest(site, &http, repo, None, &manifest);
        child["platform"] = json!({"architecture": arch, "os": "linux"});
        children.push(child);
    }
    let index =
        json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": children});
    put_manifest(site, &http, repo, Some(tag), &index);
}

/// Pushes over the API an SBOM artifact whose subject is `repo:tag`, without a tag of its own.
fn push_sbom(site: &Site, repo: &str, tag: &str) {
    let http = site.http();
    let r = http
        .head(site.url(&format!("/v2/{repo}/manifests/{tag}")))
        .basic_auth("init", Some(&site.password))
        .header(header::ACCEPT, "application/vnd.oci.image.manifest.v1+json")
        .send()
        .expect("head");
    let subject = json!({
        "mediaType": r.headers()[header::CONTENT_TYPE].to_str().expect("ascii"),
        "digest": r.headers()["docker-content-digest"].to_str().expect("ascii"),
        "size": r.headers()[header::CONTENT_LENGTH].to_str().expect("ascii").parse::<u64>().expect("size"),
    });
    let empty = put_blob(site, &http, repo, "application/vnd.oci.empty.v1+json", b"{}");
    let sbom = put_blob(site, &http, repo, "application/spdx+json", br#"{"spdxVersion": "SPDX-2.3"}"#);
    let manifest = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/spdx+json", "config": empty, "layers": [sbom], "subject": subject,
    });
    put_manifest(site, &http, repo, None, &manifest);
}

fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("../console-screenshots")
}

fn tools() -> bool {
    require_tool("skopeo") && require_tool("umoci")
}

/// Logs in through the form and checks the session cookie's flags.
fn browser_login(site: &Site, b: &mut Browser) {
    b.navigate(&site.url("/"));
    assert!(b.url().ends_with("/ui/login"), "an anonymous visitor lands on the login form: {}", b.url());
    b.screenshot(&screenshots().join("login.png"));
    b.fill("input[name=user]", "init");
    b.fill("input[name=password]", "not-the-password");
    b.submit("form[action='/ui/login']");
    assert!(b.text("main").contains("Invalid user name or password."), "{}", b.text("main"));
    b.fill("input[name=password]", &site.password);
    b.submit("form[action='/ui/login']");
    assert!(b.url().ends_with("/ui/"), "{}", b.url());
    let cookie = b.cookie(SESSION).expect("session cookie");
    assert!(cookie.http_only && cookie.secure, "HttpOnly and Secure: {cookie:?}");
    assert_eq!(cookie.same_site.as_deref(), Some("Strict"));
    assert!(!b.url().contains(&cookie.value), "no session secret in the URL");
}

/// The repository list, the repository page, a copy button, and a manifest page.
fn browse(site: &Site, b: &mut Browser) {
    b.navigate(&site.url("/ui/?q=web"));
    let list = b.text("main");
    assert!(list.contains("apps/") && list.contains("web") && !list.contains("tools"), "{list}");
    b.click_and_wait("a.repo");
    b.screenshot_full_page(&screenshots().join("repository.png"));
    let page = b.text("table.manifests");
    for tag in ["v1", "latest", "v2"] {
        assert!(page.contains(tag), "tag {tag} listed: {page}");
    }
    assert!(page.contains("KiB"), "sizes listed: {page}");
    let expected = format!("podman pull {}/apps/web:v1", site.host);
    assert!(b.exists(&format!("button.copy[data-copy='{expected}']")), "a copy button for {expected}");
    b.click("td.pull button.copy");
    b.wait_for("document.querySelector('td.pull button.copy').dataset.copied === 'true'", Duration::from_secs(5));

    b.navigate(&site.url("/ui/repo?name=apps/multi"));
    let multi = b.text("table.manifests");
    assert!(multi.contains("linux/amd64, linux/arm64"), "an index lists its platforms: {multi}");
    b.click_and_wait("a.digest");
    assert!(b.text("main").contains("Platforms (2)"), "{}", b.text("main"));

    b.navigate(&site.url("/ui/repo?name=apps/web"));
    b.eval("[...document.querySelectorAll('tr')].find(r => r.textContent.includes('v1')).querySelector('a.digest').click()");
    b.wait_for("location.pathname === '/ui/manifest'", Duration::from_secs(10));
    b.wait_for("document.readyState === 'complete'", Duration::from_secs(10));
    let referrers = b.text("main");
    assert!(
        referrers.contains("Referrers (1)") && b.text("table.referrers").contains("application/spdx+json"),
        "the SBOM is under its subject: {referrers}"
    );

    b.navigate(&site.url("/ui/repo?name=apps/web"));
    b.eval("[...document.querySelectorAll('tr')].find(r => r.textContent.includes('v2')).querySelector('a.digest').click()");
    b.wait_for("location.pathname === '/ui/manifest'", Duration::from_secs(10));
    b.wait_for("document.readyState === 'complete'", Duration::from_secs(10));
    b.screenshot_full_page(&screenshots().join("manifest.png"));
    let manifest = b.text("main");
    assert!(manifest.contains("Layers (1"), "{manifest}");
    assert!(manifest.contains("amd64"), "config summary: {manifest}");
    assert!(b.text("pre.json").contains("\"schemaVersion\": 2"), "pretty JSON");
}

/// Deletes `v2` and its manifest through the confirmation page; returns what GC then frees.
fn delete_v2(site: &Site, b: &mut Browser) {
    b.navigate(&site.url("/ui/delete?repo=apps/web&reference=v2"));
    let confirm = b.text("main");
    assert!(confirm.contains("v2") && confirm.contains("KiB"), "names what goes and what GC frees: {confirm}");
    b.screenshot(&screenshots().join("delete.png"));
    b.click("input[name=also_manifest]");
    b.submit("form.confirm");
    assert!(b.url().contains("/ui/repo?"), "{}", b.url());
    assert!(b.text(".notice").contains("v2"), "{}", b.text("main"));
    let tags = b.text("table.manifests");
    assert!(tags.contains("v1") && !tags.contains("v2"), "{tags}");
    let out = site.skopeo(&[
        "inspect",
        "--creds",
        &format!("init:{}", site.password),
        &format!("docker://{}/apps/web:v2", site.host),
    ]);
    assert!(!out.status.success(), "v2 is gone from the API too");
}

/// The dry run names what a collection frees; running it frees that much.
fn collect(site: &Site, b: &mut Browser) {
    b.navigate(&site.url("/ui/admin/gc"));
    let would = b.text("strong.would-free");
    assert!(would.contains("KiB") && !would.starts_with("0 "), "the dry run shows the deleted layer: {would}");
    b.submit("form[action='/ui/admin/gc']");
    let freed = b.text("strong.freed");
    assert_eq!(freed, would, "GC freed what the dry run said");
    b.navigate(&site.url("/ui/admin"));
    assert!(b.text("table.gc").contains(&freed), "the run is in the history: {}", b.text("table.gc"));
}

/// Creates a pull robot in the admin page; returns its token, checked against its auth.json.
fn create_robot(site: &Site, b: &mut Browser) -> String {
    b.fill("form[action='/ui/admin/robot'] input[name=name]", "puller");
    b.submit("form[action='/ui/admin/robot']");
    let shown = b.eval("[...document.querySelectorAll('.notice .copy-line code')].map(c => c.textContent)");
    let shown: Vec<String> = serde_json::from_value(shown).expect("strings");
    assert_eq!(shown.len(), 2, "token and auth.json: {shown:?}");
    let auth: serde_json::Value = serde_json::from_str(&shown[1]).expect("auth.json parses");
    let encoded = auth["auths"][&site.host]["auth"].as_str().expect("auth for this host");
    let decoded = base64_decode(encoded);
    assert_eq!(decoded, format!("puller:{}", shown[0]), "auth.json holds the token");
    b.screenshot_full_page(&screenshots().join("admin.png"));
    b.navigate(&site.url("/ui/admin"));
    assert!(!b.text("main").contains(&shown[0]), "the token is shown once");
    shown[0].clone()
}

fn base64_decode(s: &str) -> String {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).expect("base64");
    String::from_utf8(bytes).expect("utf-8")
}

#[test]
fn an_admin_browses_deletes_collects_and_hands_out_a_robot_token() {
    if !tools() {
        return;
    }
    let Some(mut b) = Browser::launch() else { return };
    let site = Site::start();
    let tmp = tempfile::tempdir().expect("temp dir");
    push_image(&site, tmp.path(), "apps/web", &["v1", "latest"], 1, 96 * 1024);
    push_image(&site, tmp.path(), "apps/web", &["v2"], 2, 160 * 1024);
    push_image(&site, tmp.path(), "tools/debug", &["1.0"], 3, 8 * 1024);
    push_index(&site, "apps/multi", "1.0");
    push_sbom(&site, "apps/web", "v1");

    browser_login(&site, &mut b);
    b.screenshot(&screenshots().join("repositories.png"));
    browse(&site, &mut b);
    delete_v2(&site, &mut b);
    collect(&site, &mut b);
    let token = create_robot(&site, &mut b);

    let src = format!("docker://{}/apps/web:v1", site.host);
    let creds = format!("puller:{token}");
    let dest = format!("dir:{}", tmp.path().join("pulled").display());
    let out = site.skopeo(&["copy", "--src-creds", &creds, &src, &dest]);
    assert!(out.status.success(), "pull with the robot token: {}", String::from_utf8_lossy(&out.stderr));
    let out = site.skopeo(&["copy", "--dest-creds", &creds, &dest, &format!("docker://{}/apps/web:robot", site.host)]);
    assert!(!out.status.success(), "a pull robot cannot push");

    let session = b.cookie(SESSION).expect("session").value;
    b.click_and_wait("form.who button");
    assert!(b.url().ends_with("/ui/login"), "{}", b.url());
    assert!(b.cookie(SESSION).is_none(), "the cookie is cleared");
    let r = get(&site.http(), &site.url("/ui/admin"), &format!("{SESSION}={session}"));
    assert_eq!(r.status(), 303, "the old session no longer works");
    // The one expected entry is the refused login's 401 page.
    let errors: Vec<String> =
        b.console_errors().into_iter().filter(|e| !(e.contains("status of 401") && e.contains("/ui/login"))).collect();
    assert_eq!(errors, Vec::<String>::new(), "no script errors and no CSP violations");
}

#[test]
fn a_pull_only_account_sees_no_admin_page_and_cannot_call_admin_actions() {
    let site = Site::start();
    let http = site.http();
    let admin = login(&site, &http, "init", &site.password);
    let r = post(
        &site,
        &http,
        "/ui/admin/user",
        &admin.cookie,
        &[("csrf", &admin.csrf), ("name", "reader"), ("role", "pull"), ("password", "reader-password-1")],
    );
    assert_eq!(r.status(), 200);
    assert!(r.text().expect("body").contains("Created user reader with role pull."));

    let reader = login(&site, &http, "reader", "reader-password-1");
    let home = get(&http, &site.url("/ui/"), &reader.cookie).text().expect("body");
    assert!(!home.contains("/ui/admin"), "no Admin link for a pull-only account");
    for path in ["/ui/admin", "/ui/admin/gc"] {
        assert_eq!(get(&http, &site.url(path), &reader.cookie).status(), 403, "GET {path}");
    }
    let attempts: [(&str, &[(&str, &str)]); 4] = [
        ("/ui/admin/user", &[("name", "mallory"), ("role", "admin"), ("password", "mallory-password-1")]),
        ("/ui/admin/role", &[("name", "reader"), ("role", "admin")]),
        ("/ui/admin/password", &[("name", "init")]),
        ("/ui/admin/gc", &[]),
    ];
    for (path, fields) in attempts {
        let mut form = vec![("csrf", reader.csrf.as_str())];
        form.extend_from_slice(fields);
        let r = post(&site, &http, path, &reader.cookie, &form);
        assert_eq!(r.status(), 403, "POST {path} by a pull-only account");
    }
    let accounts = get(&http, &site.url("/ui/admin"), &admin.cookie).text().expect("body");
    assert!(!accounts.contains("mallory"), "no account was created");
    let login = login(&site, &http, "init", &site.password);
    assert!(!login.cookie.is_empty(), "init's password still works");
    let r = get(&http, &site.url("/ui/"), &reader.cookie).text().expect("body");
    assert!(!r.contains("/ui/admin"), "reader is still pull-only");
}

#[test]
fn state_changes_without_the_csrf_token_or_from_another_origin_are_refused() {
    if !tools() {
        return;
    }
    let site = Site::start();
    let tmp = tempfile::tempdir().expect("temp dir");
    push_image(&site, tmp.path(), "apps/web", &["v1"], 7, 4 * 1024);
    let http = site.http();
    let admin = login(&site, &http, "init", &site.password);
    let target = [("repo", "apps/web"), ("reference", "v1"), ("also_manifest", "yes")];

    let mut without = target.to_vec();
    assert_eq!(post(&site, &http, "/ui/delete", &admin.cookie, &without).status(), 403, "no token");
    without.push(("csrf", "0123456789abcdef0123456789abcdef"));
    assert_eq!(post(&site, &http, "/ui/delete", &admin.cookie, &without).status(), 403, "a wrong token");
    let mut with = target.to_vec();
    with.push(("csrf", &admin.csrf));
    let r = http
        .post(site.url("/ui/delete"))
        .header(header::COOKIE, &admin.cookie)
        .header(header::ORIGIN, "https://evil.example")
        .form(&with)
        .send()
        .expect("POST");
    assert_eq!(r.status(), 403, "the right token from another origin");
    let r = http
        .post(site.url("/ui/login"))
        .header(header::ORIGIN, "https://evil.example")
        .form(&[("user", "init"), ("password", site.password.as_str())])
        .send()
        .expect("POST");
    assert_eq!(r.status(), 403, "a login posted from another site");
    assert!(r.headers().get(header::SET_COOKIE).is_none());

    let creds = format!("init:{}", site.password);
    let out = site.skopeo(&["inspect", "--creds", &creds, &format!("docker://{}/apps/web:v1", site.host)]);
    assert!(out.status.success(), "nothing was deleted: {}", String::from_utf8_lossy(&out.stderr));
    let r = post(&site, &http, "/ui/delete", &admin.cookie, &with);
    assert_eq!(r.status(), 303, "the same request with the token and our origin is taken");
    let out = site.skopeo(&["inspect", "--creds", &creds, &format!("docker://{}/apps/web:v1", site.host)]);
    assert!(!out.status.success(), "now it is deleted");
}

#[test]
fn the_console_lives_beside_an_unchanged_api_with_strict_headers() {
    let site = Site::start();
    let http = site.http();
    let r = http.get(site.url("/v2/")).send().expect("GET /v2/");
    assert_eq!(r.status(), 401, "the API still asks for credentials");
    assert!(r.headers()[header::WWW_AUTHENTICATE].to_str().expect("ascii").starts_with("Bearer realm="));
    let r = http.get(site.url("/v2/")).basic_auth("init", Some(&site.password)).send().expect("GET /v2/");
    assert_eq!(r.status(), 200);

    let r = http.get(site.url("/")).send().expect("GET /");
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(r.headers()[header::LOCATION], "/ui/");
    let r = http.get(site.url("/ui/")).send().expect("GET /ui/");
    assert_eq!(r.status(), 303, "anonymous visitors are sent to the login form");
    assert_eq!(r.headers()[header::LOCATION], "/ui/login");

    let r = http.get(site.url("/ui/login")).send().expect("GET /ui/login");
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().expect("ascii").to_string();
    for directive in ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"] {
        assert!(csp.contains(directive), "{csp} has {directive}");
    }
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["referrer-policy"], "same-origin", "no-referrer would make our own forms `Origin: null`");
    let page = r.text().expect("body");
    assert!(!page.contains("<script>") && !page.contains(" style=\""), "no inline script or style");
    for asset in ["/ui/assets/console.css", "/ui/assets/console.js"] {
        assert!(page.contains(asset), "{asset} linked");
        let r = http.get(site.url(asset)).send().expect("GET asset");
        assert_eq!(r.status(), 200, "{asset}");
    }
    assert!(!page.contains("http://") && !page.contains("https://"), "no external resource: {page}");

    let session = login(&site, &http, "init", &site.password);
    let r = get(&http, &site.url("/ui/repo?name=nothing/here"), &session.cookie);
    assert_eq!(r.status(), 404);
    assert!(r.text().expect("body").contains("nothing/here"), "the error page says what is missing");
}
