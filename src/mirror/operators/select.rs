//! Which bundles of a catalog an `operators:` entry selects, following the filtering table of
//! the oc-mirror v2 documentation, plus dependencies unless `skipDependencies` is set.
//! Pure: a function of the catalog and the configuration.
//!
//! The filtering table, row by row (each row selects bundles of one package):
//!
//! | filter | selects | keeps the channels |
//! | --- | --- | --- |
//! | no `packages` | each package's default-channel head | the default channel |
//! | no `packages`, `full` | everything ([`Selection::all`]) | all |
//! | package | its default-channel head | the default channel |
//! | package, `full` | every bundle of every channel | all |
//! | package `minVersion`/`maxVersion` | default-channel bundles in `[min, max]` | the default channel |
//! | `channels` | each listed channel's head | the listed ones |
//! | `channels`, `full` | every bundle of each listed channel | the listed ones |
//! | channel `minVersion`/`maxVersion` | that channel's bundles in `[min, max]` | the listed ones |
//! | `bundles` | exactly the named bundles | every channel listing one of them |
//!
//! Ranges are inclusive and compare by semver precedence only; the update graph neither adds
//! nor removes bundles from a range. A package's `defaultChannel` in the configuration stands
//! in for the catalog's default, for selection and for the rebuilt package.
//!
//! Dependencies (`olm.package.required`, `olm.gvk.required`) of every selected bundle are
//! added from the same catalog, transitively, unless an already selected bundle satisfies
//! them. A required package gives its highest bundle in range, from its default channel when
//! it has one there; a required GVK gives the default-channel head of a providing package when
//! one provides it, else the highest-version provider. An added bundle keeps every channel that
//! lists it. A dependency nothing satisfies is a warning, not an error: the cluster reports it
//! when the operator is installed.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::fbc::{Catalog, Channel, Entry, Gvk, Package};
use crate::mirror::imageset::{Operator, Package as PackageFilter};
use crate::mirror::version::Version;

/// Why a selection could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A package, channel or bundle the configuration names is not in the catalog, or a filter
    /// selects nothing. The message names the package (and channel or bundle).
    #[error("{0}")]
    NotFound(String),
    /// A version in the configuration is not a semantic version.
    #[error("{0}")]
    Version(String),
}

/// What one `operators:` entry selects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Selected packages by name.
    pub packages: BTreeMap<String, SelectedPackage>,
    /// Things worth telling the user (a default channel that had to change, ...).
    pub warnings: Vec<String>,
}

/// What is kept of one package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectedPackage {
    /// `defaultChannel` of the rebuilt package (one of `channels`).
    pub default_channel: String,
    /// Kept channels, each with the bundles kept in it.
    pub channels: BTreeMap<String, BTreeSet<String>>,
    /// Every kept bundle of the package (the union of the channels').
    pub bundles: BTreeSet<String>,
}

impl Selection {
    /// Every selected `(package, bundle)` pair.
    pub fn bundles(&self) -> impl Iterator<Item = (&str, &str)> {
        self.packages.iter().flat_map(|(p, s)| s.bundles.iter().map(move |b| (p.as_str(), b.as_str())))
    }

    /// Everything in the catalog: what a `full: true` catalog without packages selects, and
    /// what a rebuilt catalog holds when read back.
    ///
    /// "Everything" is every channel with all its entries; a bundle that no channel lists
    /// cannot be installed from a catalog and is left out.
    #[must_use]
    pub fn all(catalog: &Catalog) -> Selection {
        let mut picked = Picked::new();
        for package in catalog.packages.values() {
            picked.add_package(package);
        }
        let packages = picked
            .0
            .into_iter()
            .map(|(name, channels)| {
                let default_channel =
                    catalog.packages.get(&name).map(|p| p.default_channel.clone()).unwrap_or_default();
                (name, SelectedPackage::new(default_channel, channels))
            })
            .collect();
        Selection { packages, warnings: Vec::new() }
    }
}

impl SelectedPackage {
    fn new(default_channel: String, channels: BTreeMap<String, BTreeSet<String>>) -> SelectedPackage {
        let bundles = channels.values().flatten().cloned().collect();
        SelectedPackage { default_channel, channels, bundles }
    }
}

/// Selects the bundles `operator` asks for from `catalog`.
///
/// # Errors
/// [`Error`] naming the package, channel or bundle at fault.
pub fn select(catalog: &Catalog, operator: &Operator) -> Result<Selection, Error> {
    let mut picked = Picked::new();
    let mut warnings = Vec::new();
    // The configuration's `defaultChannel` per package, where it gives one.
    let mut overrides: BTreeMap<&str, &str> = BTreeMap::new();
    if operator.packages.is_empty() {
        for package in catalog.packages.values() {
            if operator.full {
                picked.add_package(package);
            } else {
                let channel = channel_of(package, &package.default_channel)?;
                match channel.head(&package.bundles) {
                    Some(head) => picked.add(&package.name, &channel.name, &head.name),
                    None => warnings.push(format!(
                        "package {:?}: default channel {:?} has no bundles; the package is left out",
                        package.name, channel.name
                    )),
                }
            }
        }
    } else {
        for filter in &operator.packages {
            let package = catalog.packages.get(&filter.name).ok_or_else(|| {
                Error::NotFound(format!(
                    "package {:?} is not in the catalog; the catalog has: {}",
                    filter.name,
                    list(catalog.packages.keys())
                ))
            })?;
            if let Some(default) = &filter.default_channel {
                channel_of(package, default)?;
                overrides.insert(&package.name, default);
            }
            select_package(package, filter, operator.full, &mut picked)?;
        }
    }
    if !operator.skip_dependencies {
        add_dependencies(catalog, &overrides, &mut picked, &mut warnings);
    }
    let mut packages = BTreeMap::new();
    for (name, channels) in picked.0 {
        let Some(package) = catalog.packages.get(&name) else { continue };
        let default_channel =
            default_channel(package, overrides.get(name.as_str()).copied(), &channels, &mut warnings)?;
        packages.insert(name, SelectedPackage::new(default_channel, channels));
    }
    Ok(Selection { packages, warnings })
}

