//! Checks made after decoding, with oc-mirror's messages: duplicate catalogs, packages,
//! channels and release channels, semantic versions, mixed version filters, target names,
//! `blockedImages` regular expressions, helm repositories and image paths. A [`Locator`] finds
//! the offending value in the text so that each problem carries a line and column.

use super::Problem;
use super::schema::{AdditionalImage, Helm, NamedImage, Operator, Package, Platform};
use crate::reference::image::ImageRef;
use crate::reference::{RepoName, Tag};

pub(super) fn validate_operators(operators: &[Operator], locator: &Locator, problems: &mut Vec<Problem>) {
    let mut catalogs = std::collections::HashSet::new();
    for op in operators {
        if let Some(target) = &op.target_catalog
            && target.parse::<RepoName>().is_err()
        {
            problems.push(locator.problem(
                "targetCatalog",
                target,
                format!(
                    "targetCatalog: {target} - value is not valid. It should not contain a tag or a digest. It is expected to be composed of 1 or more path components separated by /"
                ),
            ));
        }
        let unique = catalog_unique_name(op);
        if !catalogs.insert(unique.clone()) {
            problems.push(locator.nth_problem(
                "catalog",
                &op.catalog,
                2,
                format!("catalog {unique:?}: duplicate found in configuration"),
            ));
        }
        if let Some(template) = &op.target_catalog_source_template
            && let Err(e) = crate::mirror::resources::read_catalog_source_template(std::path::Path::new(template))
        {
            problems.push(locator.problem(
                "targetCatalogSourceTemplate",
                template,
                format!("targetCatalogSourceTemplate: {e}"),
            ));
        }
        if let Err(e) = op.catalog.parse::<super::CatalogRef>() {
            let hint = placeholder_hint(&op.catalog);
            problems.push(locator.problem("catalog", &op.catalog, format!("catalog {:?}: {e}{hint}", op.catalog)));
        }
        let mut packages = std::collections::HashSet::new();
        for pkg in &op.packages {
            for rule in filter_conflicts(op, pkg) {
                problems.push(locator.problem(
                    "name",
                    &pkg.name,
                    format!("catalog {:?}: operator {:?}: {rule}", op.catalog, pkg.name),
                ));
            }
            if !packages.insert(pkg.name.as_str()) {
                problems.push(locator.nth_problem(
                    "name",
                    &pkg.name,
                    2,
                    format!("catalog {:?}: duplicate package entry {:?}", op.catalog, pkg.name),
                ));
            }
            for (key, version) in [("maxVersion", &pkg.max_version), ("minVersion", &pkg.min_version)] {
                if let Some(v) = version
                    && !is_semver(v)
                {
                    problems.push(locator.problem(
                        key,
                        v,
                        format!(
                            "catalog {:?}: operator {:?}: {key} {v:?} must respect semantic versioning notation",
                            op.catalog, pkg.name
                        ),
                    ));
                }
            }
            let mut channels = std::collections::HashSet::new();
            for ch in &pkg.channels {
                if !channels.insert(ch.name.as_str()) {
                    problems.push(locator.nth_problem(
                        "name",
                        &ch.name,
                        2,
                        format!(
                            "catalog {:?}: operator {:?}: duplicate channel entry {:?}",
                            op.catalog, pkg.name, ch.name
                        ),
                    ));
                }
                for (key, version) in [("maxVersion", &ch.max_version), ("minVersion", &ch.min_version)] {
                    if let Some(v) = version
                        && !is_semver(v)
                    {
                        problems.push(locator.problem(
                            key,
                            v,
                            format!(
                                "catalog {:?}: operator {:?}: channel {:?}: {key} {v:?} must respect semantic versioning notation",
                                op.catalog, pkg.name, ch.name
                            ),
                        ));
                    }
                }
            }
        }
    }
}

/// The combinations of filters the oc-mirror v2 documentation rules out for one package, each as
/// the rule it breaks. Checked at load time, so that nothing is contacted for a configuration
/// whose meaning is unclear.
fn filter_conflicts(op: &Operator, pkg: &Package) -> Vec<&'static str> {
    let package_range = pkg.min_version.is_some() || pkg.max_version.is_some();
    let channel_range = pkg.channels.iter().any(|c| c.min_version.is_some() || c.max_version.is_some());
    let mut rules = Vec::new();
    if package_range && channel_range {
        rules.push(
            "mixing both filtering by minVersion/maxVersion and filtering by channel minVersion/maxVersion is not allowed",
        );
    } else if package_range && !pkg.channels.is_empty() {
        rules.push(
            "package-level minVersion/maxVersion apply to the default channel and cannot be combined with channels; set minVersion/maxVersion on each channel instead",
        );
    }
    if op.full && (package_range || channel_range) {
        rules.push("full: true selects every bundle and cannot be combined with minVersion/maxVersion");
    }
    if !pkg.bundles.is_empty() {
        if !pkg.channels.is_empty() {
            rules.push("bundles and channels cannot be used together: bundles select exactly the bundles named");
        }
        if package_range {
            rules.push(
                "bundles and minVersion/maxVersion cannot be used together: bundles select exactly the bundles named",
            );
        }
        if op.full {
            rules.push("bundles and full: true cannot be used together: bundles select exactly the bundles named");
        }
    }
    rules
}

