//! `mirror.helm`: charts → images. Each chart of `helm.repositories` is downloaded from its
//! repository's index (mirror to mirror, mirror to disk) or read back from the working dir that
//! the archives filled (disk to mirror, `delete --generate`); each chart of `helm.local` is read
//! from its path and kept in the working dir for the archives. Every chart is rendered as
//! `helm template` would ([`render`]) and the images at the default image paths and the
//! chart's `imagePaths` ([`images`]) join the plan.
//!
//! ```text
//! working-dir/helm/indexes/<host>/<path>/index.yaml   repository indexes       (archived)
//! working-dir/helm/charts/<name>-<version>.tgz        repository charts        (archived)
//! working-dir/helm/local/<name>.tgz                   helm.local charts        (archived)
//! ```
//!
//! A chart that can't be fetched or rendered is an error of that chart only (exit bit 16,
//! oc-mirror's helm bit); the other charts and sections go on.

pub mod chart;
mod functions;
pub mod images;
pub mod render;
pub mod repository;

use std::path::{Path, PathBuf};

use super::imageset::{Chart, Helm};
use super::plan::{Category, Mapping, Plan};
use repository::{ChartVersion, Index, Repositories};

/// Where `helm.local` charts are kept, relative to the working dir.
const LOCAL_DIR: &str = "helm/local";

/// How charts are found.
pub enum Fetch<'a> {
    /// From their repositories, into the working dir.
    Online(&'a Repositories),
    /// From the working dir only (what the archives brought).
    Offline,
}

/// The charts of `mirror.helm` made ready.
#[derive(Debug, Default)]
pub struct Prepared {
    /// Each chart read, with the images it names.
    pub charts: Vec<PreparedChart>,
    /// Working-dir files (relative) that disk to mirror needs: indexes and chart archives.
    pub kept: Vec<PathBuf>,
    /// One line per chart or repository that failed.
    pub failures: Vec<String>,
}

/// One chart read and rendered: the images it names.
#[derive(Debug, Clone)]
pub struct PreparedChart {
    /// `chart NAME VERSION` (and where from), for messages.
    pub label: String,
    /// The images, as the rendered chart names them.
    pub images: Vec<String>,
}

/// Fetches (or finds) and renders every chart of `helm`.
pub async fn prepare(helm: &Helm, fetch: &Fetch<'_>, working_dir: &Path) -> Prepared {
    let mut out = Prepared::default();
    for repo in &helm.repositories {
        let label = format!("helm repository {} ({})", repo.name, repo.url);
        let index = match read_index(&repo.url, fetch, working_dir).await {
            Ok(index) => index,
            Err(e) => {
                out.failures.push(format!("{label}: {e}"));
                continue;
            }
        };
        out.kept.push(repository::index_file(&repo.url));
        let versions: Vec<(ChartVersion, Option<&Chart>)> = if repo.charts.is_empty() {
            repository::all_versions(&index).into_iter().map(|v| (v.clone(), None)).collect()
        } else {
            let mut chosen = Vec::new();
            for chart in &repo.charts {
                match repository::select(&index, &repo.name, &chart.name, chart.version.as_deref()) {
                    Ok(v) => chosen.push((v.clone(), Some(chart))),
                    Err(e) => out.failures.push(e.to_string()),
                }
            }
            chosen
        };
        for (version, configured) in versions {
            let chart_label = format!("chart {} {} of {label}", version.name, version.version);
            let path = match fetch {
                Fetch::Online(repositories) => {
                    repositories.fetch_chart(&repo.url, &version, working_dir).await.map_err(anyhow::Error::from)
                }
                Fetch::Offline => {
                    let p = working_dir.join(repository::chart_file(&version.name, &version.version));
                    if p.is_file() { Ok(p) } else { Err(not_archived(&p)) }
                }
            };
            let path = match path {
                Ok(p) => p,
                Err(e) => {
                    out.failures.push(format!("{chart_label}: {e}"));
                    continue;
                }
            };
            out.kept.push(repository::chart_file(&version.name, &version.version));
            let values = configured.and_then(|c| c.values.clone());
            let paths = configured.map(|c| c.image_paths.clone()).unwrap_or_default();
            render_into(&mut out, chart_label, path, values, paths).await;
        }
    }
    for local in &helm.local {
        let label = format!("local chart {}", local.name);
        let kept = Path::new(LOCAL_DIR).join(format!("{}.tgz", repository::safe(&local.name)));
        let copy = working_dir.join(&kept);
        let path = match local_path(local, fetch, &copy) {
            Ok(path) => path,
            Err(e) => {
                out.failures.push(format!("{label}: {e}"));
                continue;
            }
        };
        let rendered =
            render_into(&mut out, label.clone(), path.clone(), local.values.clone(), local.image_paths.clone()).await;
        // Online, a chart that renders is copied into the working dir for the archives.
        if rendered && matches!(fetch, Fetch::Online(_)) {
            match tokio::task::spawn_blocking(move || keep_local(&path, &copy)).await.map_err(anyhow::Error::from) {
                Ok(Ok(())) => out.kept.push(kept),
                Ok(Err(e)) | Err(e) => out.failures.push(format!("{label}: {e}")),
            }
        }
    }
    out
}

