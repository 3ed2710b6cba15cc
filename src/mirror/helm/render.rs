//! Rendering a chart like `helm template`: values merged, subcharts enabled by their
//! conditions, every template under `templates/` rendered with Helm's top-level objects, CRDs
//! taken as they are.
//!
//! The engine is gtmpl-ng (Go text/template with Sprig/Helm functions). It has no `include`,
//! `tpl` or `.Files`, because those need the whole template set while its functions are plain
//! `fn` pointers; they are provided by [`super::functions`] through a thread-local engine that
//! holds the parsed set for the length of one chart's render. All templates of a chart and of its
//! enabled subcharts are parsed into one set, so they share one `define` namespace, as in
//! Helm; subcharts are parsed first so the parent's `define` wins a name clash. A root
//! template (`DISPATCH`) renders the tree whose name it is handed, which is how one parsed
//! set renders each file and each `include`.
//!
//! Methods with arguments (`.Files.Get "x"`, `.Capabilities.APIVersions.Has "x"`) can't be
//! called on a gtmpl value, so the template text is rewritten to call functions instead
//! (`helmFilesGet "x"`), which read the chart of the file being rendered.
//!
//! A render is bounded: gtmpl's default [`Limits`] per render plus [`RENDER_DEADLINE`] per
//! file, `include`/`tpl` nested at most [`MAX_INCLUDE_DEPTH`] deep, on a thread of its own
//! with a stack sized for that depth. A file that fails becomes a warning.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use gtmpl_ng::helm_functions::HELM_FUNCTIONS;
use gtmpl_ng::{Context, Limits, Template, Value};

use super::chart::Chart;
use super::functions::{ENGINE, Engine, FUNCTIONS, Installed};

/// How long one file's render may take, `include`s and `tpl`s in it included.
pub const RENDER_DEADLINE: Duration = Duration::from_secs(5);

/// How deep `include` and `tpl` may nest. Each level is a render of its own, with gtmpl's
/// nesting cap starting over, so this is what keeps a self-including template off the stack.
pub const MAX_INCLUDE_DEPTH: usize = 32;

/// Stack of the render thread: gtmpl's 100 nested bodies per render fit in 2 MiB, and a chart
/// may nest [`MAX_INCLUDE_DEPTH`] renders. Only touched pages are ever committed.
const RENDER_STACK_BYTES: usize = 128 * 1024 * 1024;

/// The name of the root template; chart template names are paths, so it can't clash.
const DISPATCH: &str = "__helm_dispatch";

/// Renders the tree named by `index . 0` with `index . 1` as its data.
const DISPATCH_TEXT: &str = "{{- template (index . 0) (index . 1) -}}";

/// Why a chart could not be rendered at all.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Every template of the chart failed; the first failure is given.
    #[error("chart {chart}: every template failed to render; first: {first}")]
    AllTemplatesFailed {
        /// The chart's name.
        chart: String,
        /// The first failure, with its file and position.
        first: String,
    },
    /// The render thread could not be started, or panicked.
    #[error("chart {chart}: {message}")]
    Thread {
        /// The chart's name.
        chart: String,
        /// What happened.
        message: String,
    },
}

/// One rendered (or, for a CRD, copied) file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Helm's template name: `mychart/templates/deployment.yaml`,
    /// `mychart/charts/sub/templates/x.yaml`, `mychart/crds/crd.yaml`.
    pub path: String,
    /// The output, `<no value>` removed as Helm removes it.
    pub text: String,
}

/// A chart rendered: the files that rendered, and why the others did not.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// In render order: the chart's files, then each enabled subchart's.
    pub files: Vec<RenderedFile>,
    /// One line per file that failed to parse or render: its name and the engine's message.
    pub warnings: Vec<String>,
}

/// Renders `chart` with its default values deep-merged with `overrides` (which win).
///
/// # Errors
/// [`Error::AllTemplatesFailed`] when the chart has templates to render and none rendered;
/// [`Error::Thread`] when the render thread can't run.
pub fn render(chart: &Chart, overrides: Option<&serde_yaml::Value>) -> Result<Rendered, Error> {
    let thread_error = |message: String| Error::Thread { chart: chart.metadata.name.clone(), message };
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("helm-render".into())
            .stack_size(RENDER_STACK_BYTES)
            .spawn_scoped(scope, || render_here(chart, overrides))
            .map_err(|e| thread_error(format!("can't start the render thread: {e}")))?
            .join()
            .map_err(|_| thread_error("the template engine panicked".into()))?
    })
}

