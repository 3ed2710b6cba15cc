//! A real 3-node Garage cluster on loopback (replication factor 3), with one bucket and one
//! key: the distributed S3 store of the scale-out tests (issue #14).
//!
//! Self-contained (std and tempfile only), so the library's unit tests include it too
//! (`#[path]` in src/store/s3/tests.rs). `garage` comes from crates.io (`cargo install garage`,
//! done and cached by .ci/run); under `CI=true` a missing binary fails the test, elsewhere
//! [`Garage::start`] returns `None` and says why.
#![allow(dead_code)] // each test binary uses a different subset

use std::fmt::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The bucket every test cluster has.
pub const BUCKET: &str = "registry";
/// The region the cluster signs with.
pub const REGION: &str = "garage";

/// A running cluster; every node is killed on drop.
pub struct Garage {
    dir: tempfile::TempDir,
    binary: PathBuf,
    nodes: Vec<Node>,
    /// Access key with read, write and owner rights on [`BUCKET`].
    pub key_id: String,
    /// Its secret.
    pub secret: String,
}

struct Node {
    config: PathBuf,
    s3_port: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind an ephemeral port").port()
}

/// `garage` on PATH or in cargo's bin directory.
fn find_binary() -> Option<PathBuf> {
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|c| c.join("bin"));
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).chain(cargo_bin).map(|d| d.join("garage")).find(|p| p.is_file())
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not open port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Garage {
    /// Starts three nodes, lays them out with replication factor 3, creates [`BUCKET`] and a key.
    /// `None` (after saying why) when `garage` is not installed outside CI.
    pub fn start() -> Option<Garage> {
        let Some(binary) = find_binary() else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "garage is required when CI=true (.ci/run installs it with `cargo install garage`)"
            );
            eprintln!("SKIPPED: garage is not installed (cargo install garage --locked)");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let secret = random_hex(32);
        let nodes = (0..3).map(|i| Node::configure(dir.path(), i, &secret)).collect();
        let mut garage = Garage { dir, binary, nodes, key_id: String::new(), secret: String::new() };
        for i in 0..3 {
            garage.start_node(i);
        }
        garage.form_cluster();
        Some(garage)
    }

    /// The S3 endpoint of node `i`.
    #[must_use]
    pub fn endpoint(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.nodes[i].s3_port)
    }

    /// A `storage:` section for our config: backend s3 on node `i`, the credentials in a 0600 file.
    #[must_use]
    pub fn storage_yaml(&self, i: usize) -> String {
        let file = self.dir.path().join("credentials.yaml");
        std::fs::write(&file, format!("access_key_id: {}\nsecret_access_key: {}\n", self.key_id, self.secret))
            .expect("write credentials");
        set_private(&file);
        format!(
            "storage:\n  backend: s3\n  s3:\n    endpoint: {}\n    bucket: {BUCKET}\n    region: {REGION}\n    credentials_file: {}\n",
            self.endpoint(i),
            file.display()
        )
    }

    /// Kills node `i` (SIGKILL): the other two hold every object.
    pub fn stop_node(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// (Re)starts node `i` and waits for its S3 port.
    pub fn start_node(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let log = std::fs::File::create(node.config.with_extension("log")).expect("log file");
        let child = Command::new(&self.binary)
            .args(["-c".as_ref(), node.config.as_os_str(), "server".as_ref()])
            .env("RUST_LOG", "garage=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start garage");
        node.child = Some(child);
        wait_for_port(node.s3_port, "garage");
    }

    /// Runs the `garage` CLI against node 0 and returns its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out =
            Command::new(&self.binary).arg("-c").arg(&self.nodes[0].config).args(args).output().expect("run garage");
        assert!(
            out.status.success(),
            "garage {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn node_id(&self, i: usize) -> String {
        let out = Command::new(&self.binary)
            .arg("-c")
            .arg(&self.nodes[i].config)
            .args(["node", "id", "-q"])
            .output()
            .expect("garage node id");
        assert!(out.status.success(), "garage node id: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn form_cluster(&mut self) {
        let ids: Vec<String> = (0..3).map(|i| self.retry(|g| g.node_id(i))).collect();
        for id in &ids[1..] {
            self.retry(|g| g.cli(&["node", "connect", id]));
        }
        for id in &ids {
            let short = id.split('@').next().expect("id");
            self.retry(|g| g.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", short]));
        }
        self.cli(&["layout", "apply", "--version", "1"]);
        self.retry(|g| g.cli(&["bucket", "create", BUCKET]));
        let key = self.cli(&["key", "create", "registry-key"]);
        self.key_id = field(&key, "Key ID");
        self.secret = field(&key, "Secret key");
        self.cli(&["bucket", "allow", "--read", "--write", "--owner", BUCKET, "--key", "registry-key"]);
    }

    /// Retries a CLI step while the nodes are still finding each other.
    fn retry<T>(&self, step: impl Fn(&Garage) -> T) -> T {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step(self))) {
                Ok(v) => return v,
                Err(e) if Instant::now() > deadline => std::panic::resume_unwind(e),
                Err(_) => std::thread::sleep(Duration::from_millis(250)),
            }
        }
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.stop_node(i);
        }
    }
}

impl Node {
    fn configure(dir: &Path, i: usize, secret: &str) -> Node {
        let (rpc, s3, admin) = (free_port(), free_port(), free_port());
        let root = dir.join(format!("node{i}"));
        std::fs::create_dir_all(&root).expect("node dir");
        let config = root.join("garage.toml");
        let text = format!(
            r#"metadata_dir = "{root}/meta"
data_dir = "{root}/data"
db_engine = "sqlite"
replication_factor = 3
metadata_fsync = false
data_fsync = false
rpc_secret = "{secret}"
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{s3}"

[admin]
api_bind_addr = "127.0.0.1:{admin}"
"#,
            root = root.display()
        );
        std::fs::write(&config, text).expect("write garage.toml");
        // Garage refuses a config holding a secret that others can read.
        set_private(&config);
        Node { config, s3_port: s3, child: None }
    }
}

fn set_private(file: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
}

/// The value after `name:` on a line of the CLI's output.
fn field(output: &str, name: &str) -> String {
    output
        .lines()
        .find_map(|l| l.trim().strip_prefix(name).and_then(|r| r.trim_start().strip_prefix(':')))
        .map_or_else(|| panic!("no {name:?} in garage output:\n{output}"), |v| v.trim().to_owned())
}

/// `n` random bytes from the OS in hex (an rpc secret per cluster; std has no RNG).
fn random_hex(n: usize) -> String {
    use std::io::Read;
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).expect("urandom");
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