/// Adds the plan entries of every chart's images (category helm); returns one line per image
/// that is no valid reference.
pub fn plan_images(
    prepared: &Prepared,
    mapping: &Mapping<'_>,
    blocked: &[regex::Regex],
    plan: &mut Plan,
) -> Vec<String> {
    let mut failures = Vec::new();
    for chart in &prepared.charts {
        for image in &chart.images {
            match mapping.map_named(image, Category::Helm) {
                Ok(mut entry) => {
                    entry.needed_by.push(format!("image of {}", chart.label));
                    plan.add(entry, blocked);
                }
                Err(e) => failures.push(format!("image {image} of {}: {e}", chart.label)),
            }
        }
    }
    failures
}

async fn read_index(url: &str, fetch: &Fetch<'_>, working_dir: &Path) -> anyhow::Result<Index> {
    match fetch {
        Fetch::Online(repositories) => Ok(repositories.fetch_index(url, working_dir).await?),
        Fetch::Offline => {
            let path = working_dir.join(repository::index_file(url));
            let bytes = std::fs::read(&path).map_err(|_| not_archived(&path))?;
            Ok(repository::parse_index(&path.display().to_string(), &bytes)?)
        }
    }
}

fn not_archived(path: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{} is missing: the archives hold no such chart (was it in the mirror to disk run?)",
        path.display()
    )
}

/// The chart file to render for a `helm.local` entry: its path online; offline, the path when
/// it exists (the same bastion), else `copy`, the working-dir copy the archives brought.
fn local_path(local: &Chart, fetch: &Fetch<'_>, copy: &Path) -> anyhow::Result<PathBuf> {
    match (fetch, local.path.as_deref().map(PathBuf::from)) {
        (Fetch::Online(_), Some(path)) => Ok(path),
        (Fetch::Online(_), None) => anyhow::bail!("no path given"),
        (Fetch::Offline, Some(path)) if path.exists() => Ok(path),
        (Fetch::Offline, _) if copy.is_file() => Ok(copy.to_path_buf()),
        (Fetch::Offline, _) => Err(not_archived(copy)),
    }
}

/// Copies a local chart (rendered already, so a valid chart) into the working dir as an
/// archive: a directory is packed, an archive copied.
fn keep_local(from: &Path, to: &Path) -> anyhow::Result<()> {
    if from.is_dir() {
        chart::pack_dir(from, to)?;
    } else {
        let bytes = std::fs::read(from).map_err(|e| anyhow::anyhow!("{}: {e}", from.display()))?;
        super::files::write_atomically(to, &bytes).map_err(|(p, e)| anyhow::anyhow!("{}: {e}", p.display()))?;
    }
    Ok(())
}

/// Renders one chart (on a blocking thread: rendering is CPU work) and records its images,
/// its warnings as log lines, or its failure; returns whether it rendered.
async fn render_into(
    out: &mut Prepared,
    label: String,
    path: PathBuf,
    values: Option<serde_yaml::Value>,
    image_paths: Vec<String>,
) -> bool {
    let rendered = tokio::task::spawn_blocking(move || -> anyhow::Result<images::ChartImages> {
        let chart = chart::load(&path)?;
        Ok(images::chart_images(&chart, values.as_ref(), &image_paths)?)
    })
    .await
    .map_err(anyhow::Error::from)
    .and_then(|r| r);
    match rendered {
        Ok(found) => {
            for warning in &found.warnings {
                tracing::warn!("{label}: {warning}");
            }
            tracing::info!(chart = %label, images = found.images.len(), "chart rendered");
            out.charts.push(PreparedChart { label, images: found.images });
            true
        }
        Err(e) => {
            out.failures.push(format!("{label}: {}", super::error_chain(e.as_ref())));
            false
        }
    }
}
