//! The `DeleteImageList` file that `delete --generate` writes and `delete --delete-yaml-file`
//! reads, in oc-mirror v2's shape (keys sorted, as sigs.k8s.io/yaml writes them):
//!
//! ```yaml
//! apiVersion: mirror.openshift.io/v2alpha1
//! items:
//! - imageName: docker://quay.io/ns/operator@sha256:…      what the configuration names
//!   imageReference: docker://REG/ns/operator:v1.2.3      what is deleted on the mirror
//!   type: operatorRelatedImage                           generic, operatorBundle, ocpRelease, …
//! kind: DeleteImageList
//! ```
//!
//! File names: `working-dir/delete/delete-images.yaml` and the copy of the configuration
//! `working-dir/delete/delete-imageset-config.yaml`; `--delete-id ID` makes them
//! `delete-images-ID.yaml` and `delete-imageset-config-ID.yaml`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::mirror::imageset::API_VERSION;
use crate::mirror::operators;
use crate::mirror::plan::{Category, ImagePlan};
use crate::mirror::sources::Work;

/// `kind` of the file.
pub const KIND: &str = "DeleteImageList";
/// The directory under `working-dir` that holds the files.
pub const DELETE_DIR: &str = "delete";

/// Why a delete list could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a delete list.
    #[error("{path}{}: {message}", position.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Line and column, when known.
        position: Option<(usize, usize)>,
        /// What is wrong.
        message: String,
    },
}

/// oc-mirror's image types (`v2alpha1.ImageType`), as they are spelt in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ImageType {
    /// A release payload.
    OcpRelease,
    /// A component image of a release payload.
    OcpReleaseContent,
    /// The update graph data image.
    CincinnatiGraph,
    /// An operator catalog (oc-mirror never lists it for deletion: other operators need it).
    OperatorCatalog,
    /// An operator bundle image.
    OperatorBundle,
    /// An image a bundle relates.
    OperatorRelatedImage,
    /// An image of `additionalImages`.
    Generic,
    /// An image of a helm chart.
    HelmImage,
}

/// One image to delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeleteItem {
    /// The image as the configuration names it.
    pub image_name: String,
    /// The image on the mirror, `docker://REG/…`: what is deleted.
    pub image_reference: String,
    /// Where it came from (absent in files of oc-mirror before 4.17).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub image_type: Option<ImageType>,
    /// Blobs that files of oc-mirror before 4.17 listed; read and ignored (only manifests are
    /// deleted).
    #[serde(default, skip_serializing)]
    pub related_blobs: Vec<String>,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeleteImageList {
    /// `mirror.openshift.io/v2alpha1`.
    pub api_version: String,
    /// The images, sorted by `imageReference`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub items: Vec<DeleteItem>,
    /// `DeleteImageList`.
    pub kind: String,
}

/// oc-mirror writes an empty list as `items: null`.
fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DeleteItem>, D::Error> {
    Ok(Option::<Vec<DeleteItem>>::deserialize(d)?.unwrap_or_default())
}

impl DeleteImageList {
    /// The images a run planned as `work` put on the mirror, except the operator catalogs
    /// (oc-mirror keeps them: operators left in the catalog still need it). Each destination
    /// is listed once, sorted by `imageReference`.
    #[must_use]
    pub fn from_work(work: &Work) -> DeleteImageList {
        let images = work.plan.images.iter().map(|p| (p, false));
        let last = work.release_plans.iter().map(|p| (p, true));
        let mut items: Vec<DeleteItem> = images.chain(last).filter_map(|(p, from_cache)| item(p, from_cache)).collect();
        items.sort_by(|a, b| a.image_reference.cmp(&b.image_reference));
        items.dedup_by(|a, b| a.image_reference == b.image_reference);
        DeleteImageList { api_version: API_VERSION.to_string(), items, kind: KIND.to_string() }
    }

    /// Reads and checks a file written by `delete --generate` (or by oc-mirror).
    ///
    /// # Errors
    /// [`Error::Io`], or [`Error::Invalid`] with the position of the problem.
    pub fn load(path: &Path) -> Result<DeleteImageList, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        let invalid = |position, message| Error::Invalid { path: path.to_path_buf(), position, message };
        let list: DeleteImageList = serde_yaml::from_str(&text).map_err(|e| {
            let message = e.to_string();
            let message = match message.rfind(" at line ") {
                Some(i) if e.location().is_some() => message[..i].to_string(),
                _ => message,
            };
            invalid(e.location().map(|l| (l.line(), l.column())), message)
        })?;
        if list.kind != KIND {
            return Err(invalid(None, format!("kind must be {KIND}, not {:?}", list.kind)));
        }
        if list.api_version != API_VERSION {
            return Err(invalid(None, format!("apiVersion must be {API_VERSION}, not {:?}", list.api_version)));
        }
        Ok(list)
    }

    /// The file's text.
    ///
    /// # Errors
    /// Never in practice (plain strings); serde_yaml's error otherwise.
    pub fn to_yaml(&self) -> Result<String, serde_yaml::Error> {
        serde_yaml::to_string(self)
    }
}

