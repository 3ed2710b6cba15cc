//! The container images a chart deploys: the chart rendered ([`super::render`]), each file
//! split into YAML documents, and image paths (a JSONPath subset) applied to every document.
//!
//! Path grammar (the part of kubectl's JSONPath that image paths use):
//!
//! ```text
//! path  = [ "{" ] [ "$" ] step* [ "}" ]
//! step  = "." name            ; a field
//!       | ".." name           ; that field at any depth (recursive descent)
//!       | ".*" | "[*]"        ; every item of a list, every value of a mapping
//!       | "[" integer "]"     ; one item; negative counts from the end
//!       | "['" name "']" | "[\"" name "\"]"
//! name  = 1*( any character but "." "[" "]" "{" "}" )
//! ```

use super::chart::Chart;
use super::render;

/// oc-mirror's image paths, plus CronJob's (our addition: a CronJob's pod template sits one
/// level deeper, under `jobTemplate`, and users expect its images mirrored too).
pub const DEFAULT_IMAGE_PATHS: &[&str] = &[
    "{.spec.template.spec.initContainers[*].image}",
    "{.spec.template.spec.containers[*].image}",
    "{.spec.initContainers[*].image}",
    "{.spec.containers[*].image}",
    "{.spec.jobTemplate.spec.template.spec.initContainers[*].image}",
    "{.spec.jobTemplate.spec.template.spec.containers[*].image}",
];

/// Why a chart's images could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An image path is not in the grammar above.
    #[error("image path {path:?}: {reason}")]
    Path {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The chart could not be rendered.
    #[error(transparent)]
    Render(#[from] render::Error),
}

/// The images of one chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartImages {
    /// The chart's name.
    pub name: String,
    /// The chart's version.
    pub version: String,
    /// Image references as written in the manifests, in first-seen order, without repeats.
    pub images: Vec<String>,
    /// Files that failed to render and documents that failed to parse, one line each.
    pub warnings: Vec<String>,
}

/// Renders `chart` with `values` over its defaults and lists the images at
/// [`DEFAULT_IMAGE_PATHS`] and `image_paths`. Blocking and CPU-bound: call it off the async
/// runtime.
///
/// # Errors
/// [`Error::Path`] for a path that does not parse (before rendering anything);
/// [`Error::Render`] when no template of the chart renders.
pub fn chart_images(
    chart: &Chart,
    values: Option<&serde_yaml::Value>,
    image_paths: &[String],
) -> Result<ChartImages, Error> {
    let paths = DEFAULT_IMAGE_PATHS
        .iter()
        .copied()
        .chain(image_paths.iter().map(String::as_str))
        .map(parse_path)
        .collect::<Result<Vec<_>, _>>()?;
    let rendered = render::render(chart, values)?;
    let mut warnings = rendered.warnings;
    let mut images: Vec<String> = Vec::new();
    for file in &rendered.files {
        for (index, document) in split_documents(&file.text).into_iter().enumerate() {
            let document: serde_yaml::Value = match serde_yaml::from_str(document) {
                Ok(document) => document,
                Err(e) => {
                    warnings.push(format!("{}: document {}: {e}", file.path, index + 1));
                    continue;
                }
            };
            for path in &paths {
                for found in evaluate(path, &document) {
                    let image = found.trim();
                    if !image.is_empty() && !images.iter().any(|known| known == image) {
                        images.push(image.to_owned());
                    }
                }
            }
        }
    }
    Ok(ChartImages { name: chart.metadata.name.clone(), version: chart.metadata.version.clone(), images, warnings })
}

/// Splits a rendered file on `---` lines, as Helm splits manifests.
fn split_documents(text: &str) -> Vec<&str> {
    let mut documents = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let content = line.trim_end();
        if content == "---" || content.starts_with("--- ") {
            documents.push(&text[start..offset]);
            start = offset + line.len();
        }
        offset += line.len();
    }
    documents.push(&text[start..]);
    documents.retain(|d| d.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')));
    documents
}

/// One step of a parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `.name` or `['name']`.
    Field(String),
    /// `..name`.
    Descendant(String),
    /// `[*]` or `.*`.
    Wildcard,
    /// `[N]`.
    Index(i64),
}

