//! The template functions Helm has and gtmpl-ng lacks: `include`, `tpl` and `.Files`, which
//! need the chart's whole template set, and a few Sprig ones (`nindent`, `semverCompare`,
//! `join`, ...). gtmpl functions are plain `fn` pointers, so the set reaches them through a
//! thread-local [`Engine`] that [`super::render`] installs for the length of one chart's
//! render (rendering runs on a thread of its own).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::Instant;

use gtmpl_ng::{Context, Func, FuncError, Template, Value};

use crate::mirror::version::{Range, Version};

use super::render::{API_VERSIONS, MAX_INCLUDE_DEPTH, RENDER_DEADLINE, new_template, one_line, rewrite_methods};

/// What `include`, `tpl` and `helmFiles*` need, installed for one chart's render.
pub(super) struct Engine {
    pub(super) set: Rc<Template>,
    pub(super) tpl_cache: HashMap<String, Rc<Template>>,
    /// `.Files` of the chart whose file is rendering.
    pub(super) files: Rc<BTreeMap<String, Vec<u8>>>,
    pub(super) deadline: Instant,
    pub(super) depth: usize,
}

thread_local! {
    pub(super) static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

/// Clears the thread's engine when the render ends, however it ends.
pub(super) struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        ENGINE.set(None);
    }
}

/// The functions Helm has that gtmpl-ng's set lacks.
pub(super) const FUNCTIONS: &[(&str, Func)] = &[
    ("include", include),
    ("tpl", tpl),
    ("nindent", nindent),
    ("lookup", lookup),
    ("semverCompare", semver_compare),
    ("join", join),
    ("splitList", split_list),
    ("sortAlpha", sort_alpha),
    ("helmFilesGet", files_get),
    ("helmFilesGetBytes", files_get),
    ("helmFilesGlob", files_glob),
    ("helmFilesLines", files_lines),
    ("helmAPIVersionsHas", api_versions_has),
];

fn refuse(message: impl Into<String>) -> FuncError {
    FuncError::Generic(message.into())
}

fn string_arg(args: &[Value], index: usize, function: &str) -> Result<String, FuncError> {
    match args.get(index) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Nil | Value::NoValue) => Ok(String::new()),
        Some(other) => Ok(other.to_string()),
        None => Err(FuncError::AtLeastXArgs(function.to_owned(), index + 1)),
    }
}

/// Leaves one level of `include`/`tpl` nesting when dropped.
struct Nested;

impl Drop for Nested {
    fn drop(&mut self) {
        ENGINE.with_borrow_mut(|engine| {
            if let Some(engine) = engine {
                engine.depth = engine.depth.saturating_sub(1);
            }
        });
    }
}

/// Enters one level of `include`/`tpl`: checks the file's deadline and the depth, and hands
/// out the set. The `RefCell` borrow ends here, before any render, so nesting works.
fn enter(function: &str) -> Result<(Rc<Template>, Nested), FuncError> {
    ENGINE.with_borrow_mut(|engine| {
        let engine = engine.as_mut().ok_or_else(|| refuse(format!("{function}: no chart is rendering")))?;
        if Instant::now() >= engine.deadline {
            return Err(refuse(format!("{function}: the file did not render within {RENDER_DEADLINE:?}")));
        }
        if engine.depth >= MAX_INCLUDE_DEPTH {
            return Err(refuse(format!("{function}: nested more than {MAX_INCLUDE_DEPTH} deep")));
        }
        engine.depth += 1;
        Ok((engine.set.clone(), Nested))
    })
}

/// `include NAME DATA`: the `define`d template `NAME` rendered with `DATA`, as a string.
fn include(args: &[Value]) -> Result<Value, FuncError> {
    let name = string_arg(args, 0, "include")?;
    let data = args.get(1).cloned().unwrap_or(Value::Nil);
    let (set, _nested) = enter("include")?;
    let output = set.render(&Context::from(Value::Array(vec![Value::from(name), data])));
    output.map(Value::from).map_err(|e| refuse(one_line(&e)))
}

/// `tpl TEXT DATA`: `TEXT` rendered as a template with `DATA`. Its `include`s see the chart's
/// defines; a `{{ template }}` action in it does not.
fn tpl(args: &[Value]) -> Result<Value, FuncError> {
    let text = string_arg(args, 0, "tpl")?;
    if !text.contains("{{") {
        return Ok(Value::from(text));
    }
    let data = args.get(1).cloned().unwrap_or(Value::Nil);
    let (_set, _nested) = enter("tpl")?;
    let cached = ENGINE.with_borrow(|engine| engine.as_ref().and_then(|e| e.tpl_cache.get(&text).cloned()));
    let template = if let Some(template) = cached {
        template
    } else {
        let mut template = new_template();
        "tpl".clone_into(&mut template.name);
        template.parse(rewrite_methods(&text)).map_err(|e| refuse(format!("tpl: {}", one_line(&e))))?;
        let template = Rc::new(template);
        ENGINE.with_borrow_mut(|engine| {
            if let Some(engine) = engine {
                engine.tpl_cache.insert(text, template.clone());
            }
        });
        template
    };
    let output = template.render(&Context::from(data)).map_err(|e| refuse(one_line(&e)))?;
    Ok(Value::from(output.replace("<no value>", "")))
}