/// A chart as it renders: itself or an enabled subchart, with the values it sees.
struct Instance<'c> {
    chart: &'c Chart,
    /// `mychart` or `mychart/charts/<alias or name>`.
    prefix: String,
    values: serde_yaml::Value,
}

fn render_here(chart: &Chart, overrides: Option<&serde_yaml::Value>) -> Result<Rendered, Error> {
    let mut values = chart.values.clone();
    if let Some(overrides) = overrides {
        merge_values(&mut values, overrides);
    }
    let mut instances = Vec::new();
    collect_instances(chart, values, chart.metadata.name.clone(), &mut instances);

    let mut rendered = Rendered::default();
    let mut set = new_template();
    DISPATCH.clone_into(&mut set.name);
    set.parse(DISPATCH_TEXT)
        .map_err(|e| Error::Thread { chart: chart.metadata.name.clone(), message: e.to_string() })?;
    let mut unparsed = Vec::new();
    // Deepest first, so a parent's define replaces a subchart's of the same name.
    for instance in instances.iter().rev() {
        for file in &instance.chart.templates {
            let name = format!("{}/{}", instance.prefix, file.path);
            if let Err(e) = set.add_template(name.clone(), rewrite_methods(&file.text)) {
                rendered.warnings.push(format!("{name}: {}", one_line(&e)));
                unparsed.push(name);
            }
        }
    }
    let set = Rc::new(set);
    ENGINE.set(Some(Engine {
        set: set.clone(),
        tpl_cache: HashMap::new(),
        files: Rc::default(),
        deadline: Instant::now(),
        depth: 0,
    }));
    let _installed = Installed;

    let (mut attempted, mut failed) = (0, 0);
    let mut first_failure = rendered.warnings.first().cloned();
    for instance in instances.iter().filter(|i| !i.chart.metadata.library) {
        let files = Rc::new(instance.chart.files.clone());
        for file in instance.chart.templates.iter().filter(|f| is_rendered(&f.path)) {
            let name = format!("{}/{}", instance.prefix, file.path);
            attempted += 1;
            if unparsed.contains(&name) {
                failed += 1;
                continue;
            }
            ENGINE.with_borrow_mut(|engine| {
                if let Some(engine) = engine {
                    engine.files = files.clone();
                    engine.deadline = Instant::now() + RENDER_DEADLINE;
                }
            });
            let data = Value::Array(vec![Value::from(name.as_str()), top_level_objects(instance, &name)]);
            match set.render(&Context::from(data)) {
                Ok(text) => rendered.files.push(RenderedFile { path: name, text: text.replace("<no value>", "") }),
                Err(e) => {
                    let warning = format!("{name}: {}", one_line(&e));
                    first_failure.get_or_insert_with(|| warning.clone());
                    rendered.warnings.push(warning);
                    failed += 1;
                }
            }
        }
        for crd in &instance.chart.crds {
            rendered
                .files
                .push(RenderedFile { path: format!("{}/{}", instance.prefix, crd.path), text: crd.text.clone() });
        }
    }
    if attempted > 0 && attempted == failed {
        return Err(Error::AllTemplatesFailed {
            chart: chart.metadata.name.clone(),
            first: first_failure.unwrap_or_default(),
        });
    }
    Ok(rendered)
}

/// The engine's message on one line, without the frame of the dispatching root template.
pub(super) fn one_line(error: &dyn std::fmt::Display) -> String {
    let text = error.to_string();
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.contains(DISPATCH)).collect();
    lines.join("; ")
}

/// Helm renders every file under `templates/` except partials (`_*`) and discards NOTES.txt.
fn is_rendered(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path);
    !file.starts_with('_') && file != "NOTES.txt"
}