/// The name oc-mirror uses to tell catalogs apart: the catalog reference with `targetCatalog`
/// and `targetTag` applied.
fn catalog_unique_name(op: &Operator) -> String {
    let mut name = op.catalog.clone();
    if let Some(tag) = &op.target_tag
        && let Some(i) = name.rfind(':').filter(|&i| !name[i..].contains('/'))
    {
        name.replace_range(i + 1.., tag);
    }
    if let Some(target) = &op.target_catalog {
        name = format!("{name} as {target}");
    }
    name
}

pub(super) fn validate_channels(platform: Option<&Platform>, locator: &Locator, problems: &mut Vec<Problem>) {
    let Some(platform) = platform else { return };
    for arch in &platform.architectures {
        if crate::mirror::platform::graph::arch_tag(arch).is_none() {
            problems.push(locator.problem(
                "architectures",
                arch,
                format!(
                    "platform.architectures: {arch:?} is not one of {}",
                    crate::mirror::platform::graph::ARCHITECTURES.join(", ")
                ),
            ));
        }
    }
    if let Some(release) = &platform.release
        && let Err(e) = release.trim_start_matches("docker://").parse::<ImageRef>()
    {
        let hint = placeholder_hint(release);
        problems.push(locator.problem("release", release, format!("platform.release: {e}{hint}")));
    }
    let mut seen = std::collections::HashSet::new();
    for ch in &platform.channels {
        if !seen.insert(ch.name.as_str()) {
            problems.push(locator.nth_problem(
                "name",
                &ch.name,
                2,
                format!("release channel {:?}: duplicate found in configuration", ch.name),
            ));
        }
        if let Some(t) = &ch.platform_type
            && t != "ocp"
            && t != "okd"
        {
            problems.push(locator.problem(
                "type",
                t,
                format!("release channel {:?}: type must be ocp or okd", ch.name),
            ));
        }
        for (key, version) in [("maxVersion", &ch.max_version), ("minVersion", &ch.min_version)] {
            if let Some(v) = version
                && !is_semver(v)
            {
                problems.push(locator.problem(
                    key,
                    v,
                    format!("release channel {:?}: {key} {v:?} must respect semantic versioning notation", ch.name),
                ));
            }
        }
    }
}

pub(super) fn validate_additional_images(images: &[AdditionalImage], locator: &Locator, problems: &mut Vec<Problem>) {
    for image in images {
        if let Err(e) = image.name.trim_start_matches("docker://").parse::<ImageRef>() {
            let hint = placeholder_hint(&image.name);
            problems.push(locator.problem("name", &image.name, format!("additionalImages: {e}{hint}")));
        }
        if let Some(repo) = &image.target_repo
            && repo.parse::<RepoName>().is_err()
        {
            problems.push(locator.problem(
                "targetRepo",
                repo,
                format!(
                    "targetRepo: {repo} - value is not valid. It is expected to be composed of 1 or more path components separated by /, without a tag or digest"
                ),
            ));
        }
        if let Some(tag) = &image.target_tag
            && let Err(e) = tag.parse::<Tag>()
        {
            problems.push(locator.problem("targetTag", tag, format!("targetTag: {e}")));
        }
    }
}