/// Applies one package filter of the table (see the module docs).
fn select_package(package: &Package, filter: &PackageFilter, full: bool, picked: &mut Picked) -> Result<(), Error> {
    let default = filter.default_channel.as_deref().unwrap_or(&package.default_channel);
    if !filter.bundles.is_empty() {
        for named in &filter.bundles {
            if !package.bundles.contains_key(&named.name) {
                return Err(Error::NotFound(format!(
                    "package {:?}: bundle {:?} is not in the package; it has: {}",
                    package.name,
                    named.name,
                    list(package.bundles.keys())
                )));
            }
            if !picked.add_everywhere(package, &named.name) {
                return Err(Error::NotFound(format!(
                    "package {:?}: bundle {:?} is in none of the package's channels, so no catalog can offer it",
                    package.name, named.name
                )));
            }
        }
    } else if !filter.channels.is_empty() {
        for wanted in &filter.channels {
            let channel = channel_of(package, &wanted.name)?;
            let bounds = Bounds::parse(
                &package.name,
                Some(&wanted.name),
                wanted.min_version.as_deref(),
                wanted.max_version.as_deref(),
            )?;
            pick_in_channel(package, channel, &bounds, full, picked)?;
        }
    } else {
        let bounds = Bounds::parse(&package.name, None, filter.min_version.as_deref(), filter.max_version.as_deref())?;
        if full && bounds.is_open() {
            picked.add_package(package);
        } else {
            pick_in_channel(package, channel_of(package, default)?, &bounds, false, picked)?;
        }
    }
    // Only a package whose channels are all empty gets here without a bundle: every other
    // empty pick has already been refused with the channel it came from.
    if picked.count(&package.name) == 0 {
        return Err(Error::NotFound(format!(
            "package {:?}: the filter selects no bundle; its channels have no entries",
            package.name
        )));
    }
    Ok(())
}

/// Picks from one channel: the bundles in `bounds` when it has any, else every bundle when
/// `full`, else the head. Keeps the channel.
fn pick_in_channel(
    package: &Package,
    channel: &Channel,
    bounds: &Bounds,
    full: bool,
    picked: &mut Picked,
) -> Result<(), Error> {
    let chosen: Vec<&str> = if !bounds.is_open() {
        channel
            .entries
            .iter()
            .filter(|e| package.bundles.get(&e.name).is_some_and(|b| bounds.contains(&b.version)))
            .map(|e| e.name.as_str())
            .collect()
    } else if full {
        channel.entries.iter().map(|e| e.name.as_str()).collect()
    } else {
        channel.head(&package.bundles).map(|e| e.name.as_str()).into_iter().collect()
    };
    if chosen.is_empty() {
        let mut versions: Vec<&Version> =
            channel.entries.iter().filter_map(|e| package.bundles.get(&e.name)).map(|b| &b.version).collect();
        versions.sort();
        let what = if bounds.is_open() { "the channel".to_owned() } else { bounds.to_string() };
        return Err(Error::NotFound(format!(
            "package {:?}: channel {:?}: {what} selects no bundle; the channel has versions: {}",
            package.name,
            channel.name,
            list(versions)
        )));
    }
    for name in chosen {
        picked.add(&package.name, &channel.name, name);
    }
    Ok(())
}

/// The default channel of the rebuilt package: the configuration's, else the catalog's if it is
/// kept, else the kept channel with the highest head, which is worth a warning.
fn default_channel(
    package: &Package,
    wanted: Option<&str>,
    kept: &BTreeMap<String, BTreeSet<String>>,
    warnings: &mut Vec<String>,
) -> Result<String, Error> {
    if let Some(wanted) = wanted {
        if !kept.contains_key(wanted) {
            return Err(Error::NotFound(format!(
                "package {:?}: defaultChannel {wanted:?} is not among the selected channels ({})",
                package.name,
                list(kept.keys())
            )));
        }
        return Ok(wanted.to_owned());
    }
    if kept.contains_key(&package.default_channel) {
        return Ok(package.default_channel.clone());
    }
    let head_version = |(name, bundles): (&String, &BTreeSet<String>)| {
        let channel = package.channels.get(name)?;
        let kept_entries = Channel {
            name: name.clone(),
            entries: channel.entries.iter().filter(|e| bundles.contains(&e.name)).cloned().collect(),
        };
        let head = kept_entries.head(&package.bundles)?;
        package.bundles.get(&head.name).map(|b| b.version.clone())
    };
    // The first channel (by name) wins a tie, so the choice does not depend on map order.
    let mut best: Option<(&String, Option<Version>)> = None;
    for (name, bundles) in kept {
        let version = head_version((name, bundles));
        if best.as_ref().is_none_or(|(_, v)| version > *v) {
            best = Some((name, version));
        }
    }
    let chosen = best.map(|(name, _)| name.clone()).unwrap_or_default();
    warnings.push(format!(
        "package {:?}: its default channel {:?} is not selected; channel {chosen:?} (the selected channel with the highest head) becomes the default",
        package.name, package.default_channel
    ));
    Ok(chosen)
}