/// `nindent N TEXT`: a newline, then `TEXT` indented by `N` spaces.
fn nindent(args: &[Value]) -> Result<Value, FuncError> {
    let indented = gtmpl_ng::helm_functions::string::indent(args)?;
    Ok(Value::from(format!("\n{indented}")))
}

/// `lookup`: there is no cluster when rendering for mirroring, so nothing is found, as with
/// `helm template`.
#[allow(clippy::unnecessary_wraps, reason = "every template function has the `Func` signature")]
fn lookup(_args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::Map(HashMap::new()))
}

fn join(args: &[Value]) -> Result<Value, FuncError> {
    let separator = string_arg(args, 0, "join")?;
    let joined = match args.get(1) {
        Some(Value::Array(items)) => items.iter().map(ToString::to_string).collect::<Vec<_>>().join(&separator),
        Some(other) => other.to_string(),
        None => return Err(FuncError::ExactlyXArgs("join".into(), 2)),
    };
    Ok(Value::from(joined))
}

fn split_list(args: &[Value]) -> Result<Value, FuncError> {
    let separator = string_arg(args, 0, "splitList")?;
    let text = string_arg(args, 1, "splitList")?;
    if separator.is_empty() {
        return Ok(Value::Array(text.chars().map(|c| Value::from(c.to_string())).collect()));
    }
    Ok(Value::Array(text.split(separator.as_str()).map(Value::from).collect()))
}

fn sort_alpha(args: &[Value]) -> Result<Value, FuncError> {
    let mut items: Vec<String> = match args.first() {
        Some(Value::Array(items)) => items.iter().map(ToString::to_string).collect(),
        Some(other) => vec![other.to_string()],
        None => return Err(FuncError::ExactlyXArgs("sortAlpha".into(), 1)),
    };
    items.sort();
    Ok(Value::Array(items.into_iter().map(Value::from).collect()))
}

fn current_files() -> Rc<BTreeMap<String, Vec<u8>>> {
    ENGINE.with_borrow(|engine| engine.as_ref().map(|e| e.files.clone()).unwrap_or_default())
}

fn files_get(args: &[Value]) -> Result<Value, FuncError> {
    let path = string_arg(args, 0, "Files.Get")?;
    let files = current_files();
    Ok(Value::from(files.get(&path).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default()))
}

fn files_lines(args: &[Value]) -> Result<Value, FuncError> {
    let Value::String(text) = files_get(args)? else { return Ok(Value::Array(Vec::new())) };
    Ok(Value::Array(text.lines().map(Value::from).collect()))
}

/// `.Files.Glob`: the matching files by path (`*` within a directory, `**` across them).
fn files_glob(args: &[Value]) -> Result<Value, FuncError> {
    let pattern = string_arg(args, 0, "Files.Glob")?;
    let mut expression = String::from("^");
    let mut rest = pattern.as_str();
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("**") {
            expression.push_str(".*");
            rest = after;
            continue;
        }
        match c {
            '*' => expression.push_str("[^/]*"),
            '?' => expression.push_str("[^/]"),
            c => expression.push_str(&regex::escape(&c.to_string())),
        }
        rest = &rest[c.len_utf8()..];
    }
    expression.push('$');
    let matcher = regex::Regex::new(&expression).map_err(|e| refuse(format!("Files.Glob: {e}")))?;
    let files = current_files();
    Ok(Value::Map(
        files
            .iter()
            .filter(|(path, _)| matcher.is_match(path))
            .map(|(path, bytes)| (path.clone(), Value::from(String::from_utf8_lossy(bytes).into_owned())))
            .collect(),
    ))
}

/// `.Capabilities.APIVersions.Has`: a group/version, or a group/version/kind, that
/// Kubernetes 1.30 serves.
fn api_versions_has(args: &[Value]) -> Result<Value, FuncError> {
    let wanted = string_arg(args, 0, "APIVersions.Has")?;
    let known = API_VERSIONS.contains(&wanted.as_str())
        || wanted.rsplit_once('/').is_some_and(|(group_version, _kind)| API_VERSIONS.contains(&group_version));
    Ok(Value::Bool(known))
}

/// `semverCompare CONSTRAINT VERSION`, Helm's constraint dialect ([`Range::parse_helm`]);
/// the version's pre-release part is ignored, as the constraints charts write (`>=1.19-0`)
/// mean it to be.
fn semver_compare(args: &[Value]) -> Result<Value, FuncError> {
    let constraint = string_arg(args, 0, "semverCompare")?;
    let version = string_arg(args, 1, "semverCompare")?;
    let range = Range::parse_helm(&constraint).map_err(|e| refuse(format!("semverCompare: {e}")))?;
    let version = Version::parse_lenient(&version).map_err(|e| refuse(format!("semverCompare: {e}")))?;
    Ok(Value::Bool(range.contains(&version.core())))
}
