//! The ImageSetConfiguration schema (`mirror.openshift.io/v2alpha1`) as typed structs. Every
//! struct refuses unknown keys, so a misspelt key is an error with its position rather than a
//! silently ignored setting.

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Content {
    /// OpenShift releases.
    #[serde(default)]
    pub platform: Option<Platform>,
    /// Operator catalogs.
    #[serde(default)]
    pub operators: Vec<Operator>,
    /// Individual images.
    #[serde(default)]
    pub additional_images: Vec<AdditionalImage>,
    /// Helm charts and their images.
    #[serde(default)]
    pub helm: Option<Helm>,
    /// Images never to mirror (regular expressions). Absent from `delete:`.
    #[serde(default)]
    pub blocked_images: Vec<NamedImage>,
    /// Sample images (not implemented by oc-mirror either).
    #[serde(default)]
    pub samples: Vec<NamedImage>,
}

/// `mirror.platform`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Platform {
    /// Whether to build the Cincinnati graph image.
    #[serde(default)]
    pub graph: bool,
    /// Release channels.
    #[serde(default)]
    pub channels: Vec<ReleaseChannel>,
    /// Architectures of the release payload.
    #[serde(default)]
    pub architectures: Vec<String>,
    /// A release on disk (disk-to-mirror).
    #[serde(default)]
    pub release: Option<String>,
    /// Include the KubeVirt container image.
    #[serde(default)]
    pub kube_virt_container: bool,
}

/// One release channel.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReleaseChannel {
    /// Channel name, e.g. `stable-4.17`.
    pub name: String,
    /// `ocp` (default) or `okd`.
    #[serde(default, rename = "type")]
    pub platform_type: Option<String>,
    /// Lowest version to mirror.
    #[serde(default)]
    pub min_version: Option<String>,
    /// Highest version to mirror.
    #[serde(default)]
    pub max_version: Option<String>,
    /// Only the shortest upgrade path.
    #[serde(default)]
    pub shortest_path: bool,
    /// Every release of the channel.
    #[serde(default)]
    pub full: bool,
}

/// One operator catalog.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Operator {
    /// The catalog image.
    pub catalog: String,
    /// Where the catalog goes on the mirror (path components only).
    #[serde(default)]
    pub target_catalog: Option<String>,
    /// Tag of the mirrored catalog.
    #[serde(default)]
    pub target_tag: Option<String>,
    /// Whole catalog rather than channel heads.
    #[serde(default)]
    pub full: bool,
    /// Leave out dependencies of the selected bundles.
    #[serde(default)]
    pub skip_dependencies: bool,
    /// Template for the generated CatalogSource.
    #[serde(default)]
    pub target_catalog_source_template: Option<String>,
    /// Packages to include.
    #[serde(default)]
    pub packages: Vec<Package>,
}

/// One operator package filter.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Package {
    /// Package name.
    pub name: String,
    /// Default channel override.
    #[serde(default)]
    pub default_channel: Option<String>,
    /// Lowest bundle version.
    #[serde(default)]
    pub min_version: Option<String>,
    /// Highest bundle version.
    #[serde(default)]
    pub max_version: Option<String>,
    /// Channel filters.
    #[serde(default)]
    pub channels: Vec<Channel>,
    /// Explicitly selected bundles.
    #[serde(default)]
    pub bundles: Vec<NamedImage>,
}

/// One channel filter of a package.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Channel {
    /// Channel name.
    pub name: String,
    /// Lowest bundle version in the channel.
    #[serde(default)]
    pub min_version: Option<String>,
    /// Highest bundle version in the channel.
    #[serde(default)]
    pub max_version: Option<String>,
}

/// `mirror.additionalImages[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AdditionalImage {
    /// Source image: tag, digest, or tag and digest.
    pub name: String,
    /// Repository path on the mirror, replacing the source path.
    #[serde(default)]
    pub target_repo: Option<String>,
    /// Tag on the mirror, replacing the source tag.
    #[serde(default)]
    pub target_tag: Option<String>,
}

/// A list entry that only has a `name`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedImage {
    /// The name.
    pub name: String,
}

/// `mirror.helm`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Helm {
    /// Remote chart repositories.
    #[serde(default)]
    pub repositories: Vec<HelmRepository>,
    /// Charts on local disk.
    #[serde(default)]
    pub local: Vec<Chart>,
}

/// One helm repository.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelmRepository {
    /// Repository name.
    pub name: String,
    /// Repository URL.
    pub url: String,
    /// Charts to take from it.
    #[serde(default)]
    pub charts: Vec<Chart>,
}

/// One helm chart.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Chart {
    /// Chart name.
    pub name: String,
    /// Chart version.
    #[serde(default)]
    pub version: Option<String>,
    /// Path of a local chart.
    #[serde(default)]
    pub path: Option<String>,
    /// JSON paths where images are found in the rendered chart.
    #[serde(default)]
    pub image_paths: Vec<String>,
    /// Values used to render the chart.
    #[serde(default)]
    pub values: Option<serde_yaml::Value>,
}