/// Adds what the picked bundles require, transitively, from `catalog`. A requirement that an
/// already picked bundle meets adds nothing; one nothing meets is a warning.
fn add_dependencies(
    catalog: &Catalog,
    overrides: &BTreeMap<&str, &str>,
    picked: &mut Picked,
    warnings: &mut Vec<String>,
) {
    let default_of = |package: &Package| -> String {
        overrides.get(package.name.as_str()).map_or_else(|| package.default_channel.clone(), |c| (*c).to_owned())
    };
    let bundle_of = |package: &str, bundle: &str| catalog.packages.get(package).and_then(|p| p.bundles.get(bundle));
    // Each bundle's requirements are looked at once, which also ends dependency cycles.
    let mut queue: VecDeque<(String, String)> = picked.pairs().collect();
    let mut seen: BTreeSet<(String, String)> = queue.iter().cloned().collect();
    // What the picked bundles provide, so that each GVK check is a lookup.
    let mut provided: BTreeSet<&Gvk> =
        queue.iter().filter_map(|(p, b)| bundle_of(p, b)).flat_map(|b| &b.provided_gvks).collect();
    while let Some((package_name, bundle_name)) = queue.pop_front() {
        let Some(bundle) = bundle_of(&package_name, &bundle_name) else { continue };
        let mut added: Vec<(&Package, &str)> = Vec::new();
        for (required, range) in &bundle.required_packages {
            let Some(package) = catalog.packages.get(required) else {
                warnings.push(format!(
                    "package {package_name:?}: bundle {bundle_name:?} requires package {required:?} ({range}), which is not in the catalog; the dependency is left out"
                ));
                continue;
            };
            let in_range = |name: &String| package.bundles.get(name).is_some_and(|b| range.contains(&b.version));
            if picked.bundles_of(required).any(in_range) {
                continue;
            }
            let default = package.channels.get(&default_of(package)).into_iter();
            let chosen =
                highest(package, default.flat_map(|c| &c.entries).filter(|e| in_range(&e.name))).or_else(|| {
                    highest(package, package.channels.values().flat_map(|c| &c.entries).filter(|e| in_range(&e.name)))
                });
            match chosen {
                // Picked at once: a later requirement of this bundle may be met by it.
                Some(name) => {
                    picked.add_everywhere(package, name);
                    provided.extend(package.bundles.get(name).into_iter().flat_map(|b| &b.provided_gvks));
                    added.push((package, name));
                }
                None => warnings.push(format!(
                    "package {package_name:?}: bundle {bundle_name:?} requires package {required:?} in range {range}, which no bundle of it is in; the dependency is left out"
                )),
            }
        }
        for gvk in &bundle.required_gvks {
            if provided.contains(gvk) {
                continue;
            }
            match provider_of(catalog, gvk, &default_of) {
                Some((package, name)) => {
                    picked.add_everywhere(package, name);
                    provided.extend(package.bundles.get(name).into_iter().flat_map(|b| &b.provided_gvks));
                    added.push((package, name));
                }
                None => warnings.push(format!(
                    "package {package_name:?}: bundle {bundle_name:?} requires {}/{}/{}, which no bundle of the catalog provides; the dependency is left out",
                    gvk.group, gvk.version, gvk.kind
                )),
            }
        }
        for (package, name) in added {
            let pair = (package.name.clone(), name.to_owned());
            if seen.insert(pair.clone()) {
                queue.push_back(pair);
            }
        }
    }
}

/// The bundle to add for a required GVK: the default-channel head of the first package
/// (by name) whose head provides it, else the provider with the highest version.
fn provider_of<'a>(
    catalog: &'a Catalog,
    gvk: &Gvk,
    default_of: &dyn Fn(&Package) -> String,
) -> Option<(&'a Package, &'a str)> {
    let provides = |p: &Package, name: &str| p.bundles.get(name).is_some_and(|b| b.provided_gvks.contains(gvk));
    let head = catalog.packages.values().find_map(|p| {
        let head = p.channels.get(&default_of(p))?.head(&p.bundles)?;
        provides(p, &head.name).then_some((p, head.name.as_str()))
    });
    head.or_else(|| {
        let mut best: Option<(&Package, &str, &Version)> = None;
        for p in catalog.packages.values() {
            for entry in p.channels.values().flat_map(|c| c.entries.iter()) {
                let Some(bundle) = p.bundles.get(&entry.name).filter(|b| b.provided_gvks.contains(gvk)) else {
                    continue;
                };
                if best.is_none_or(|(_, _, v)| bundle.version > *v) {
                    best = Some((p, entry.name.as_str(), &bundle.version));
                }
            }
        }
        best.map(|(p, name, _)| (p, name))
    })
}

/// The entry whose bundle has the highest version; the first one on a tie.
fn highest<'a>(package: &Package, entries: impl Iterator<Item = &'a Entry>) -> Option<&'a str> {
    let mut best: Option<(&'a str, &Version)> = None;
    for entry in entries {
        let Some(bundle) = package.bundles.get(&entry.name) else { continue };
        if best.is_none_or(|(_, v)| bundle.version > *v) {
            best = Some((entry.name.as_str(), &bundle.version));
        }
    }
    best.map(|(name, _)| name)
}

