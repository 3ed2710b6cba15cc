//! Test images for the mirror tests, and the tools to look at registries.
//!
//! The source is Debian's `docker-registry` seeded with skopeo from OCI layouts. The layouts are
//! written here by hand (uncompressed tar layers, deterministic content from a fixed PRNG seed),
//! plus one built by umoci. Seeding happens once per build directory: the registry storage is
//! kept under `CARGO_TARGET_TMPDIR` and each test serves a hard-linked copy of it (distribution
//! never rewrites a stored file, and the tests never push to the source).
//!
//! Images in the source:
//!
//! ```text
//! apps/web:v1, apps/api:v1        OCI, sharing their base layer
//! apps/web:v1-docker              Docker schema2 (skopeo --format v2s2)
//! apps/web:sha256-<hex>.sig       a cosign-style signature of apps/web:v1
//! artifacts/sbom:v1               an OCI artifact (artifactType, empty config, subject)
//! multi/arch:v1                   OCI index of amd64 and arm64 images
//! multi/arch:v1-docker            the same as a Docker manifest list
//! digest/only:v1                  mirrored by digest only
//! deep/a/b/c/app:v1               a deeply nested path
//! blocked/alpine:3                for blockedImages
//! umoci/hello:v1                  built by umoci (manifest without mediaType)
//! big/layer:v1                    one 200 MiB layer
//! ```
#![allow(dead_code)] // tests/mirror.rs and tests/mirror_operators.rs use different parts

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use sha2::Digest as _;

use crate::common::{DistributionSetup, Registry, require_tool};

/// Size of the big layer's file content.
pub const BIG_LAYER_BYTES: usize = 200 * 1024 * 1024;
const SEED_VERSION: &str = "v4";

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// xorshift64*: fast, deterministic filler.
struct Prng(u64);

impl Prng {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// An OCI image layout written by hand.
struct Layout {
    dir: PathBuf,
    refs: Vec<serde_json::Value>,
}

#[derive(Clone)]
struct Desc {
    media_type: String,
    digest: String,
    size: u64,
}

impl Desc {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size})
    }
}

impl Layout {
    fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).expect("layout dirs");
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
        Layout { dir: dir.to_path_buf(), refs: Vec::new() }
    }

    fn blob(&self, media_type: &str, data: &[u8]) -> Desc {
        let digest = sha256(data);
        std::fs::write(self.dir.join("blobs/sha256").join(&digest[7..]), data).expect("write blob");
        Desc { media_type: media_type.into(), digest, size: data.len() as u64 }
    }

    /// An uncompressed layer with one file of `size` PRNG bytes, streamed to disk.
    fn layer(&self, name: &str, seed: u64, size: usize) -> Desc {
        let tmp = self.dir.join("layer.tmp");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).expect("create layer"));
        let mut hasher = sha2::Sha256::new();
        let mut write = |bytes: &[u8]| {
            hasher.update(bytes);
            out.write_all(bytes).expect("write layer");
        };
        let mut header = tar::Header::new_ustar();
        header.set_path(name).expect("tar path");
        header.set_size(size as u64);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        write(header.as_bytes());
        let mut prng = Prng(seed | 1);
        let mut buf = vec![0u8; 1 << 20];
        let mut left = size;
        while left > 0 {
            let n = left.min(buf.len());
            prng.fill(&mut buf[..n]);
            write(&buf[..n]);
            left -= n;
        }
        let padding = (512 - size % 512) % 512;
        write(&vec![0u8; padding + 1024]);
        out.flush().expect("flush layer");
        drop(out);
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        let total = std::fs::metadata(&tmp).expect("layer size").len();
        std::fs::rename(&tmp, self.dir.join("blobs/sha256").join(&digest[7..])).expect("place layer");
        Desc { media_type: "application/vnd.oci.image.layer.v1.tar".into(), digest, size: total }
    }

    fn image(&mut self, tag: &str, arch: &str, layers: &[Desc]) -> Desc {
        let config = serde_json::json!({
            "created": "2024-01-01T00:00:00Z",
            "architecture": arch,
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.digest.clone()).collect::<Vec<_>>()},
        });
        let config = self.blob("application/vnd.oci.image.config.v1+json", config.to_string().as_bytes());
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config.json(),
            "layers": layers.iter().map(Desc::json).collect::<Vec<_>>(),
        });
        let desc = self.blob(OCI_MANIFEST, manifest.to_string().as_bytes());
        self.tag(tag, &desc);
        desc
    }

    fn index(&mut self, tag: &str, children: &[(Desc, &str)]) -> Desc {
        let manifests: Vec<serde_json::Value> = children
            .iter()
            .map(|(d, arch)| {
                let mut j = d.json();
                j["platform"] = serde_json::json!({"architecture": arch, "os": "linux"});
                j
            })
            .collect();
        let index = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
        let desc = self.blob(OCI_INDEX, index.to_string().as_bytes());
        self.tag(tag, &desc);
        desc
    }

    fn tag(&mut self, tag: &str, desc: &Desc) {
        let mut j = desc.json();
        j["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
        self.refs.push(j);
        let index = serde_json::json!({"schemaVersion": 2, "manifests": self.refs});
        std::fs::write(self.dir.join("index.json"), index.to_string()).expect("index.json");
    }
}

