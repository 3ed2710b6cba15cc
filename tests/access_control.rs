//! Access control over the real HTTP stack of `serve`: every request is checked against the
//! account as it is now (role, grants, credential generation), namespace grants per route and
//! method, the catalog filtered by what the caller may pull, login back-off under parallel
//! guessing, and a token realm no client can redirect.

mod common;

use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use common::{Registry, output_with_stdin};
use reqwest::blocking::Client;
use serde_json::{Value, json};
use sha2::Digest as _;

const PASSWORD: &str = "password-1";

fn client() -> Client {
    Client::builder().timeout(Duration::from_secs(30)).build().expect("client")
}

/// Runs `mirror-registry user ...` on the registry's database; panics when it fails.
fn user(reg: &Registry, args: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mirror-registry"));
    command.arg("user").arg("--data-dir").arg(&reg.data_dir).args(args);
    let out = output_with_stdin(&mut command, &format!("{PASSWORD}\n"));
    assert!(out.status.success(), "user {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn add(reg: &Registry, name: &str, role: &str) {
    user(reg, &["add", name, "--role", role, "--password-stdin"]);
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

fn basic(name: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{name}:{password}")))
}

/// Pushes a one-layer image as `name` (basic auth); panics unless it works.
fn push_image(reg: &Registry, as_user: (&str, &str), repo: &str, tag: &str) {
    let c = client();
    let auth = basic(as_user.0, as_user.1);
    let mut descriptors = Vec::new();
    for blob in [format!("{{\"repo\":\"{repo}\"}}"), format!("layer of {repo}")] {
        let d = sha256(blob.as_bytes());
        let r = c
            .post(format!("{}/v2/{repo}/blobs/uploads/?digest={d}", reg.url()))
            .header("authorization", &auth)
            .body(blob.clone())
            .send()
            .expect("push blob");
        assert_eq!(r.status(), 201, "blob into {repo}");
        descriptors.push(json!({"mediaType": "application/octet-stream", "digest": d, "size": blob.len()}));
    }
    let manifest = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptors[0], "layers": [descriptors[1]],
    });
    let r = c
        .put(format!("{}/v2/{repo}/manifests/{tag}", reg.url()))
        .header("authorization", &auth)
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.to_string())
        .send()
        .expect("push manifest");
    assert_eq!(r.status(), 201, "manifest into {repo}");
}

/// A token (and a refresh token) for `scope` through `GET /v2/auth`.
fn token(reg: &Registry, name: &str, scope: &str) -> (String, String) {
    let r = client()
        .get(format!("{}/v2/auth?service=reg&offline_token=true&scope={scope}", reg.url()))
        .header("authorization", basic(name, PASSWORD))
        .send()
        .expect("token");
    assert_eq!(r.status(), 200, "token for {name}");
    let body: Value = r.json().expect("json");
    (body["token"].as_str().expect("token").into(), body["refresh_token"].as_str().expect("refresh").into())
}