fn channel_of<'a>(package: &'a Package, name: &str) -> Result<&'a Channel, Error> {
    package.channels.get(name).ok_or_else(|| {
        Error::NotFound(format!(
            "package {:?}: channel {name:?} is not in the package; it has channels: {}",
            package.name,
            list(package.channels.keys())
        ))
    })
}

/// A comma-separated list, for messages.
fn list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    if items.is_empty() { "none".to_owned() } else { items.join(", ") }
}

/// `minVersion` and `maxVersion` of one filter, both inclusive, either open.
struct Bounds {
    min: Option<Version>,
    max: Option<Version>,
}

impl Bounds {
    /// Reads the bounds of package `package` (and channel `channel`, for a channel filter).
    fn parse(package: &str, channel: Option<&str>, min: Option<&str>, max: Option<&str>) -> Result<Bounds, Error> {
        let read = |key: &str, text: Option<&str>| {
            text.map(|t| {
                Version::parse_lenient(t).map_err(|e| {
                    let channel = channel.map(|c| format!("channel {c:?}: ")).unwrap_or_default();
                    Error::Version(format!("package {package:?}: {channel}{key}: {e}"))
                })
            })
            .transpose()
        };
        Ok(Bounds { min: read("minVersion", min)?, max: read("maxVersion", max)? })
    }

    fn is_open(&self) -> bool {
        self.min.is_none() && self.max.is_none()
    }

    fn contains(&self, version: &Version) -> bool {
        self.min.as_ref().is_none_or(|min| version.cmp_precedence(min) != Ordering::Less)
            && self.max.as_ref().is_none_or(|max| version.cmp_precedence(max) != Ordering::Greater)
    }
}

impl std::fmt::Display for Bounds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.min, &self.max) {
            (Some(min), Some(max)) => write!(f, "minVersion {min} and maxVersion {max}"),
            (Some(min), None) => write!(f, "minVersion {min}"),
            (None, Some(max)) => write!(f, "maxVersion {max}"),
            (None, None) => f.write_str("no version bounds"),
        }
    }
}

/// Bundles picked so far: package, then kept channel, then the channel's kept bundles.
#[derive(Default)]
struct Picked(BTreeMap<String, BTreeMap<String, BTreeSet<String>>>);

impl Picked {
    fn new() -> Picked {
        Picked::default()
    }

    fn add(&mut self, package: &str, channel: &str, bundle: &str) {
        self.0.entry(package.to_owned()).or_default().entry(channel.to_owned()).or_default().insert(bundle.to_owned());
    }

    /// Every channel with all its entries (empty channels included).
    fn add_package(&mut self, package: &Package) {
        let channels = self.0.entry(package.name.clone()).or_default();
        for channel in package.channels.values() {
            channels.entry(channel.name.clone()).or_default().extend(channel.entries.iter().map(|e| e.name.clone()));
        }
    }

    /// `bundle` in every channel of `package` that lists it. `false` when none does.
    fn add_everywhere(&mut self, package: &Package, bundle: &str) -> bool {
        let mut found = false;
        for channel in package.channels.values() {
            if channel.entries.iter().any(|e| e.name == bundle) {
                self.add(&package.name, &channel.name, bundle);
                found = true;
            }
        }
        found
    }

    fn count(&self, package: &str) -> usize {
        self.0.get(package).map_or(0, |channels| channels.values().map(BTreeSet::len).sum())
    }

