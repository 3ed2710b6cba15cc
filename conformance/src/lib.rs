//! OCI distribution-spec v1.1 conformance checks, runnable against any registry URL.
//!
//! Configured like the official suite, from the environment ([`Config::from_env`]):
//! `OCI_ROOT_URL`, `OCI_NAMESPACE`, `OCI_CROSSMOUNT_NAMESPACE`, `OCI_USERNAME`, `OCI_PASSWORD`,
//! `OCI_TEST_PULL`, `OCI_TEST_PUSH`, `OCI_TEST_CONTENT_DISCOVERY`, `OCI_TEST_CONTENT_MANAGEMENT`,
//! plus `OCI_CA_FILE` (a CA to trust) and `OCI_INSECURE_TLS` (accept any certificate). Each check sets up its own content, so one
//! failure does not cascade, and asserts what a client can observe: statuses, headers, bytes.
//!
//! - [`client`]: HTTP with Basic and Docker token auth
//! - [`content`]: blobs, images and manifests
//! - [`push`], [`pull`], [`discovery`], [`management`]: the four workflows

pub mod client;
pub mod content;
pub mod discovery;
pub mod management;
pub mod pull;
pub mod push;

use client::{Client, Reply};

/// What to test and where.
#[derive(Debug, Clone)]
pub struct Config {
    /// Registry URL, e.g. `https://localhost:5000`.
    pub root_url: String,
    /// Repository the checks push to.
    pub namespace: String,
    /// Second repository, for cross-repository mounts.
    pub crossmount_namespace: String,
    /// Credentials, if the registry needs them.
    pub credentials: Option<(String, String)>,
    /// Accept any TLS certificate.
    pub insecure_tls: bool,
    /// A CA certificate (PEM) to trust, besides the system's.
    pub ca_file: Option<std::path::PathBuf>,
    /// Workflows to run.
    pub workflows: Vec<Workflow>,
}

/// The four workflow categories of the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workflow {
    /// Pull.
    Pull,
    /// Push.
    Push,
    /// Content discovery.
    ContentDiscovery,
    /// Content management.
    ContentManagement,
}

impl Workflow {
    /// Name used in check names.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Workflow::Pull => "pull",
            Workflow::Push => "push",
            Workflow::ContentDiscovery => "discovery",
            Workflow::ContentManagement => "management",
        }
    }
}

fn flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "TRUE" | "yes"))
}

impl Config {
    /// A config for `root_url` running every workflow in `namespace`.
    #[must_use]
    pub fn new(root_url: &str, namespace: &str) -> Config {
        Config {
            root_url: root_url.to_string(),
            namespace: namespace.to_string(),
            crossmount_namespace: format!("{namespace}-crossmount"),
            credentials: None,
            insecure_tls: false,
            ca_file: None,
            workflows: vec![Workflow::Pull, Workflow::Push, Workflow::ContentDiscovery, Workflow::ContentManagement],
        }
    }

    /// Adds credentials.
    #[must_use]
    pub fn with_credentials(mut self, user: &str, password: &str) -> Config {
        self.credentials = Some((user.to_string(), password.to_string()));
        self
    }

    /// Trusts a CA certificate.
    #[must_use]
    pub fn with_ca_file(mut self, path: &std::path::Path) -> Config {
        self.ca_file = Some(path.to_path_buf());
        self
    }

    /// Accepts any TLS certificate.
    #[must_use]
    pub fn insecure_tls(mut self) -> Config {
        self.insecure_tls = true;
        self
    }

    /// Reads the official suite's environment variables.
    ///
    /// # Errors
    /// When `OCI_ROOT_URL` or `OCI_NAMESPACE` is missing.
    pub fn from_env() -> Result<Config, String> {
        let root = std::env::var("OCI_ROOT_URL")
            .map_err(|_| "OCI_ROOT_URL is required (e.g. http://localhost:5000)".to_string())?;
        let ns =
            std::env::var("OCI_NAMESPACE").map_err(|_| "OCI_NAMESPACE is required (e.g. myorg/myrepo)".to_string())?;
        let mut c = Config::new(&root, &ns);
        if let Ok(m) = std::env::var("OCI_CROSSMOUNT_NAMESPACE") {
            c.crossmount_namespace = m;
        }
        if let (Ok(u), Ok(p)) = (std::env::var("OCI_USERNAME"), std::env::var("OCI_PASSWORD")) {
            c.credentials = Some((u, p));
        }
        c.insecure_tls = flag("OCI_INSECURE_TLS");
        c.ca_file = std::env::var_os("OCI_CA_FILE").map(std::path::PathBuf::from);
        c.workflows = [
            ("OCI_TEST_PULL", Workflow::Pull),
            ("OCI_TEST_PUSH", Workflow::Push),
            ("OCI_TEST_CONTENT_DISCOVERY", Workflow::ContentDiscovery),
            ("OCI_TEST_CONTENT_MANAGEMENT", Workflow::ContentManagement),
        ]
        .into_iter()
        .filter(|(v, _)| flag(v))
        .map(|(_, w)| w)
        .collect();
        Ok(c)
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It behaved as the spec says.
    Pass,
    /// It did not; why.
    Fail(String),
}

/// One check's result.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// `workflow: description`, stable across runs (used by known-failure lists).
    pub name: String,
    /// What happened.
    pub outcome: Outcome,
}