fn refresh(reg: &Registry, refresh_token: &str) -> u16 {
    client()
        .post(format!("{}/v2/auth", reg.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=refresh_token&service=reg&refresh_token={refresh_token}"))
        .send()
        .expect("refresh")
        .status()
        .as_u16()
}

fn start_upload(reg: &Registry, repo: &str, authorization: &str) -> u16 {
    client()
        .post(format!("{}/v2/{repo}/blobs/uploads/", reg.url()))
        .header("authorization", authorization)
        .send()
        .expect("post")
        .status()
        .as_u16()
}

#[test]
fn tokens_follow_the_account_as_it_is_now() {
    let reg = Registry::ours_with_accounts("");
    add(&reg, "alice", "push");
    add(&reg, "bob", "none");
    user(&reg, &["grant", "bob", "push", "team-a/*"]);

    // A push token keeps working only while the account may push.
    let (alice, alice_refresh) = token(&reg, "alice", "repository:r:pull,push");
    assert_eq!(start_upload(&reg, "r", &format!("Bearer {alice}")), 202);
    user(&reg, &["role", "alice", "pull"]);
    let status = start_upload(&reg, "r", &format!("Bearer {alice}"));
    assert!(status == 401 || status == 403, "a demoted account's push token is refused at once: {status}");
    assert_eq!(refresh(&reg, &alice_refresh), 401, "its refresh token died with the role change");
    let (pull_only, _) = token(&reg, "alice", "repository:r:pull,push");
    assert_eq!(start_upload(&reg, "r", &format!("Bearer {pull_only}")), 403, "a new token holds only pull");

    // Revoking a grant applies to the very next request of an unchanged token.
    let (bob, _) = token(&reg, "bob", "repository:team-a/app:pull,push");
    assert_eq!(start_upload(&reg, "team-a/app", &format!("Bearer {bob}")), 202);
    user(&reg, &["revoke", "bob", "team-a/*"]);
    assert_eq!(start_upload(&reg, "team-a/app", &format!("Bearer {bob}")), 403, "grant revoked");

    // A password change voids refresh tokens; a new account under an old name inherits nothing.
    user(&reg, &["role", "alice", "push"]);
    let (alice, alice_refresh) = token(&reg, "alice", "repository:r:pull,push");
    user(&reg, &["passwd", "alice", "--password-stdin"]);
    assert_eq!(refresh(&reg, &alice_refresh), 401, "password changed");
    assert_eq!(start_upload(&reg, "r", &format!("Bearer {alice}")), 401, "so did its access token");
    let (alice, alice_refresh) = token(&reg, "alice", "repository:r:pull,push");
    user(&reg, &["del", "alice"]);
    add(&reg, "alice", "push");
    assert_eq!(start_upload(&reg, "r", &format!("Bearer {alice}")), 401, "old alice's access token");
    assert_eq!(refresh(&reg, &alice_refresh), 401, "old alice's refresh token");
    let (new_alice, _) = token(&reg, "alice", "repository:r:pull,push");
    assert_eq!(start_upload(&reg, "r", &format!("Bearer {new_alice}")), 202, "the new alice works");
}

/// Route × method × account → status, through the real HTTP stack. Accounts: registry-wide
/// roles, and role `none` with grants on `team-a/*`.
#[test]
fn grants_and_roles_decide_every_route() {
    let reg = Registry::ours_with_accounts("");
    let init = reg.init_password.clone().expect("init password");
    for (name, role) in
        [("pusher", "push"), ("puller", "pull"), ("scoped", "none"), ("reader", "none"), ("nobody", "none")]
    {
        add(&reg, name, role);
    }
    user(&reg, &["grant", "scoped", "push", "team-a/*"]);
    user(&reg, &["grant", "reader", "pull", "team-a/*"]);
    push_image(&reg, ("init", &init), "team-a/app", "v1");
    push_image(&reg, ("init", &init), "team-b/app", "v1");
    let listing = user(&reg, &["list"]);
    assert!(listing.contains("team-a/*:push"), "{listing}");

    let both = ["team-a/app", "team-b/app"];
    let a_only = ["team-a/app"];
    // (account, [GET a, GET b, POST a, POST b, DELETE a, tags b], catalog)
    let table: &[(&str, [u16; 6], Option<&[&str]>)] = &[
        ("init", [200, 200, 202, 202, 404, 200], Some(&both)),
        ("pusher", [200, 200, 202, 202, 404, 200], Some(&both)),
        ("puller", [200, 200, 403, 403, 403, 200], Some(&both)),
        ("scoped", [200, 403, 202, 403, 404, 403], Some(&a_only)),
        ("reader", [200, 403, 403, 403, 403, 403], Some(&a_only)),
        ("nobody", [403, 403, 403, 403, 403, 403], None),
    ];
    let c = client();
    for (name, expected, catalog) in table {
        let password = if *name == "init" { init.as_str() } else { PASSWORD };
        let auth = basic(name, password);
        let requests = [
            ("GET", "team-a/app/manifests/v1"),
            ("GET", "team-b/app/manifests/v1"),
            ("POST", "team-a/app/blobs/uploads/"),
            ("POST", "team-b/app/blobs/uploads/"),
            ("DELETE", "team-a/app/manifests/not-there"),
            ("GET", "team-b/app/tags/list"),
        ];
        for ((method, path), want) in requests.iter().zip(expected) {
            let r = c
                .request(method.parse().expect("method"), format!("{}/v2/{path}", reg.url()))
                .header("authorization", &auth)
                .header("accept", "application/vnd.oci.image.manifest.v1+json")
                .send()
                .expect("request");
            assert_eq!(r.status().as_u16(), *want, "{name}: {method} {path}");
        }
        let r = c.get(format!("{}/v2/_catalog", reg.url())).header("authorization", &auth).send().expect("catalog");
        match catalog {
            Some(repos) => {
                assert_eq!(r.status(), 200, "{name}: catalog");
                let body: Value = r.json().expect("json");
                assert_eq!(body["repositories"], json!(repos), "{name}: catalog shows what it may pull");
            }
            None => assert_eq!(r.status(), 403, "{name}: catalog"),
        }
    }
    // Without credentials: a challenge, never an answer.
    let r = c.get(format!("{}/v2/team-a/app/manifests/v1", reg.url())).send().expect("anonymous");
    assert_eq!(r.status(), 401);

    // Tokens are narrowed to the grants: a token asked for team-b holds nothing there.
    let (t, _) = token(&reg, "scoped", "repository:team-b/app:pull,push");
    let r = c.get(format!("{}/v2/team-b/app/manifests/v1", reg.url())).bearer_auth(&t).send().expect("get");
    assert_eq!(r.status(), 403);
    // Paging through a filtered catalog: full pages, and the link continues after the last shown.
    let r = c
        .get(format!("{}/v2/_catalog?n=1", reg.url()))
        .header("authorization", basic("scoped", PASSWORD))
        .send()
        .expect("catalog");
    assert!(r.headers().get("link").is_none(), "nothing visible follows team-a/app");
    let body: Value = r.json().expect("json");
    assert_eq!(body["repositories"], json!(["team-a/app"]), "a full page: hidden repositories are skipped");
}

#[test]
fn parallel_guesses_get_no_more_tries_and_a_right_password_resets_the_count() {
    let reg = Registry::ours_with_accounts("");
    add(&reg, "alice", "push");
    let url = format!("{}/v2/", reg.url());
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let tasks: Vec<_> = (0..30)
            .map(|i| {
                let url = url.clone();
                s.spawn(move || {
                    let auth = basic("init", &format!("wrong-guess-{i}"));
                    client().get(&url).header("authorization", auth).send().expect("guess").status().as_u16()
                })
            })
            .collect();
        tasks.into_iter().map(|t| t.join().expect("thread")).collect()
    });
    let evaluated = statuses.iter().filter(|s| **s == 401).count();
    assert!(evaluated <= 4, "30 parallel guesses: {evaluated} were checked ({statuses:?})");
    assert_eq!(evaluated + statuses.iter().filter(|s| **s == 429).count(), 30, "{statuses:?}");

    // Alternating wrong and right passwords never locks alice out (from another address: this
    // one is backing off after the guesses above).
    let other = Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().expect("ip"))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    for round in 0..15 {
        let wrong = other.get(&url).header("authorization", basic("alice", "not-it-at-all")).send().expect("wrong");
        assert_eq!(wrong.status(), 401, "round {round}: a typo is checked, not refused");
        let right = other.get(&url).header("authorization", basic("alice", PASSWORD)).send().expect("right");
        assert_eq!(right.status(), 200, "round {round}");
    }
}

#[test]
fn the_realm_comes_from_the_public_host_and_is_quoted() {
    let reg = Registry::ours_with_accounts("http:\n  public_host: registry.example:8443\n");
    let c = client();
    let r = c
        .get(format!("{}/v2/a/tags/list", reg.url()))
        .header("host", "a\"b")
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "https")
        .send()
        .expect("request");
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().expect("ascii");
    assert_eq!(
        challenge,
        r#"Bearer realm="http://registry.example:8443/v2/auth",service="registry.example:8443",scope="repository:a:pull""#
    );

    // Without a public host, a client's forwarded headers are still not believed.
    let reg = Registry::ours_with_accounts("");
    let r = c.get(format!("{}/v2/", reg.url())).header("x-forwarded-host", "evil.example").send().expect("request");
    let challenge = r.headers()["www-authenticate"].to_str().expect("ascii");
    assert!(challenge.starts_with(&format!("Bearer realm=\"http://{}/v2/auth\"", reg.host)), "{challenge}");
}