/// Parses an image path.
///
/// # Errors
/// [`Error::Path`], naming the path and what is wrong at which offset.
pub fn parse_path(path: &str) -> Result<Vec<Step>, Error> {
    let fail = |reason: String| Error::Path { path: path.to_owned(), reason };
    let mut rest = path.trim();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = inner.strip_suffix('}').ok_or_else(|| fail("no closing '}'".into()))?;
    }
    rest = rest.strip_prefix('$').unwrap_or(rest);
    let mut steps = Vec::new();
    while !rest.is_empty() {
        let at = path.len() - path.trim_start().len() + (path.trim().len() - rest.len());
        if let Some(after) = rest.strip_prefix("..") {
            let (name, remaining) = take_name(after);
            if name.is_empty() {
                return Err(fail(format!("a name must follow '..' at offset {at}")));
            }
            steps.push(Step::Descendant(name.to_owned()));
            rest = remaining;
        } else if let Some(after) = rest.strip_prefix('.') {
            let (name, remaining) = take_name(after);
            match name {
                "" => return Err(fail(format!("a name must follow '.' at offset {at}"))),
                "*" => steps.push(Step::Wildcard),
                name => steps.push(Step::Field(name.to_owned())),
            }
            rest = remaining;
        } else if let Some(after) = rest.strip_prefix('[') {
            let (inside, remaining) =
                after.split_once(']').ok_or_else(|| fail(format!("no closing ']' for '[' at offset {at}")))?;
            steps.push(
                parse_bracket(inside.trim()).ok_or_else(|| fail(format!("can't read [{inside}] at offset {at}")))?,
            );
            rest = remaining;
        } else {
            return Err(fail(format!("expected '.' or '[' at offset {at}")));
        }
    }
    if steps.is_empty() {
        return Err(fail("the path is empty".into()));
    }
    Ok(steps)
}

fn take_name(text: &str) -> (&str, &str) {
    let end = text.find(['.', '[', ']', '{', '}']).unwrap_or(text.len());
    text.split_at(end)
}

fn parse_bracket(inside: &str) -> Option<Step> {
    if inside == "*" {
        return Some(Step::Wildcard);
    }
    for quote in ['\'', '"'] {
        if let Some(name) = inside.strip_prefix(quote).and_then(|s| s.strip_suffix(quote)) {
            return Some(Step::Field(name.to_owned()));
        }
    }
    inside.parse().ok().map(Step::Index)
}

/// Applies a parsed path to a document; the strings found (a list of strings counts as its
/// items).
#[must_use]
pub fn evaluate<'v>(steps: &[Step], document: &'v serde_yaml::Value) -> Vec<&'v str> {
    let mut current = vec![document];
    for step in steps {
        let mut next = Vec::new();
        for node in current {
            match step {
                Step::Field(name) => next.extend(node.get(name.as_str())),
                Step::Wildcard => match node {
                    serde_yaml::Value::Sequence(items) => next.extend(items),
                    serde_yaml::Value::Mapping(map) => next.extend(map.values()),
                    _ => {}
                },
                Step::Index(index) => {
                    if let serde_yaml::Value::Sequence(items) = node {
                        let position = if *index < 0 {
                            items.len().checked_sub(usize::try_from(index.unsigned_abs()).unwrap_or(usize::MAX))
                        } else {
                            usize::try_from(*index).ok()
                        };
                        next.extend(position.and_then(|p| items.get(p)));
                    }
                }
                Step::Descendant(name) => collect_descendants(node, name, &mut next),
            }
        }
        current = next;
    }
    let mut found = Vec::new();
    for node in current {
        match node {
            serde_yaml::Value::String(s) => found.push(s.as_str()),
            serde_yaml::Value::Sequence(items) => found.extend(items.iter().filter_map(serde_yaml::Value::as_str)),
            _ => {}
        }
    }
    found
}