    fn bundles_of<'a>(&'a self, package: &str) -> impl Iterator<Item = &'a String> {
        self.0.get(package).into_iter().flat_map(|channels| channels.values().flatten())
    }

    fn pairs(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.0
            .iter()
            .flat_map(|(p, channels)| channels.values().flatten().map(move |b| (p.clone(), b.clone())))
            .collect::<BTreeSet<_>>()
            .into_iter()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;

    use serde_json::{Value, json};

    use super::*;
    use crate::mirror::imageset::{Channel as ChannelFilter, NamedImage};

    fn bundle(package: &str, version: &str, extra: &[Value]) -> Value {
        let mut properties =
            vec![json!({"type": "olm.package", "value": {"packageName": package, "version": version}})];
        properties.extend(extra.iter().cloned());
        json!({
            "schema": "olm.bundle",
            "name": format!("{package}.v{version}"),
            "package": package,
            "image": format!("quay.io/example/{package}-bundle:v{version}"),
            "properties": properties,
            "relatedImages": [
                {"name": "operator", "image": format!("quay.io/example/{package}:v{version}")},
                {"image": format!("quay.io/example/{package}-bundle:v{version}")},
            ],
        })
    }

    fn gvk(kind: &str, group: &str, name: &str) -> Value {
        json!({"type": kind, "value": {"group": group, "version": "v1", "kind": name}})
    }

    fn requires(package: &str, range: &str) -> Value {
        json!({"type": "olm.package.required", "value": {"packageName": package, "versionRange": range}})
    }

    fn package(name: &str, default_channel: &str) -> Value {
        json!({"schema": "olm.package", "name": name, "defaultChannel": default_channel, "description": "test"})
    }

    fn channel(package: &str, name: &str, entries: &Value) -> Value {
        json!({"schema": "olm.channel", "package": package, "name": name, "entries": entries})
    }

    /// Writes the test catalog under `dir`: five packages over concatenated JSON and
    /// multi-document YAML files, bundle names whose string order is not their semver order
    /// (`v1.10.0` and `v1.9.0`), a pre-release, replaces, skips and skipRange, and
    /// dependencies by package and by GVK (one of them a cycle, one unsatisfiable).
    ///
    /// | package | default | channels: entries (head last) |
    /// | --- | --- | --- |
    /// | alpha | stable | stable: 1.8.0 1.9.0 1.9.1 1.10.0 1.10.1; candidate: 1.10.1 2.0.0-rc.1 |
    /// | beta | stable-v2 | stable-v1: 1.0.0 1.1.0; stable-v2: 1.1.0 2.0.0 |
    /// | gamma | stable | stable: 0.1.0 0.2.0 |
    /// | delta | stable | stable: 1.0.0 |
    /// | epsilon | stable | stable: 1.0.0 |
    ///
    /// alpha 1.10.1 requires beta `>=1.0.0 <2.0.0`; alpha 2.0.0-rc.1 requires GVK Gamma,
    /// provided by gamma 0.1.0 and 0.2.0 (head) and beta 1.0.0 (not a head). delta requires
    /// epsilon (which requires delta back), GVK Old (provided by gamma 0.1.0 and beta 1.0.0,
    /// neither a head) and package ghost (not in the catalog).
    pub(crate) fn write_catalog(dir: &Path) {
        let alpha = [
            package("alpha", "stable"),
            channel(
                "alpha",
                "stable",
                &json!([
                    {"name": "alpha.v1.8.0"},
                    {"name": "alpha.v1.9.0", "replaces": "alpha.v1.8.0"},
                    {"name": "alpha.v1.9.1", "replaces": "alpha.v1.9.0"},
                    {"name": "alpha.v1.10.0", "replaces": "alpha.v1.9.0", "skipRange": ">=1.8.0 <1.10.0"},
                    {"name": "alpha.v1.10.1", "replaces": "alpha.v1.10.0", "skips": ["alpha.v1.9.1"]},
                ]),
            ),
            channel(
                "alpha",
                "candidate",
                &json!([
                    {"name": "alpha.v1.10.1"},
                    {"name": "alpha.v2.0.0-rc.1", "replaces": "alpha.v1.10.1"},
                ]),
            ),
            bundle(
                "alpha",
                "1.8.0",
                &[
                    json!({"type": "olm.bundle.object", "value": {"data": "eyJraW5kIjoiQ2x1c3RlclNlcnZpY2VWZXJzaW9uIn0="}}),
                ],
            ),
            bundle("alpha", "1.9.0", &[]),
            bundle("alpha", "1.9.1", &[]),
            bundle("alpha", "1.10.0", &[]),
            bundle("alpha", "1.10.1", &[requires("beta", ">=1.0.0 <2.0.0")]),
            bundle("alpha", "2.0.0-rc.1", &[gvk("olm.gvk.required", "gamma.io", "Gamma")]),
            json!({"schema": "olm.deprecations", "package": "alpha", "entries": [
                {"reference": {"schema": "olm.bundle", "name": "alpha.v1.8.0"}, "message": "1.8.0 is deprecated"},
                {"reference": {"schema": "olm.channel", "name": "candidate"}, "message": "candidate is deprecated"},
                {"reference": {"schema": "olm.package"}, "message": "alpha is deprecated"},
            ]}),
            json!({"schema": "example.custom", "package": "alpha", "note": "kept with alpha"}),
        ];
        let alpha: Vec<String> =
            alpha.iter().map(|d| serde_json::to_string_pretty(d).expect("JSON of a test document")).collect();
        std::fs::create_dir_all(dir.join("alpha")).expect("alpha dir");
        std::fs::write(dir.join("alpha/catalog.json"), alpha.join("\n")).expect("write alpha");

        let beta = [
            package("beta", "stable-v2"),
            channel(
                "beta",
                "stable-v1",
                &json!([{"name": "beta.v1.0.0"}, {"name": "beta.v1.1.0", "replaces": "beta.v1.0.0"}]),
            ),
            channel(
                "beta",
                "stable-v2",
                &json!([{"name": "beta.v1.1.0"}, {"name": "beta.v2.0.0", "replaces": "beta.v1.1.0"}]),
            ),
            bundle("beta", "1.0.0", &[gvk("olm.gvk", "gamma.io", "Gamma"), gvk("olm.gvk", "old.io", "Old")]),
            bundle("beta", "1.1.0", &[]),
            bundle("beta", "2.0.0", &[]),
        ];
        let beta: Vec<String> =
            beta.iter().map(|d| serde_yaml::to_string(d).expect("YAML of a test document")).collect();
        std::fs::create_dir_all(dir.join("beta")).expect("beta dir");
        std::fs::write(dir.join("beta/catalog.yaml"), format!("---\n{}", beta.join("---\n"))).expect("write beta");

        let rest = [
            package("gamma", "stable"),
            channel(
                "gamma",
                "stable",
                &json!([{"name": "gamma.v0.1.0"}, {"name": "gamma.v0.2.0", "replaces": "gamma.v0.1.0"}]),
            ),
            bundle("gamma", "0.1.0", &[gvk("olm.gvk", "gamma.io", "Gamma"), gvk("olm.gvk", "old.io", "Old")]),
            bundle("gamma", "0.2.0", &[gvk("olm.gvk", "gamma.io", "Gamma")]),
            package("delta", "stable"),
            channel("delta", "stable", &json!([{"name": "delta.v1.0.0"}])),
            bundle(
                "delta",
                "1.0.0",
                &[
                    requires("epsilon", ">=1.0.0"),
                    gvk("olm.gvk.required", "old.io", "Old"),
                    requires("ghost", ">=1.0.0"),
                ],
            ),
            package("epsilon", "stable"),
            channel("epsilon", "stable", &json!([{"name": "epsilon.v1.0.0"}])),
            bundle("epsilon", "1.0.0", &[requires("delta", ">=1.0.0")]),
            json!({"schema": "example.global", "name": "belongs to no package"}),
        ];
        let rest: Vec<String> = rest.iter().map(Value::to_string).collect();
        std::fs::write(dir.join("index.json"), rest.join("")).expect("write index");
    }

    fn catalog() -> Catalog {
        let dir = tempfile::tempdir().expect("tempdir");
        write_catalog(dir.path());
        super::super::fbc::read_dir(dir.path()).expect("the test catalog reads")
    }

    fn operator(full: bool, packages: Vec<PackageFilter>) -> Operator {
        Operator {
            catalog: "registry.example/catalog:v1".into(),
            full,
            skip_dependencies: true,
            packages,
            ..Operator::default()
        }
    }

    fn filter(name: &str) -> PackageFilter {
        PackageFilter { name: name.into(), ..PackageFilter::default() }
    }

    fn ranged(name: &str, min: Option<&str>, max: Option<&str>) -> PackageFilter {
        PackageFilter { min_version: min.map(Into::into), max_version: max.map(Into::into), ..filter(name) }
    }

    fn with_channels(name: &str, channels: &[(&str, Option<&str>, Option<&str>)]) -> PackageFilter {
        let channels = channels
            .iter()
            .map(|(c, min, max)| ChannelFilter {
                name: (*c).into(),
                min_version: min.map(Into::into),
                max_version: max.map(Into::into),
            })
            .collect();
        PackageFilter { channels, ..filter(name) }
    }

    fn with_bundles(name: &str, bundles: &[&str]) -> PackageFilter {
        PackageFilter { bundles: bundles.iter().map(|b| NamedImage { name: (*b).into() }).collect(), ..filter(name) }
    }

    /// Package, default channel, and each kept channel with its bundles (version suffixes).
    type Expected = [(&'static str, &'static str, &'static [(&'static str, &'static [&'static str])])];

    fn expected(rows: &Expected) -> BTreeMap<String, SelectedPackage> {
        rows.iter()
            .map(|(package, default, channels)| {
                let channels = channels
                    .iter()
                    .map(|(c, versions)| {
                        ((*c).to_owned(), versions.iter().map(|v| format!("{package}.v{v}")).collect::<BTreeSet<_>>())
                    })
                    .collect();
                ((*package).to_owned(), SelectedPackage::new((*default).to_owned(), channels))
            })
            .collect()
    }

    const ALPHA_STABLE: &[&str] = &["1.8.0", "1.9.0", "1.9.1", "1.10.0", "1.10.1"];

    #[test]
    #[allow(clippy::too_many_lines)] // one table, a case per row of the documentation's filtering table
    fn filtering_table() {
        let catalog = catalog();
        let cases: Vec<(&str, Operator, &Expected, &[&str])> = vec![
            (
                "1. no packages: the head of each default channel",
                operator(false, vec![]),
                &[
                    ("alpha", "stable", &[("stable", &["1.10.1"])]),
                    ("beta", "stable-v2", &[("stable-v2", &["2.0.0"])]),
                    ("delta", "stable", &[("stable", &["1.0.0"])]),
                    ("epsilon", "stable", &[("stable", &["1.0.0"])]),
                    ("gamma", "stable", &[("stable", &["0.2.0"])]),
                ],
                &[],
            ),
            (
                "2. no packages, full: every bundle of every channel",
                operator(true, vec![]),
                &[
                    ("alpha", "stable", &[("candidate", &["1.10.1", "2.0.0-rc.1"]), ("stable", ALPHA_STABLE)]),
                    ("beta", "stable-v2", &[("stable-v1", &["1.0.0", "1.1.0"]), ("stable-v2", &["1.1.0", "2.0.0"])]),
                    ("delta", "stable", &[("stable", &["1.0.0"])]),
                    ("epsilon", "stable", &[("stable", &["1.0.0"])]),
                    ("gamma", "stable", &[("stable", &["0.1.0", "0.2.0"])]),
                ],
                &[],
            ),
            (
                "3. package: the head of its default channel",
                operator(false, vec![filter("alpha")]),
                &[("alpha", "stable", &[("stable", &["1.10.1"])])],
                &[],
            ),
            (
                "4. full, package: every bundle of every channel",
                operator(true, vec![filter("alpha")]),
                &[("alpha", "stable", &[("candidate", &["1.10.1", "2.0.0-rc.1"]), ("stable", ALPHA_STABLE)])],
                &[],
            ),
            (
                "5. package minVersion: default channel from min, by semver not by name",
                operator(false, vec![ranged("alpha", Some("1.9.1"), None)]),
                &[("alpha", "stable", &[("stable", &["1.9.1", "1.10.0", "1.10.1"])])],
                &[],
            ),
            (
                "6. package maxVersion: the head is not added",
                operator(false, vec![ranged("alpha", None, Some("1.9.1"))]),
                &[("alpha", "stable", &[("stable", &["1.8.0", "1.9.0", "1.9.1"])])],
                &[],
            ),
            (
                "7. package minVersion and maxVersion, lenient, inclusive; skipRange adds nothing",
                operator(false, vec![ranged("alpha", Some("v1.9"), Some("1.10.0"))]),
                &[("alpha", "stable", &[("stable", &["1.9.0", "1.9.1", "1.10.0"])])],
                &[],
            ),
            (
                "8. channels: the head of each listed channel",
                operator(false, vec![with_channels("alpha", &[("stable", None, None), ("candidate", None, None)])]),
                &[("alpha", "stable", &[("candidate", &["2.0.0-rc.1"]), ("stable", &["1.10.1"])])],
                &[],
            ),
            (
                "8. channels without the default channel: the default moves, with a warning",
                operator(false, vec![with_channels("alpha", &[("candidate", None, None)])]),
                &[("alpha", "candidate", &[("candidate", &["2.0.0-rc.1"])])],
                &["package \"alpha\": its default channel \"stable\" is not selected; channel \"candidate\""],
            ),
            (
                "9. full, channels: every bundle of each listed channel",
                operator(true, vec![with_channels("alpha", &[("candidate", None, None)])]),
                &[("alpha", "candidate", &[("candidate", &["1.10.1", "2.0.0-rc.1"])])],
                &["\"candidate\""],
            ),
            (
                "10. channel minVersion",
                operator(false, vec![with_channels("alpha", &[("stable", Some("1.10.0"), None)])]),
                &[("alpha", "stable", &[("stable", &["1.10.0", "1.10.1"])])],
                &[],
            ),
            (
                "10. channel minVersion: a pre-release of 2.0.0 is above 1.10.2",
                operator(false, vec![with_channels("alpha", &[("candidate", Some("1.10.2"), None)])]),
                &[("alpha", "candidate", &[("candidate", &["2.0.0-rc.1"])])],
                &["\"candidate\""],
            ),
            (
                "11. channel maxVersion: the head is not added",
                operator(false, vec![with_channels("alpha", &[("stable", None, Some("1.9.1"))])]),
                &[("alpha", "stable", &[("stable", &["1.8.0", "1.9.0", "1.9.1"])])],
                &[],
            ),
            (
                "12. channel minVersion and maxVersion, on two channels",
                operator(
                    false,
                    vec![with_channels(
                        "alpha",
                        &[("stable", Some("1.9.0"), Some("1.10.0")), ("candidate", None, Some("2.0.0"))],
                    )],
                ),
                &[(
                    "alpha",
                    "stable",
                    &[("candidate", &["1.10.1", "2.0.0-rc.1"]), ("stable", &["1.9.0", "1.9.1", "1.10.0"])],
                )],
                &[],
            ),
            (
                "13. bundles: exactly those, in every channel that lists them",
                operator(false, vec![with_bundles("alpha", &["alpha.v1.10.1", "alpha.v1.9.0"])]),
                &[("alpha", "stable", &[("candidate", &["1.10.1"]), ("stable", &["1.9.0", "1.10.1"])])],
                &[],
            ),
            (
                "defaultChannel in the configuration: selects from it and becomes the default",
                operator(false, vec![PackageFilter { default_channel: Some("stable-v1".into()), ..filter("beta") }]),
                &[("beta", "stable-v1", &[("stable-v1", &["1.1.0"])])],
                &[],
            ),
            (
                "defaultChannel in the configuration with its range",
                operator(
                    false,
                    vec![PackageFilter {
                        default_channel: Some("stable-v1".into()),
                        ..ranged("beta", Some("1.0.0"), None)
                    }],
                ),
                &[("beta", "stable-v1", &[("stable-v1", &["1.0.0", "1.1.0"])])],
                &[],
            ),
            (
                "two packages",
                operator(false, vec![filter("gamma"), with_bundles("beta", &["beta.v1.0.0"])]),
                &[("beta", "stable-v1", &[("stable-v1", &["1.0.0"])]), ("gamma", "stable", &[("stable", &["0.2.0"])])],
                &["package \"beta\": its default channel \"stable-v2\" is not selected; channel \"stable-v1\""],
            ),
        ];
        for (name, operator, want, warnings) in cases {
            let got = select(&catalog, &operator).unwrap_or_else(|e| panic!("case {name}: {e}"));
            assert_eq!(got.packages, expected(want), "case {name}");
            assert_eq!(got.warnings.len(), warnings.len(), "case {name}: warnings {:?}", got.warnings);
            for (warning, part) in got.warnings.iter().zip(warnings) {
                assert!(warning.contains(part), "case {name}: warning {warning:?} says {part:?}");
            }
        }
    }

    #[test]
    fn all_is_full_without_packages() {
        let catalog = catalog();
        let full = select(&catalog, &operator(true, vec![])).expect("full catalog");
        assert_eq!(Selection::all(&catalog), full, "Selection::all is what full: true without packages selects");
        assert_eq!(full.bundles().count(), 13, "every bundle of the test catalog");
    }

    #[test]
    fn dependencies() {
        let catalog = catalog();
        let with_dependencies = |mut op: Operator| {
            op.skip_dependencies = false;
            op
        };
        let cases: Vec<(&str, Operator, &Expected, &[&str])> = vec![
            (
                "by package: the highest in range from the default channel, in every channel listing it",
                with_dependencies(operator(false, vec![filter("alpha")])),
                &[
                    ("alpha", "stable", &[("stable", &["1.10.1"])]),
                    ("beta", "stable-v2", &[("stable-v1", &["1.1.0"]), ("stable-v2", &["1.1.0"])]),
                ],
                &[],
            ),
            (
                "by package, already met by a selected bundle: nothing added",
                with_dependencies(operator(
                    false,
                    vec![filter("alpha"), with_channels("beta", &[("stable-v1", Some("1.0.0"), Some("1.0.0"))])],
                )),
                &[("alpha", "stable", &[("stable", &["1.10.1"])]), ("beta", "stable-v1", &[("stable-v1", &["1.0.0"])])],
                &["package \"beta\": its default channel"],
            ),
            (
                "by GVK: the default-channel head of a provider beats a higher non-head provider",
                with_dependencies(operator(false, vec![with_channels("alpha", &[("candidate", None, None)])])),
                &[
                    ("alpha", "candidate", &[("candidate", &["2.0.0-rc.1"])]),
                    ("gamma", "stable", &[("stable", &["0.2.0"])]),
                ],
                &["\"candidate\""],
            ),
            (
                "cycle, GVK with no head provider, missing package",
                with_dependencies(operator(false, vec![filter("delta")])),
                &[
                    ("beta", "stable-v1", &[("stable-v1", &["1.0.0"])]),
                    ("delta", "stable", &[("stable", &["1.0.0"])]),
                    ("epsilon", "stable", &[("stable", &["1.0.0"])]),
                ],
                &[
                    "package \"delta\": bundle \"delta.v1.0.0\" requires package \"ghost\"",
                    "package \"beta\": its default channel \"stable-v2\" is not selected",
                ],
            ),
            (
                "transitive: full alpha brings beta and gamma",
                with_dependencies(operator(true, vec![filter("alpha")])),
                &[
                    ("alpha", "stable", &[("candidate", &["1.10.1", "2.0.0-rc.1"]), ("stable", ALPHA_STABLE)]),
                    ("beta", "stable-v2", &[("stable-v1", &["1.1.0"]), ("stable-v2", &["1.1.0"])]),
                    ("gamma", "stable", &[("stable", &["0.2.0"])]),
                ],
                &[],
            ),
            (
                "skipDependencies",
                operator(false, vec![filter("delta")]),
                &[("delta", "stable", &[("stable", &["1.0.0"])])],
                &[],
            ),
        ];
        for (name, operator, want, warnings) in cases {
            let got = select(&catalog, &operator).unwrap_or_else(|e| panic!("case {name}: {e}"));
            assert_eq!(got.packages, expected(want), "case {name}");
            assert_eq!(got.warnings.len(), warnings.len(), "case {name}: warnings {:?}", got.warnings);
            for part in warnings {
                assert!(
                    got.warnings.iter().any(|w| w.contains(part)),
                    "case {name}: a warning says {part:?}: {:?}",
                    got.warnings
                );
            }
        }
    }

    #[test]
    fn errors() {
        let catalog = catalog();
        let cases: Vec<(&str, Operator, Error)> = vec![
            (
                "package not in the catalog",
                operator(false, vec![filter("zeta")]),
                Error::NotFound(
                    "package \"zeta\" is not in the catalog; the catalog has: alpha, beta, delta, epsilon, gamma".into(),
                ),
            ),
            (
                "channel not in the package",
                operator(false, vec![with_channels("alpha", &[("fast", None, None)])]),
                Error::NotFound("package \"alpha\": channel \"fast\" is not in the package; it has channels: candidate, stable".into()),
            ),
            (
                "bundle not in the package",
                operator(false, vec![with_bundles("beta", &["beta.v9.9.9"])]),
                Error::NotFound(
                    "package \"beta\": bundle \"beta.v9.9.9\" is not in the package; it has: beta.v1.0.0, beta.v1.1.0, beta.v2.0.0"
                        .into(),
                ),
            ),
            (
                "package range selects nothing",
                operator(false, vec![ranged("alpha", Some("1.11.0"), Some("1.99.0"))]),
                Error::NotFound(
                    "package \"alpha\": channel \"stable\": minVersion 1.11.0 and maxVersion 1.99.0 selects no bundle; the channel has versions: 1.8.0, 1.9.0, 1.9.1, 1.10.0, 1.10.1"
                        .into(),
                ),
            ),
            (
                "channel range selects nothing",
                operator(false, vec![with_channels("alpha", &[("candidate", Some("2.0.0"), None)])]),
                Error::NotFound(
                    "package \"alpha\": channel \"candidate\": minVersion 2.0.0 selects no bundle; the channel has versions: 1.10.1, 2.0.0-rc.1"
                        .into(),
                ),
            ),
            (
                "defaultChannel not in the package",
                operator(false, vec![PackageFilter { default_channel: Some("fast".into()), ..filter("alpha") }]),
                Error::NotFound("package \"alpha\": channel \"fast\" is not in the package; it has channels: candidate, stable".into()),
            ),
            (
                "defaultChannel not among the selected channels",
                operator(
                    false,
                    vec![PackageFilter {
                        default_channel: Some("stable".into()),
                        ..with_channels("alpha", &[("candidate", None, None)])
                    }],
                ),
                Error::NotFound("package \"alpha\": defaultChannel \"stable\" is not among the selected channels (candidate)".into()),
            ),
            (
                "minVersion not a version",
                operator(false, vec![ranged("alpha", Some("latest"), None)]),
                Error::Version("package \"alpha\": minVersion: \"latest\" is not a semantic version".into()),
            ),
            (
                "channel maxVersion not a version",
                operator(false, vec![with_channels("alpha", &[("stable", None, Some("1.2.3.4"))])]),
                Error::Version(
                    "package \"alpha\": channel \"stable\": maxVersion: \"1.2.3.4\" is not a semantic version".into(),
                ),
            ),
        ];
        for (name, operator, want) in cases {
            assert_eq!(select(&catalog, &operator), Err(want), "case {name}");
        }
    }
}