/// `helm.repositories` need a name and an http(s) URL, their charts a name; `helm.local`
/// charts a name and a path.
pub(super) fn validate_helm(helm: &Helm, locator: &Locator, problems: &mut Vec<Problem>) {
    for repo in &helm.repositories {
        if repo.name.trim().is_empty() {
            problems.push(locator.problem("url", &repo.url, format!("helm repository {}: name is empty", repo.url)));
        }
        let scheme_ok = reqwest::Url::parse(&repo.url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !scheme_ok {
            problems.push(locator.problem(
                "url",
                &repo.url,
                format!("helm repository {}: url {:?} is not an http(s) URL", repo.name, repo.url),
            ));
        }
        for chart in repo.charts.iter().filter(|c| c.name.trim().is_empty()) {
            let version = chart.version.clone().unwrap_or_default();
            problems.push(locator.problem(
                "version",
                &version,
                format!("helm repository {}: a chart has no name", repo.name),
            ));
        }
    }
    for local in helm.local.iter().filter(|l| l.path.as_deref().is_none_or(|p| p.trim().is_empty())) {
        problems.push(locator.problem(
            "name",
            &local.name,
            format!("helm local chart {}: path is required", local.name),
        ));
    }
    // Checked here so that a bad path is refused with its line before anything is fetched.
    for chart in helm.repositories.iter().flat_map(|r| &r.charts).chain(&helm.local) {
        for path in &chart.image_paths {
            if let Err(e) = crate::mirror::helm::images::parse_path(path) {
                problems.push(locator.problem("", path, format!("helm chart {}: {e}", chart.name)));
            }
        }
    }
}

pub(super) fn compile_blocked(
    blocked: &[NamedImage],
    locator: &Locator,
    problems: &mut Vec<Problem>,
) -> Vec<regex::Regex> {
    let mut out = Vec::with_capacity(blocked.len());
    for b in blocked {
        match regex::Regex::new(&b.name) {
            Ok(re) => out.push(re),
            Err(e) => problems.push(locator.problem(
                "name",
                &b.name,
                format!("blockedImages: invalid regular expression {:?}: {e}", b.name),
            )),
        }
    }
    out
}

/// A hint for a reference copied from the documentation with a placeholder such as
/// `{product-version}` left in it; empty otherwise.
fn placeholder_hint(value: &str) -> String {
    let Some(start) = value.find('{') else { return String::new() };
    match value[start..].find('}') {
        Some(len) => format!(
            "; {} is a placeholder from the documentation: put the real value in its place",
            &value[start..=start + len]
        ),
        None => String::new(),
    }
}

/// Lenient semantic versions, as oc-mirror accepts them: an optional `v`, one to three numbers,
/// then optional `-prerelease` and `+build`.
fn is_semver(v: &str) -> bool {
    let v = v.strip_prefix('v').unwrap_or(v);
    let (core, _build) = v.split_once('+').unwrap_or((v, ""));
    let (core, pre) = match core.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (core, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    let numbers_ok = (1..=3).contains(&numbers.len())
        && numbers.iter().all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    let pre_ok = pre.is_none_or(|p| {
        !p.is_empty()
            && p.split('.').all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    });
    numbers_ok && pre_ok
}

/// Finds where `key: value` pairs sit in the text, so that checks made after decoding can point
/// at the offending value.
pub(super) struct Locator<'a> {
    text: &'a str,
}

impl<'a> Locator<'a> {
    pub(super) fn new(text: &'a str) -> Locator<'a> {
        Locator { text }
    }

    /// The `nth` (1-based) line holding `key: value` (with an empty `key`, the list item
    /// `- value`), with the column of the value.
    fn find(&self, key: &str, value: &str, nth: usize) -> Option<(usize, usize)> {
        let mut seen = 0;
        for (i, line) in self.text.lines().enumerate() {
            let trimmed = line.trim_start().trim_start_matches("- ").trim_start();
            let rest = if key.is_empty() {
                line.trim_start().strip_prefix('-')
            } else {
                trimmed.strip_prefix(key).and_then(|r| r.strip_prefix(':'))
            };
            let Some(rest) = rest else { continue };
            let raw = rest.split(" #").next().unwrap_or_default().trim();
            let unquoted = raw.trim_matches(|c| c == '"' || c == '\'');
            if unquoted == value {
                seen += 1;
                if seen == nth {
                    let column = line.find(raw).map_or(1, |c| c + 1);
                    return Some((i + 1, column));
                }
            }
        }
        None
    }

    /// The raw value of the first `key:` line.
    pub(super) fn value_of(&self, key: &str) -> Option<String> {
        self.text.lines().find_map(|line| {
            let rest = line.trim_start().strip_prefix(key)?.strip_prefix(':')?;
            Some(rest.split(" #").next().unwrap_or_default().trim().to_string())
        })
    }

    pub(super) fn problem(&self, key: &str, value: &str, message: String) -> Problem {
        self.nth_problem(key, value, 1, message)
    }

    fn nth_problem(&self, key: &str, value: &str, nth: usize, message: String) -> Problem {
        let position = self.find(key, value, nth).or_else(|| self.find(key, value, 1));
        Problem { line: position.map(|p| p.0), column: position.map(|p| p.1), message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semantic_versions() {
        let cases: &[(&str, bool)] = &[
            ("1.2.3", true),
            ("v4.16", true),
            ("4", true),
            ("1.0.0-rc.1+build.5", true),
            ("one", false),
            ("1.2.3.4", false),
            ("1..2", false),
            ("", false),
        ];
        for (input, ok) in cases {
            assert_eq!(is_semver(input), *ok, "case {input:?}");
        }
    }
}