fn skopeo_copy(extra: &[&str], from: &str, to: &str) {
    let out = Command::new("skopeo")
        .args(["--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false"])
        .args(extra)
        .arg(from)
        .arg(to)
        .output()
        .expect("run skopeo");
    assert!(out.status.success(), "skopeo copy {from} {to}: {}", String::from_utf8_lossy(&out.stderr));
}

fn umoci(args: &[&str], cwd: &Path) {
    let out = Command::new("umoci").args(args).current_dir(cwd).output().expect("run umoci");
    assert!(out.status.success(), "umoci {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A plain-HTTP client of one registry, for seeding and for comparing.
pub struct Http {
    client: reqwest::blocking::Client,
    pub base: String,
    basic: Option<(String, String)>,
}

impl Http {
    pub fn new(base: &str) -> Http {
        Http {
            client: reqwest::blocking::Client::builder().timeout(Duration::from_mins(2)).build().expect("client"),
            base: base.trim_end_matches('/').to_string(),
            basic: None,
        }
    }

    /// A client trusting `ca` (PEM) and sending basic credentials.
    pub fn secure(base: &str, ca: &Path, user: &str, password: &str) -> Http {
        let pem = std::fs::read(ca).expect("read CA");
        let certs = reqwest::Certificate::from_pem_bundle(&pem).expect("CA parses");
        Http {
            client: reqwest::blocking::Client::builder()
                .tls_certs_only(certs)
                .timeout(Duration::from_mins(2))
                .build()
                .expect("client"),
            base: base.trim_end_matches('/').to_string(),
            basic: Some((user.into(), password.into())),
        }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        let r = self.client.request(method, format!("{}{path}", self.base));
        match &self.basic {
            Some((u, p)) => r.basic_auth(u, Some(p)),
            None => r,
        }
    }

    /// The manifest bytes, content type and digest header, or `None` on 404.
    pub fn manifest(&self, repo: &str, reference: &str) -> Option<(Vec<u8>, String)> {
        let r = self
            .req(reqwest::Method::GET, &format!("/v2/{repo}/manifests/{reference}"))
            .header("accept", MANIFEST_ACCEPT)
            .send()
            .expect("GET manifest");
        if r.status() == 404 {
            return None;
        }
        assert!(r.status().is_success(), "GET {repo}:{reference}: {}", r.status());
        let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        Some((r.bytes().expect("manifest body").to_vec(), ct))
    }

    pub fn digest_of(&self, repo: &str, reference: &str) -> String {
        let (bytes, _) = self.manifest(repo, reference).unwrap_or_else(|| panic!("{repo}:{reference} missing"));
        sha256(&bytes)
    }

    /// sha256 and length of a blob, streamed.
    pub fn blob_digest(&self, repo: &str, digest: &str) -> Option<(String, u64)> {
        let mut r = self.req(reqwest::Method::GET, &format!("/v2/{repo}/blobs/{digest}")).send().expect("GET blob");
        if r.status() == 404 {
            return None;
        }
        assert!(r.status().is_success(), "GET blob {repo}@{digest}: {}", r.status());
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = std::io::Read::read(&mut r, &mut buf).expect("read blob");
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            total += n as u64;
        }
        Some((format!("sha256:{}", hex::encode(hasher.finalize())), total))
    }

    /// A blob's bytes (small blobs only).
    pub fn blob(&self, repo: &str, digest: &str) -> Vec<u8> {
        let r = self.req(reqwest::Method::GET, &format!("/v2/{repo}/blobs/{digest}")).send().expect("GET blob");
        assert!(r.status().is_success(), "GET blob {repo}@{digest}: {}", r.status());
        r.bytes().expect("blob body").to_vec()
    }

    pub fn catalog(&self) -> Vec<String> {
        let r = self.req(reqwest::Method::GET, "/v2/_catalog?n=1000").send().expect("catalog");
        let v: serde_json::Value = r.json().expect("catalog json");
        let mut out: Vec<String> = v["repositories"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
            .unwrap_or_default();
        out.sort();
        out
    }

    pub fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = sha256(data);
        // distribution 2.8 has no single-request upload: open a session, then PUT the content.
        let r = self.req(reqwest::Method::POST, &format!("/v2/{repo}/blobs/uploads/")).send().expect("start upload");
        assert_eq!(r.status(), 202, "start upload to {repo}");
        let location = r.headers()["location"].to_str().expect("location").to_string();
        let mut url = reqwest::Url::parse(&self.base).expect("base").join(&location).expect("location url");
        url.query_pairs_mut().append_pair("digest", &digest);
        let mut put = self.client.put(url).header("content-type", "application/octet-stream").body(data.to_vec());
        if let Some((u, p)) = &self.basic {
            put = put.basic_auth(u, Some(p));
        }
        let r = put.send().expect("finish upload");
        assert_eq!(r.status(), 201, "push blob to {repo}");
        digest
    }

    pub fn push_manifest(&self, repo: &str, reference: &str, media_type: &str, data: &[u8]) -> String {
        let r = self
            .req(reqwest::Method::PUT, &format!("/v2/{repo}/manifests/{reference}"))
            .header("content-type", media_type)
            .body(data.to_vec())
            .send()
            .expect("push manifest");
        assert_eq!(r.status(), 201, "push manifest {repo}:{reference}: {}", r.text().unwrap_or_default());
        sha256(data)
    }

    /// Asserts that `dst` holds `src`'s image byte for byte: every manifest (an index's
    /// children too) has the same bytes, every blob hashes to its descriptor's digest.
    pub fn assert_same_image(&self, repo: &str, reference: &str, dst: &Http, dst_repo: &str, dst_reference: &str) {
        let (src_bytes, _) =
            self.manifest(repo, reference).unwrap_or_else(|| panic!("source lacks {repo}:{reference}"));
        let (dst_bytes, _) = dst
            .manifest(dst_repo, dst_reference)
            .unwrap_or_else(|| panic!("destination {} lacks {dst_repo}:{dst_reference}", dst.base));
        assert!(src_bytes == dst_bytes, "manifest {repo}:{reference} differs at {dst_repo}:{dst_reference}");
        let json: serde_json::Value = serde_json::from_slice(&src_bytes).expect("manifest json");
        if let Some(children) = json["manifests"].as_array() {
            for child in children {
                let d = child["digest"].as_str().expect("child digest");
                self.assert_same_image(repo, d, dst, dst_repo, d);
            }
            return;
        }
        let mut blobs = vec![json["config"].clone()];
        blobs.extend(json["layers"].as_array().cloned().unwrap_or_default());
        for b in blobs {
            let digest = b["digest"].as_str().expect("blob digest");
            let size = b["size"].as_u64().expect("blob size");
            let got = dst.blob_digest(dst_repo, digest).unwrap_or_else(|| panic!("{dst_repo} lacks blob {digest}"));
            assert_eq!(got, (digest.to_string(), size), "blob {digest} in {dst_repo}");
        }
    }
}

/// Builds the seeded source storage once per build directory; returns its root.
pub fn seeded_root() -> Option<&'static Path> {
    static ROOT: OnceLock<Option<PathBuf>> = OnceLock::new();
    ROOT.get_or_init(|| {
        if !require_tool("docker-registry") || !require_tool("skopeo") {
            return None;
        }
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("mirror-source-{SEED_VERSION}"));
        let root = base.join("regdata");
        if base.join("complete").is_file() {
            return Some(root);
        }
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).expect("seed dir");
        seed(&base, &root);
        std::fs::write(base.join("complete"), "").expect("marker");
        Some(root)
    })
    .as_deref()
}