/// The list entry of one plan entry; `None` for what is not deleted (catalogs).
fn item(plan: &ImagePlan, from_cache: bool) -> Option<DeleteItem> {
    let image_type = match plan.category {
        Category::Generic => ImageType::Generic,
        Category::Operator if operators::is_bundle_image(plan) => ImageType::OperatorBundle,
        Category::Operator => ImageType::OperatorRelatedImage,
        Category::Catalog => return None,
        // Payloads go from the cache after their components; components are plain images.
        Category::Release if from_cache => ImageType::OcpRelease,
        Category::Release => ImageType::OcpReleaseContent,
        Category::Graph => ImageType::CincinnatiGraph,
        Category::Helm => ImageType::HelmImage,
    };
    // oc-mirror names additional images as configured and the images it found (bundles,
    // related images, releases) with their transport.
    let image_name = match image_type {
        ImageType::Generic => plan.origin.to_string(),
        _ => format!("docker://{}", plan.origin),
    };
    Some(DeleteItem {
        image_name,
        image_reference: format!("docker://{}", plan.destination),
        image_type: Some(image_type),
        related_blobs: Vec::new(),
    })
}

/// `working-dir/delete/<stem>[-<id>].yaml`.
#[must_use]
pub fn file_path(working_dir: &Path, stem: &str, delete_id: Option<&str>) -> PathBuf {
    let name = match delete_id {
        Some(id) => format!("{stem}-{id}.yaml"),
        None => format!("{stem}.yaml"),
    };
    working_dir.join(DELETE_DIR).join(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mirror::plan::Plan;
    use crate::reference::image::ImageRef;

    fn plan(origin: &str, destination: &str, category: Category, needed_by: &[&str]) -> ImagePlan {
        let origin: ImageRef = origin.parse().expect("origin");
        ImagePlan {
            source: origin.clone(),
            origin,
            destination: destination.parse().expect("destination"),
            category,
            needed_by: needed_by.iter().map(|s| (*s).to_string()).collect(),
        }
    }

    fn work(images: Vec<ImagePlan>, release_plans: Vec<ImagePlan>, catalog_plans: Vec<ImagePlan>) -> Work {
        Work {
            plan: Plan { images, blocked: Vec::new() },
            releases: None,
            release_plans,
            catalogs: Vec::new(),
            catalog_plans,
            kept: Vec::new(),
            code: 0,
        }
    }

    #[test]
    fn items_carry_oc_mirror_types_sorted_by_reference_without_catalogs() {
        let w = work(
            vec![
                plan("q.io/ns/web:v1", "reg:5000/m/ns/web:v1", Category::Generic, &[]),
                plan(
                    "q.io/op/bundle:v1",
                    "reg:5000/m/op/bundle:v1",
                    Category::Operator,
                    &["bundle image of bundle op.v1 of package op"],
                ),
                plan(
                    "q.io/op/agent:v1",
                    "reg:5000/m/op/agent:v1",
                    Category::Operator,
                    &["related image of bundle op.v1 of package op"],
                ),
                plan("q.io/art/dev:x", "reg:5000/m/openshift/release:4.17.1-x86_64-etcd", Category::Release, &[]),
                plan("q.io/ns/web:v1", "reg:5000/m/ns/web:v1", Category::Generic, &[]),
            ],
            vec![
                plan(
                    "q.io/ocp/release:4.17.1-x86_64",
                    "reg:5000/m/openshift/release-images:4.17.1-x86_64",
                    Category::Release,
                    &[],
                ),
                plan(
                    "localhost:55000/openshift/graph-image:latest",
                    "reg:5000/m/openshift/graph-image:latest",
                    Category::Graph,
                    &[],
                ),
            ],
            vec![plan("q.io/op/index:v4.17", "reg:5000/m/op/index:v4.17", Category::Catalog, &[])],
        );
        let list = DeleteImageList::from_work(&w);
        let got: Vec<(&str, &str, Option<ImageType>)> =
            list.items.iter().map(|i| (i.image_name.as_str(), i.image_reference.as_str(), i.image_type)).collect();
        let expected = vec![
            ("q.io/ns/web:v1", "docker://reg:5000/m/ns/web:v1", Some(ImageType::Generic)),
            ("docker://q.io/op/agent:v1", "docker://reg:5000/m/op/agent:v1", Some(ImageType::OperatorRelatedImage)),
            ("docker://q.io/op/bundle:v1", "docker://reg:5000/m/op/bundle:v1", Some(ImageType::OperatorBundle)),
            (
                "docker://localhost:55000/openshift/graph-image:latest",
                "docker://reg:5000/m/openshift/graph-image:latest",
                Some(ImageType::CincinnatiGraph),
            ),
            (
                "docker://q.io/ocp/release:4.17.1-x86_64",
                "docker://reg:5000/m/openshift/release-images:4.17.1-x86_64",
                Some(ImageType::OcpRelease),
            ),
            (
                "docker://q.io/art/dev:x",
                "docker://reg:5000/m/openshift/release:4.17.1-x86_64-etcd",
                Some(ImageType::OcpReleaseContent),
            ),
        ];
        assert_eq!(got, expected);
    }

    #[test]
    fn writes_oc_mirror_shape_and_reads_it_back() {
        let list = DeleteImageList {
            api_version: API_VERSION.into(),
            items: vec![DeleteItem {
                image_name: "q.io/ns/web:v1".into(),
                image_reference: "docker://reg/ns/web:v1".into(),
                image_type: Some(ImageType::Generic),
                related_blobs: Vec::new(),
            }],
            kind: KIND.into(),
        };
        let text = list.to_yaml().expect("yaml");
        assert_eq!(
            text,
            "apiVersion: mirror.openshift.io/v2alpha1\nitems:\n- imageName: q.io/ns/web:v1\n  imageReference: docker://reg/ns/web:v1\n  type: generic\nkind: DeleteImageList\n"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("d.yaml");
        std::fs::write(&path, &text).expect("write");
        assert_eq!(DeleteImageList::load(&path).expect("load"), list);
    }

    #[test]
    fn loads_files_of_other_oc_mirror_versions_and_refuses_others() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cases: &[(&str, &str, Result<usize, &str>)] = &[
            (
                "pre-4.17 with relatedBlobs and no type",
                "kind: DeleteImageList\napiVersion: mirror.openshift.io/v2alpha1\nitems:\n- imageName: a\n  imageReference: docker://r/a:v1\n  relatedBlobs:\n  - sha256:00\n",
                Ok(1),
            ),
            ("null items", "apiVersion: mirror.openshift.io/v2alpha1\nitems: null\nkind: DeleteImageList\n", Ok(0)),
            (
                "every type",
                "apiVersion: mirror.openshift.io/v2alpha1\nkind: DeleteImageList\nitems:\n- {imageName: a, imageReference: docker://r/a:1, type: ocpRelease}\n- {imageName: a, imageReference: docker://r/a:2, type: ocpReleaseContent}\n- {imageName: a, imageReference: docker://r/a:3, type: cincinnatiGraph}\n- {imageName: a, imageReference: docker://r/a:4, type: operatorCatalog}\n- {imageName: a, imageReference: docker://r/a:5, type: operatorBundle}\n- {imageName: a, imageReference: docker://r/a:6, type: operatorRelatedImage}\n- {imageName: a, imageReference: docker://r/a:7, type: generic}\n- {imageName: a, imageReference: docker://r/a:8, type: helmImage}\n",
                Ok(8),
            ),
            (
                "unknown type",
                "apiVersion: mirror.openshift.io/v2alpha1\nkind: DeleteImageList\nitems:\n- imageName: a\n  imageReference: docker://r/a:v1\n  type: blob\n",
                Err(":6:"),
            ),
            (
                "unknown key",
                "apiVersion: mirror.openshift.io/v2alpha1\nkind: DeleteImageList\nitems:\n- imageName: a\n  imageRef: docker://r/a:v1\n",
                Err(":5:"),
            ),
            (
                "wrong kind",
                "apiVersion: mirror.openshift.io/v2alpha1\nkind: ImageSetConfiguration\nitems: []\n",
                Err("kind must be"),
            ),
            (
                "v1 api",
                "apiVersion: mirror.openshift.io/v1alpha2\nkind: DeleteImageList\nitems: []\n",
                Err("apiVersion must be"),
            ),
        ];
        for (name, text, expected) in cases {
            let path = dir.path().join("d.yaml");
            std::fs::write(&path, text).expect("write");
            match (DeleteImageList::load(&path), expected) {
                (Ok(list), Ok(n)) => assert_eq!(list.items.len(), *n, "case {name}"),
                (Err(e), Err(part)) => assert!(e.to_string().contains(part), "case {name}: {e}"),
                (got, _) => panic!("case {name}: {got:?}"),
            }
        }
    }

    #[test]
    fn delete_id_suffixes_the_file_names_as_oc_mirror_does() {
        let wd = Path::new("/w/working-dir");
        assert_eq!(file_path(wd, "delete-images", None), Path::new("/w/working-dir/delete/delete-images.yaml"));
        assert_eq!(
            file_path(wd, "delete-imageset-config", Some("v4.11")),
            Path::new("/w/working-dir/delete/delete-imageset-config-v4.11.yaml")
        );
    }
}