/// The chart and its enabled subcharts, parent first, each with the values it sees: its own
/// `values.yaml` under the parent's section for it (`values[<alias or name>]`), and the
/// parent's `global` merged into its `global`.
fn collect_instances<'c>(chart: &'c Chart, values: serde_yaml::Value, prefix: String, out: &mut Vec<Instance<'c>>) {
    let mut children = Vec::new();
    for sub in &chart.subcharts {
        let deps: Vec<_> = chart.dependencies.iter().filter(|d| d.name == sub.metadata.name).collect();
        let keys: Vec<(String, bool)> = if deps.is_empty() {
            vec![(sub.metadata.name.clone(), true)]
        } else {
            deps.iter()
                .map(|d| {
                    let key = d.alias.clone().unwrap_or_else(|| d.name.clone());
                    (key, condition_holds(d.condition.as_deref(), &values))
                })
                .collect()
        };
        for key in keys.into_iter().filter_map(|(key, enabled)| enabled.then_some(key)) {
            let mut sub_values = sub.values.clone();
            if let Some(section) = values.get(key.as_str()) {
                merge_values(&mut sub_values, section);
            }
            if let Some(global) = values.get("global") {
                let mut merged = sub_values.get("global").cloned().unwrap_or(serde_yaml::Value::Null);
                merge_values(&mut merged, global);
                if let serde_yaml::Value::Mapping(map) = &mut sub_values {
                    map.insert("global".into(), merged);
                }
            }
            children.push((sub, sub_values, format!("{prefix}/charts/{key}")));
        }
    }
    out.push(Instance { chart, prefix, values });
    for (sub, sub_values, sub_prefix) in children {
        collect_instances(sub, sub_values, sub_prefix, out);
    }
}

/// A dependency's `condition`: the first of its comma-separated value paths that is a bool
/// decides; none that is means enabled.
fn condition_holds(condition: Option<&str>, values: &serde_yaml::Value) -> bool {
    for path in condition.unwrap_or_default().split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let found = path.split('.').try_fold(values, |node, key| node.get(key));
        if let Some(serde_yaml::Value::Bool(enabled)) = found {
            return *enabled;
        }
    }
    true
}

/// Helm's value coalescing: mappings merge key by key, anything else in `over` replaces, and
/// a null in `over` deletes the key.
pub fn merge_values(base: &mut serde_yaml::Value, over: &serde_yaml::Value) {
    match (base, over) {
        (serde_yaml::Value::Mapping(base), serde_yaml::Value::Mapping(over)) => {
            for (key, value) in over {
                if value.is_null() {
                    base.remove(key);
                } else if let Some(existing) = base.get_mut(key) {
                    merge_values(existing, value);
                } else {
                    base.insert(key.clone(), value.clone());
                }
            }
        }
        (base, over) => *base = over.clone(),
    }
}

/// A YAML value as a template value; mapping keys become their text.
fn to_value(yaml: &serde_yaml::Value) -> Value {
    match yaml {
        serde_yaml::Value::Null => Value::Nil,
        serde_yaml::Value::Bool(b) => Value::Bool(*b),
        serde_yaml::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or_default())
            }
        }
        serde_yaml::Value::String(s) => Value::from(s.as_str()),
        serde_yaml::Value::Sequence(items) => Value::Array(items.iter().map(to_value).collect()),
        serde_yaml::Value::Mapping(map) => Value::Map(map.iter().map(|(k, v)| (key_text(k), to_value(v))).collect()),
        serde_yaml::Value::Tagged(tagged) => to_value(&tagged.value),
    }
}

fn key_text(key: &serde_yaml::Value) -> String {
    match key {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        serde_yaml::Value::Number(n) => n.to_string(),
        other => serde_yaml::to_string(other).unwrap_or_default().trim_end().to_owned(),
    }
}

/// A `Map` rather than an `Object`: gtmpl reads a missing key of a map as `<no value>`, as Go
/// does, but refuses a missing field of an object.
fn object(entries: &[(&str, Value)]) -> Value {
    Value::Map(entries.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect())
}

/// What a template sees as `.`: `.Values`, `.Chart`, `.Release`, `.Capabilities`,
/// `.Template`, `.Files`.
fn top_level_objects(instance: &Instance<'_>, name: &str) -> Value {
    let base_path = name.rsplit_once("/templates/").map_or_else(String::new, |(dir, _)| format!("{dir}/templates"));
    object(&[
        ("Values", to_value(&instance.values)),
        ("Chart", chart_object(instance.chart)),
        (
            "Release",
            object(&[
                ("Name", "release-name".into()),
                ("Namespace", "default".into()),
                ("Service", "Helm".into()),
                ("IsInstall", true.into()),
                ("IsUpgrade", false.into()),
                ("Revision", 1_i64.into()),
            ]),
        ),
        (
            "Capabilities",
            object(&[
                (
                    "KubeVersion",
                    object(&[
                        ("Version", "v1.30.0".into()),
                        ("Major", "1".into()),
                        ("Minor", "30".into()),
                        ("GitVersion", "v1.30.0".into()),
                    ]),
                ),
                ("APIVersions", Value::Array(API_VERSIONS.iter().map(|v| Value::from(*v)).collect())),
                ("HelmVersion", object(&[("Version", "v3.14.0".into())])),
            ]),
        ),
        ("Template", object(&[("Name", name.into()), ("BasePath", base_path.into())])),
        ("Files", object(&[])),
    ])
}