/// Known failures: checks that must fail, and checks that may (machine-dependent outcomes).
#[derive(Debug, Clone, Default)]
pub struct KnownFailures {
    /// Must fail.
    pub must: std::collections::BTreeSet<String>,
    /// May fail or pass.
    pub may: std::collections::BTreeSet<String>,
}

impl KnownFailures {
    /// Parses a known-failures file: one check name per line, `#` comments, `?` before a name
    /// that may fail or pass.
    #[must_use]
    pub fn parse(text: &str) -> KnownFailures {
        let mut known = KnownFailures::default();
        for line in text.lines().map(|l| l.split('#').next().unwrap_or("").trim()).filter(|l| !l.is_empty()) {
            match line.strip_prefix('?') {
                Some(name) => known.may.insert(name.trim().to_string()),
                None => known.must.insert(line.to_string()),
            };
        }
        known
    }

    /// Failures not on the list, and listed must-fail checks that passed.
    #[must_use]
    pub fn compare<'a>(&'a self, report: &'a Report) -> (Vec<&'a str>, Vec<&'a str>) {
        let failed = report.failed();
        let unexpected = failed.iter().copied().filter(|f| !self.must.contains(*f) && !self.may.contains(*f)).collect();
        let fixed = self.must.iter().map(String::as_str).filter(|k| !failed.contains(k)).collect();
        (unexpected, fixed)
    }
}

/// All results of a run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// In the order run.
    pub results: Vec<CheckResult>,
}

impl Report {
    /// Names of the failed checks.
    #[must_use]
    pub fn failed(&self) -> Vec<&str> {
        self.results.iter().filter(|r| r.outcome != Outcome::Pass).map(|r| r.name.as_str()).collect()
    }

    /// Number of passed checks.
    #[must_use]
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.outcome == Outcome::Pass).count()
    }

    /// One line per check.
    #[must_use]
    pub fn lines(&self) -> Vec<String> {
        self.results
            .iter()
            .map(|r| match &r.outcome {
                Outcome::Pass => format!("PASS {}", r.name),
                Outcome::Fail(why) => format!("FAIL {}: {why}", r.name),
            })
            .collect()
    }
}

/// What every check gets.
pub struct Ctx {
    /// The configuration.
    pub config: Config,
    /// The HTTP client.
    pub client: Client,
}

/// A check: a name and a function that returns why it failed.
pub type Check = (&'static str, fn(&Ctx) -> Result<(), String>);

/// Runs the configured workflows.
///
/// # Errors
/// When the HTTP client cannot be built.
pub fn run(config: &Config) -> Result<Report, String> {
    let client =
        Client::new(&config.root_url, config.credentials.clone(), config.insecure_tls, config.ca_file.as_deref())?;
    let ctx = Ctx { config: config.clone(), client };
    let mut report = Report::default();
    for workflow in &config.workflows {
        let checks: &[Check] = match workflow {
            Workflow::Pull => pull::CHECKS,
            Workflow::Push => push::CHECKS,
            Workflow::ContentDiscovery => discovery::CHECKS,
            Workflow::ContentManagement => management::CHECKS,
        };
        for (name, check) in checks {
            // A panic in a check is a failed check, not a failed run.
            let outcome = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&ctx))) {
                Ok(Ok(())) => Outcome::Pass,
                Ok(Err(why)) => Outcome::Fail(why),
                Err(_) => Outcome::Fail("check panicked".into()),
            };
            report.results.push(CheckResult { name: format!("{}: {name}", workflow.name()), outcome });
        }
    }
    Ok(report)
}

/// Fails unless `reply` has one of `statuses`.
///
/// # Errors
/// A message naming the status and body.
pub fn expect_status(what: &str, reply: &Reply, statuses: &[u16]) -> Result<(), String> {
    if statuses.contains(&reply.status.as_u16()) {
        Ok(())
    } else {
        let body = String::from_utf8_lossy(&reply.body);
        Err(format!(
            "{what}: expected {statuses:?}, got {} {}",
            reply.status.as_u16(),
            body.chars().take(200).collect::<String>()
        ))
    }
}

/// Fails unless `cond` holds.
///
/// # Errors
/// `message`.
pub fn ensure(cond: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(message()) }
}