fn seed(base: &Path, root: &Path) {
    let layouts = base.join("layouts");
    let mut l = Layout::new(&layouts.join("main"));
    let shared = l.layer("base.bin", 1, 300 * 1024);
    let web = l.layer("web.bin", 2, 120 * 1024);
    let api = l.layer("api.bin", 3, 100 * 1024);
    l.image("web", "amd64", &[shared.clone(), web]);
    l.image("api", "amd64", &[shared.clone(), api]);
    let amd = l.layer("amd64.bin", 4, 50 * 1024);
    let arm = l.layer("arm64.bin", 5, 60 * 1024);
    let m_amd = l.image("m-amd", "amd64", &[shared.clone(), amd]);
    let m_arm = l.image("m-arm", "arm64", &[shared.clone(), arm]);
    l.index("multi", &[(m_amd, "amd64"), (m_arm, "arm64")]);
    let d = l.layer("digest.bin", 6, 40 * 1024);
    l.image("digest", "amd64", &[d]);
    let deep = l.layer("deep.bin", 7, 30 * 1024);
    l.image("deep", "amd64", &[deep]);
    let blocked = l.layer("blocked.bin", 8, 20 * 1024);
    l.image("blocked", "amd64", &[blocked]);
    let mut big = Layout::new(&layouts.join("big"));
    let big_layer = big.layer("big.bin", 9, BIG_LAYER_BYTES);
    big.image("big", "amd64", &[big_layer]);

    let registry =
        Registry::distribution_with(&DistributionSetup { root: Some(root.to_path_buf()), ..Default::default() })
            .expect("docker-registry is installed");
    let oci = |layout: &str, tag: &str| format!("oci:{}:{tag}", layouts.join(layout).display());
    let dest = |repo: &str| format!("docker://{}/{repo}", registry.host);
    skopeo_copy(&[], &oci("main", "web"), &dest("apps/web:v1"));
    skopeo_copy(&[], &oci("main", "api"), &dest("apps/api:v1"));
    skopeo_copy(&["--format", "v2s2"], &oci("main", "web"), &dest("apps/web:v1-docker"));
    skopeo_copy(&["--all"], &oci("main", "multi"), &dest("multi/arch:v1"));
    skopeo_copy(&["--all", "--format", "v2s2"], &oci("main", "multi"), &dest("multi/arch:v1-docker"));
    skopeo_copy(&[], &oci("main", "digest"), &dest("digest/only:v1"));
    skopeo_copy(&[], &oci("main", "deep"), &dest("deep/a/b/c/app:v1"));
    skopeo_copy(&[], &oci("main", "blocked"), &dest("blocked/alpine:3"));
    skopeo_copy(&[], &oci("big", "big"), &dest("big/layer:v1"));

    let http = Http::new(&registry.url());
    // A cosign-style signature: tag sha256-<hex>.sig, simple-signing payload layer.
    let web_digest = http.digest_of("apps/web", "v1");
    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"example/apps/web"}},"image":{{"docker-manifest-digest":"{web_digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
    );
    let payload_digest = http.push_blob("apps/web", payload.as_bytes());
    let sig_config = br#"{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let sig_config_digest = http.push_blob("apps/web", sig_config);
    let sig = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sig_config_digest, "size": sig_config.len()},
        "layers": [{
            "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
            "digest": payload_digest,
            "size": payload.len(),
            "annotations": {"dev.cosignproject.cosign/signature": "MEUCIQDfake"}
        }]
    });
    let sig_tag = format!("sha256-{}.sig", &web_digest[7..]);
    http.push_manifest("apps/web", &sig_tag, OCI_MANIFEST, sig.to_string().as_bytes());
    // An OCI 1.1 artifact with an empty config and a subject.
    let empty = b"{}";
    let empty_digest = http.push_blob("artifacts/sbom", empty);
    let sbom = br#"{"spdxVersion":"SPDX-2.3"}"#;
    let sbom_digest = http.push_blob("artifacts/sbom", sbom);
    let artifact = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/spdx+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty_digest, "size": 2},
        "layers": [{"mediaType": "application/spdx+json", "digest": sbom_digest, "size": sbom.len()}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": web_digest, "size": 1}
    });
    http.push_manifest("artifacts/sbom", "v1", OCI_MANIFEST, artifact.to_string().as_bytes());

    if require_tool("umoci") {
        let work = base.join("umoci");
        std::fs::create_dir_all(&work).expect("umoci dir");
        umoci(&["init", "--layout", "oci"], &work);
        umoci(&["new", "--image", "oci:v1"], &work);
        umoci(&["unpack", "--rootless", "--image", "oci:v1", "bundle"], &work);
        std::fs::write(work.join("bundle/rootfs/hello.txt"), "hello from umoci\n").expect("write file");
        umoci(&["repack", "--image", "oci:v1", "bundle"], &work);
        umoci(&["config", "--image", "oci:v1", "--architecture", "amd64", "--os", "linux"], &work);
        skopeo_copy(&[], &format!("oci:{}:v1", work.join("oci").display()), &dest("umoci/hello:v1"));
    }
    drop(registry);
    let _ = std::fs::remove_dir_all(&layouts);
}

/// A `docker-registry` serving a hard-linked copy of the seeded storage.
pub struct Source {
    pub registry: Registry,
    _dir: tempfile::TempDir,
}

impl Source {
    pub fn start() -> Option<Source> {
        Self::start_on(None)
    }

    pub fn start_on(port: Option<u16>) -> Option<Source> {
        Self::start_with(DistributionSetup { port, ..Default::default() })
    }

    /// The seeded source served as `setup` says (TLS, a port); its `root` is ignored.
    pub fn start_with(setup: DistributionSetup) -> Option<Source> {
        let seeded = seeded_root()?;
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("regdata");
        let status = Command::new("cp").arg("-al").arg(seeded).arg(&root).status().expect("run cp");
        assert!(status.success(), "cp -al of the seeded source");
        let registry = Registry::distribution_with(&DistributionSetup { root: Some(root), ..setup })?;
        Some(Source { registry, _dir: dir })
    }

    pub fn host(&self) -> &str {
        &self.registry.host
    }

    pub fn http(&self) -> Http {
        Http::new(&self.registry.url())
    }

    pub fn has_umoci_image(&self) -> bool {
        self.http().manifest("umoci/hello", "v1").is_some()
    }
}