/// `.Chart`: `Chart.yaml` with Helm's Go field names (first letter capitalised, `apiVersion`
/// as `APIVersion`).
fn chart_object(chart: &Chart) -> Value {
    let mut fields = HashMap::new();
    if let serde_yaml::Value::Mapping(map) = &chart.chart_yaml {
        for (key, value) in map {
            let key = key_text(key);
            if key == "apiVersion" {
                fields.insert("APIVersion".to_owned(), to_value(value));
            }
            let mut letters = key.chars();
            if let Some(first) = letters.next() {
                fields.insert(first.to_uppercase().chain(letters).collect(), to_value(value));
            }
        }
    }
    let metadata = &chart.metadata;
    fields.insert("Name".into(), metadata.name.as_str().into());
    fields.insert("Version".into(), metadata.version.as_str().into());
    fields.insert("AppVersion".into(), metadata.app_version.clone().unwrap_or_default().into());
    Value::Map(fields)
}

/// The API versions `helm template` knows without a cluster (those of Kubernetes 1.30).
pub(super) const API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "apiextensions.k8s.io/v1",
    "apiregistration.k8s.io/v1",
    "apps/v1",
    "authentication.k8s.io/v1",
    "authorization.k8s.io/v1",
    "autoscaling/v1",
    "autoscaling/v2",
    "batch/v1",
    "certificates.k8s.io/v1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "events.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1",
    "networking.k8s.io/v1",
    "node.k8s.io/v1",
    "policy/v1",
    "rbac.authorization.k8s.io/v1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1",
];

static METHOD_CALL: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(
        r"(?:\$[A-Za-z0-9_]*)?(?:\.[A-Za-z0-9_]+)*\.(?:Files\.(Get|GetBytes|Glob|Lines)|Capabilities\.APIVersions\.Has)\b",
    )
    .expect("a valid regular expression")
});

/// Rewrites `<receiver>.Files.Get` and friends, and `<receiver>.Capabilities.APIVersions.Has`,
/// into calls of the functions that stand for them.
pub(super) fn rewrite_methods(text: &str) -> String {
    METHOD_CALL
        .replace_all(text, |captures: &regex::Captures<'_>| match captures.get(1) {
            Some(method) => format!("helmFiles{}", method.as_str()),
            None => "helmAPIVersionsHas".to_owned(),
        })
        .into_owned()
}