/// Every value under the key `name` in `node` or anything below it, in document order.
fn collect_descendants<'v>(node: &'v serde_yaml::Value, name: &str, out: &mut Vec<&'v serde_yaml::Value>) {
    let mut pending = vec![node];
    while let Some(node) = pending.pop() {
        let children: Vec<&serde_yaml::Value> = match node {
            serde_yaml::Value::Mapping(map) => {
                out.extend(map.get(name));
                map.values().collect()
            }
            serde_yaml::Value::Sequence(items) => items.iter().collect(),
            serde_yaml::Value::Tagged(tagged) => vec![&tagged.value],
            _ => Vec::new(),
        };
        pending.extend(children.into_iter().rev());
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::mirror::helm::chart;

    fn write(root: &Path, files: &[(&str, &str)]) {
        chart::write_files(root, files);
    }

    const HELPERS: &str = r#"{{- define "mychart.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "mychart.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}
{{- define "mychart.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "mychart.name" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
{{- define "mychart.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mychart.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}
"#;

    const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "mychart.fullname" . }}
  labels:
    {{- include "mychart.labels" . | nindent 4 }}
spec:
  template:
    spec:
      serviceAccountName: {{ include "mychart.serviceAccountName" . }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      initContainers:
        {{- range .Values.initContainers }}
        - name: {{ .name }}
          image: "{{ .image }}"
        {{- end }}
      containers:
        - name: {{ .Chart.Name }}
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
"#;

    const SERVICE_ACCOUNT: &str = r#"{{- if .Values.serviceAccount.create -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "mychart.serviceAccountName" . }}
{{- end }}
"#;

    const VALUES: &str = r#"image:
  repository: nginx
  tag: ""
nodeSelector:
  disktype: ssd
serviceAccount:
  create: true
  name: ""
initContainers:
  - name: init
    image: busybox:1.36
"#;

    /// A chart shaped like `helm create mychart`, in a directory and packed.
    fn helm_create_chart(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
        let dir = root.join("mychart");
        write(
            &dir,
            &[
                ("Chart.yaml", "apiVersion: v2\nname: mychart\nversion: 0.1.0\nappVersion: \"1.16.0\"\n"),
                ("values.yaml", VALUES),
                ("templates/_helpers.tpl", HELPERS),
                ("templates/deployment.yaml", DEPLOYMENT),
                ("templates/serviceaccount.yaml", SERVICE_ACCOUNT),
                ("templates/NOTES.txt", "{{ .Values.undefined.field }}"),
            ],
        );
        let tgz = root.join("mychart-0.1.0.tgz");
        chart::pack_dir(&dir, &tgz).expect("pack");
        (dir, tgz)
    }

    #[test]
    fn a_helm_create_chart_yields_its_images_with_the_app_version_as_default_tag() {
        let root = tempfile::tempdir().expect("tempdir");
        let (dir, tgz) = helm_create_chart(root.path());
        for path in [dir, tgz] {
            let loaded = chart::load(&path).expect("load");
            let found = chart_images(&loaded, None, &[]).expect("images");
            assert_eq!(found.images, ["busybox:1.36", "nginx:1.16.0"], "{}", path.display());
            assert_eq!(found.warnings, Vec::<String>::new(), "{}", path.display());
            assert_eq!((found.name.as_str(), found.version.as_str()), ("mychart", "0.1.0"));
        }
        let rendered = render::render(&chart::load(&root.path().join("mychart")).expect("load"), None).expect("render");
        let deployment =
            &rendered.files.iter().find(|f| f.path == "mychart/templates/deployment.yaml").expect("rendered");
        let document: serde_yaml::Value = serde_yaml::from_str(&deployment.text).expect("valid YAML");
        assert_eq!(document["metadata"]["name"], "release-name-mychart");
        assert_eq!(document["metadata"]["labels"]["helm.sh/chart"], "mychart-0.1.0");
        assert_eq!(document["spec"]["template"]["spec"]["nodeSelector"]["disktype"], "ssd");
        assert_eq!(document["spec"]["template"]["spec"]["serviceAccountName"], "release-name-mychart");
        assert!(rendered.files.iter().any(|f| f.text.contains("kind: ServiceAccount")));
        assert!(!rendered.files.iter().any(|f| f.path.ends_with("NOTES.txt")));
    }

    #[test]
    fn overridden_values_change_the_images() {
        let root = tempfile::tempdir().expect("tempdir");
        let (dir, _) = helm_create_chart(root.path());
        let loaded = chart::load(&dir).expect("load");
        let overrides: serde_yaml::Value = serde_yaml::from_str(
            "image: {repository: quay.io/org/nginx, tag: \"2.0\"}\ninitContainers: []\nserviceAccount: {create: false}\n",
        )
        .expect("yaml");
        let found = chart_images(&loaded, Some(&overrides), &[]).expect("images");
        assert_eq!(found.images, ["quay.io/org/nginx:2.0"]);
    }

    const COMMON_IMAGES: &str = r#"{{- define "common.images.image" -}}
{{- $registryName := .imageRoot.registry -}}
{{- $repositoryName := .imageRoot.repository -}}
{{- $tag := .imageRoot.tag | toString -}}
{{- if .global }}
  {{- if .global.imageRegistry }}
    {{- $registryName = .global.imageRegistry -}}
  {{- end -}}
{{- end -}}
{{- if $registryName }}
{{- printf "%s/%s:%s" $registryName $repositoryName $tag -}}
{{- else -}}
{{- printf "%s:%s" $repositoryName $tag -}}
{{- end -}}
{{- end -}}
"#;

    fn pod(image_expression: &str) -> String {
        format!("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: c\n      image: {image_expression}\n")
    }

    /// A bitnami-style chart: a library subchart's define builds the image, one subchart is
    /// disabled by its condition (its image must not appear), one takes its values from the
    /// parent's section and `global`.
    #[test]
    fn subcharts_follow_conditions_values_sections_globals_and_library_defines() {
        let root = tempfile::tempdir().expect("tempdir");
        let parent = root.path().join("app");
        let disabled = root.path().join("sub");
        write(
            &disabled,
            &[("Chart.yaml", "name: sub\nversion: 0.1.0\n"), ("templates/pod.yaml", &pod("disabled/image:1"))],
        );
        let deployment =
            pod(r#"{{ include "common.images.image" (dict "imageRoot" .Values.image "global" .Values.global) }}"#);
        let sub2_pod =
            pod(r#""{{ .Values.global.imageRegistry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}""#);
        write(
            &parent,
            &[
                (
                    "Chart.yaml",
                    "apiVersion: v2\nname: app\nversion: 2.0.0\ndependencies:\n  - name: common\n    version: 2.x\n    repository: oci://registry-1.docker.io/bitnamicharts\n  - name: sub\n    version: 0.1.0\n    condition: sub.enabled\n  - name: sub2\n    version: 0.2.0\n    condition: sub2.enabled,global.sub2\n",
                ),
                (
                    "values.yaml",
                    "global:\n  imageRegistry: mirror.example.com\nimage:\n  registry: docker.io\n  repository: bitnami/app\n  tag: 1.2.3\nsub:\n  enabled: false\nsub2:\n  image:\n    repository: org/sub2\n",
                ),
                ("templates/deployment.yaml", &deployment),
                ("charts/common/Chart.yaml", "apiVersion: v2\nname: common\nversion: 2.20.0\ntype: library\n"),
                ("charts/common/templates/_images.tpl", COMMON_IMAGES),
                ("charts/common/templates/pod.yaml", &pod("library/never:1")),
                ("charts/sub2/Chart.yaml", "name: sub2\nversion: 0.2.0\n"),
                ("charts/sub2/values.yaml", "image:\n  repository: default/sub2\n  tag: \"0.2\"\n"),
                ("charts/sub2/templates/pod.yaml", &sub2_pod),
            ],
        );
        chart::pack_dir(&disabled, &parent.join("charts/sub-0.1.0.tgz")).expect("pack sub");
        let loaded = chart::load(&parent).expect("load");
        let found = chart_images(&loaded, None, &[]).expect("images");
        assert_eq!(found.images, ["mirror.example.com/bitnami/app:1.2.3", "mirror.example.com/org/sub2:0.2"]);
        assert_eq!(found.warnings, Vec::<String>::new());

        let overrides: serde_yaml::Value =
            serde_yaml::from_str("global: {imageRegistry: null}\nsub: {enabled: true}\n").expect("yaml");
        let found = chart_images(&loaded, Some(&overrides), &[]).expect("images");
        assert_eq!(found.images, ["docker.io/bitnami/app:1.2.3", "disabled/image:1", "/org/sub2:0.2"]);
    }

    #[test]
    fn image_paths_reach_cronjobs_pods_configmaps_and_any_depth() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("kinds");
        let cronjob = "apiVersion: batch/v1\nkind: CronJob\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n            - image: cron/image:1\n";
        let configmap = "apiVersion: v1\nkind: ConfigMap\ndata:\n  image: {{ tpl .Values.imageTemplate . | quote }}\n---\n# only a comment\n---\nkind: Custom\nspec:\n  deep:\n    - sidecar:\n        image: deep/image:3\n";
        write(
            &dir,
            &[
                ("Chart.yaml", "name: kinds\nversion: 1.0.0\n"),
                (
                    "values.yaml",
                    "registry: reg.example.com\nimageTemplate: \"{{ .Values.registry }}/config/image:2\"\n",
                ),
                ("templates/cronjob.yaml", cronjob),
                ("templates/pod.yaml", &pod("pod/image:1")),
                ("templates/configmap.yaml", configmap),
            ],
        );
        let loaded = chart::load(&dir).expect("load");
        let found = chart_images(&loaded, None, &[]).expect("images");
        assert_eq!(found.images, ["cron/image:1", "pod/image:1"]);
        let extra = ["{.data.image}".to_owned(), "{..image}".to_owned()];
        let found = chart_images(&loaded, None, &extra).expect("images");
        assert_eq!(found.images, ["reg.example.com/config/image:2", "deep/image:3", "cron/image:1", "pod/image:1"]);
    }

    #[test]
    fn a_failing_template_is_a_warning_and_the_others_still_count() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("partial");
        write(
            &dir,
            &[
                ("Chart.yaml", "name: partial\nversion: 1.0.0\n"),
                (
                    "templates/bad.yaml",
                    "kind: ConfigMap\ndata:\n  x: {{ required \"x is required\" .Values.missing }}\n",
                ),
                ("templates/unparsable.yaml", "{{ if }}"),
                ("templates/good.yaml", &pod("good/image:1")),
                (
                    "templates/broken-yaml.yaml",
                    "kind: [unclosed\n---\nspec:\n  containers:\n    - image: after/broken:1\n",
                ),
            ],
        );
        let loaded = chart::load(&dir).expect("load");
        let found = chart_images(&loaded, None, &[]).expect("images");
        assert_eq!(found.images, ["after/broken:1", "good/image:1"]);
        let joined = found.warnings.join("\n");
        assert!(found.warnings.iter().all(|w| !w.contains('\n') && !w.contains("__helm")), "{joined}");
        assert_eq!(found.warnings.len(), 3, "{joined}");
        assert!(joined.contains("partial/templates/bad.yaml") && joined.contains("x is required"), "{joined}");
        assert!(joined.contains("partial/templates/unparsable.yaml"), "{joined}");
        assert!(joined.contains("partial/templates/broken-yaml.yaml: document 1"), "{joined}");

        write(
            &dir,
            &[("templates/good.yaml", "{{ fail \"no\" }}"), ("templates/broken-yaml.yaml", "{{ fail \"no\" }}")],
        );
        let error = chart_images(&chart::load(&dir).expect("load"), None, &[]).expect_err("all failed");
        assert!(error.to_string().contains("chart partial: every template failed"), "{error}");
    }

    #[test]
    fn image_paths_parse_or_are_refused_by_name() {
        let field = |name: &str| Step::Field(name.to_owned());
        let cases: [(&str, &str, Option<Vec<Step>>); 10] = [
            (
                "braces",
                "{.spec.containers[*].image}",
                Some(vec![field("spec"), field("containers"), Step::Wildcard, field("image")]),
            ),
            ("no braces, dollar", "$.data.image", Some(vec![field("data"), field("image")])),
            (
                "quoted",
                "{.metadata.annotations['a.b/c'][\"d\"]}",
                Some(vec![field("metadata"), field("annotations"), field("a.b/c"), field("d")]),
            ),
            (
                "index",
                "{.items[0].list[-1]}",
                Some(vec![field("items"), Step::Index(0), field("list"), Step::Index(-1)]),
            ),
            ("descent", "{..image}", Some(vec![Step::Descendant("image".into())])),
            ("unclosed brace", "{.spec", None),
            ("unclosed bracket", "{.spec[0}", None),
            ("empty", "{}", None),
            ("no dot", "{spec.image}", None),
            ("bad bracket", "{.spec[a]}", None),
        ];
        for (name, path, expected) in cases {
            match (parse_path(path), expected) {
                (Ok(steps), Some(expected)) => assert_eq!(steps, expected, "{name}"),
                (Err(error), None) => assert!(error.to_string().contains(path), "{name}: {error}"),
                (result, _) => panic!("{name}: {result:?}"),
            }
        }
        let chart = chart::Chart {
            metadata: chart::Metadata { name: "c".into(), version: "1".into(), app_version: None, library: false },
            chart_yaml: serde_yaml::Value::Null,
            dependencies: Vec::new(),
            values: serde_yaml::Value::Null,
            templates: Vec::new(),
            crds: Vec::new(),
            files: std::collections::BTreeMap::new(),
            subcharts: Vec::new(),
        };
        let error = chart_images(&chart, None, &["{.spec[".to_owned()]).expect_err("bad path");
        assert!(matches!(&error, Error::Path { path, .. } if path == "{.spec["), "{error}");
    }
}