/// A template with Helm's functions and ours, under gtmpl's default limits plus a deadline.
pub(super) fn new_template() -> Template {
    let mut template = Template::with_limits(Limits::default().with_deadline(RENDER_DEADLINE));
    template.add_funcs(HELM_FUNCTIONS);
    template.add_funcs(FUNCTIONS);
    template
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn render_text(text: &str) -> String {
        let chart = Chart {
            metadata: super::super::chart::Metadata {
                name: "t".into(),
                version: "1.0.0".into(),
                app_version: Some("2.0".into()),
                library: false,
            },
            chart_yaml: serde_yaml::from_str("name: t\nversion: 1.0.0\nappVersion: \"2.0\"\napiVersion: v2\n")
                .expect("yaml"),
            dependencies: Vec::new(),
            values: serde_yaml::from_str("x: 42\nname: world\ngreeting: \"hello {{ .Values.name }}\"\n").expect("yaml"),
            templates: vec![
                super::super::chart::SourceFile { path: "templates/t.yaml".into(), text: text.into() },
                super::super::chart::SourceFile {
                    path: "templates/_h.tpl".into(),
                    text: "{{- define \"t.name\" -}}{{ .Chart.Name }}-{{ .Values.x }}{{- end -}}".into(),
                },
            ],
            crds: Vec::new(),
            files: BTreeMap::from([("conf/a.txt".to_owned(), b"line1\nline2".to_vec())]),
            subcharts: Vec::new(),
        };
        let rendered = render(&chart, None).expect("render");
        assert_eq!(rendered.warnings, Vec::<String>::new());
        rendered.files[0].text.clone()
    }

    #[test]
    fn helm_objects_and_added_functions_render_like_helm() {
        let cases = [
            ("tpl of a value", "{{ tpl .Values.greeting . }}", "hello world"),
            ("include", "{{ include \"t.name\" . }}", "t-42"),
            ("nindent", "a:{{ \"b: 1\" | nindent 2 }}", "a:\n  b: 1"),
            ("missing value", "[{{ .Values.nope }}]", "[]"),
            (
                "release",
                "{{ .Release.Name }} {{ .Release.Namespace }} {{ .Release.Service }}",
                "release-name default Helm",
            ),
            (
                "chart",
                "{{ .Chart.Name }} {{ .Chart.Version }} {{ .Chart.AppVersion }} {{ .Chart.APIVersion }}",
                "t 1.0.0 2.0 v2",
            ),
            ("template", "{{ .Template.Name }} {{ .Template.BasePath }}", "t/templates/t.yaml t/templates"),
            ("capabilities", "{{ .Capabilities.KubeVersion.Version }}", "v1.30.0"),
            (
                "api versions",
                "{{ .Capabilities.APIVersions.Has \"policy/v1\" }} {{ $.Capabilities.APIVersions.Has \"x/v9\" }}",
                "true false",
            ),
            ("files", "{{ .Files.Get \"conf/a.txt\" | upper }}|{{ .Files.Get \"none\" }}", "LINE1\nLINE2|"),
            ("files lines", "{{ range .Files.Lines \"conf/a.txt\" }}<{{ . }}>{{ end }}", "<line1><line2>"),
            ("files glob", "{{ range $p, $_ := .Files.Glob \"conf/*\" }}{{ $p }}{{ end }}", "conf/a.txt"),
            (
                "semverCompare",
                "{{ semverCompare \">=1.19-0\" .Capabilities.KubeVersion.GitVersion }} {{ semverCompare \"<1.14-0\" \"v1.30.0\" }} {{ semverCompare \"^1.2\" \"1.9.0\" }} {{ semverCompare \"~1.2\" \"1.3.0\" }}",
                "true false true false",
            ),
            ("join and splitList", "{{ splitList \",\" \"b,a\" | sortAlpha | join \"-\" }}", "a-b"),
            ("lookup", "{{ if lookup \"v1\" \"Secret\" \"ns\" \"n\" }}found{{ else }}none{{ end }}", "none"),
        ];
        for (name, template, expected) in cases {
            assert_eq!(render_text(template), expected, "{name}");
        }
    }

    #[test]
    fn a_self_including_template_is_stopped() {
        let chart_text = "{{- define \"loop\" }}{{ include \"loop\" . }}{{ end }}{{ include \"loop\" . }}";
        let chart = Chart {
            metadata: super::super::chart::Metadata {
                name: "t".into(),
                version: "1".into(),
                app_version: None,
                library: false,
            },
            chart_yaml: serde_yaml::Value::Null,
            dependencies: Vec::new(),
            values: serde_yaml::Value::Null,
            templates: vec![super::super::chart::SourceFile {
                path: "templates/t.yaml".into(),
                text: chart_text.into(),
            }],
            crds: Vec::new(),
            files: BTreeMap::new(),
            subcharts: Vec::new(),
        };
        let error = render(&chart, None).expect_err("recursion");
        assert!(error.to_string().contains("nested more than 32 deep"), "{error}");
    }

    #[test]
    fn values_merge_recursively_and_null_deletes() {
        let mut base: serde_yaml::Value = serde_yaml::from_str("a: {b: 1, c: 2}\nl: [1, 2]\nd: 1\n").expect("yaml");
        let over: serde_yaml::Value = serde_yaml::from_str("a: {c: 3}\nl: [9]\nd: null\n").expect("yaml");
        merge_values(&mut base, &over);
        let expected: serde_yaml::Value = serde_yaml::from_str("a: {b: 1, c: 3}\nl: [9]\n").expect("yaml");
        assert_eq!(base, expected);
    }
}
