//! Semantic versions (semver 2.0.0) of OpenShift releases and operator bundles, and the version
//! ranges bundles use in `olm.package.required` (blang/semver range syntax, as OLM reads them).
//!
//! Release versions (update graph nodes) and bundle versions are strict semver. Versions typed in an ImageSetConfiguration
//! (`minVersion`, `maxVersion`) are read leniently ([`Version::parse_lenient`]): an optional
//! `v`, and a missing minor or patch counts as 0 (`4.16` is `4.16.0`).
//!
//! Strict grammar (semver 2.0.0):
//!
//! ```text
//! version    = core [ "-" pre ] [ "+" build ]
//! core       = number "." number "." number          ; no leading zeros
//! pre        = pre-id *( "." pre-id )                ; numeric ids without leading zeros
//! build      = build-id *( "." build-id )            ; leading zeros allowed
//! id chars   = [0-9A-Za-z-], never empty
//! ```
//!
//! Range grammar (blang/semver, as used by OLM's `versionRange`):
//!
//! ```text
//! range      = and *( "||" and )
//! and        = comparator *( spaces comparator )
//! comparator = [ op ] [ spaces ] version | [ op ] [ spaces ] wildcard
//! op         = ">" / ">=" / "<" / "<=" / "=" / "==" / "!" / "!="      ; none means "="
//! wildcard   = number "." ( "x" / number "." "x" ) / number "." "x" "." "x"
//! ```
//!
//! Helm constraints ([`Range::parse_helm`], Masterminds/semver) add `,` for "and", `~` and
//! `^`, partial versions (`1.19`, read as `1.19.x`), a `v` prefix, and wildcards anywhere after
//! the first part (`1.*`); their pre-release and build parts are ignored.
//!
//! A wildcard stands for the versions it covers: `1.2.x` is `>=1.2.0 <1.3.0`, `>1.2.x` is
//! `>=1.3.0`, `<=1.x` is `<2.0.0`, `!1.x` is outside `[1.0.0, 2.0.0)`. (blang expands `!1.x`
//! into `<1.0.0 >=2.0.0`, which nothing satisfies, and reads `1.x.x` as `1.0.x`; both are read
//! here as what they say.) Range checks compare by semver precedence, so build metadata never
//! matters to them.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// Why a version or range was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not a semantic version.
    #[error("{0:?} is not a semantic version")]
    Version(String),
    /// Not a version range.
    #[error("{0:?} is not a version range")]
    Range(String),
}

/// One dot-separated pre-release identifier. The variant order is the precedence order the
/// spec gives: numeric identifiers sort before alphanumeric ones.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Identifier {
    Numeric(u64),
    Alphanumeric(String),
}

/// A semantic version. Ordered by semver precedence; build metadata does not count for
/// precedence but breaks ties so that the order is total and `Eq` agrees with `Ord`.
///
/// Two versions are equal when their numbers, pre-release and build metadata are: `v1.2` read
/// leniently equals `1.2.0`, and [`Display`](fmt::Display) prints each as it was written.
#[derive(Debug, Clone)]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Vec<Identifier>,
    /// Build metadata without the `+`, empty when there is none.
    build: String,
    text: String,
}

impl Version {
    /// Parses a version typed by a user: optional `v`, one to three numbers.
    ///
    /// Leading zeros in the numbers are accepted (`4.06` is `4.6.0`), as blang's
    /// `ParseTolerant`, which oc-mirror uses for these fields, accepts them. Surrounding spaces
    /// are ignored.
    ///
    /// # Errors
    /// [`Error::Version`].
    pub fn parse_lenient(text: &str) -> Result<Version, Error> {
        let refuse = || Error::Version(text.to_owned());
        let trimmed = text.trim();
        let unprefixed = trimmed.strip_prefix('v').unwrap_or(trimmed);
        let (rest, build) = split_build(unprefixed).ok_or_else(refuse)?;
        let (core, pre) = split_pre(rest).ok_or_else(refuse)?;
        let mut numbers = [0_u64; 3];
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() > numbers.len() {
            return Err(refuse());
        }
        for (slot, part) in numbers.iter_mut().zip(&parts) {
            *slot = parse_number(part, true).ok_or_else(refuse)?;
        }
        let [major, minor, patch] = numbers;
        Ok(Version { major, minor, patch, pre, build: build.to_owned(), text: trimmed.to_owned() })
    }

    /// The major version number.
    #[must_use]
    pub fn major(&self) -> u64 {
        self.major
    }

    /// The minor version number.
    #[must_use]
    pub fn minor(&self) -> u64 {
        self.minor
    }

    /// The patch version number.
    #[must_use]
    pub fn patch(&self) -> u64 {
        self.patch
    }

    /// Whether the version has a pre-release part (`1.0.0-rc.1`).
    #[must_use]
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }

    /// Compares by semver precedence only: build metadata is ignored, so `1.0.0+a` and
    /// `1.0.0+b` are `Equal` here while [`Ord`] orders them. Version filters and ranges use
    /// this, because the spec says build metadata does not count.
    #[must_use]
    pub fn cmp_precedence(&self, other: &Version) -> Ordering {
        (self.major, self.minor, self.patch).cmp(&(other.major, other.minor, other.patch)).then_with(|| {
            // A pre-release sorts before the release it precedes (spec item 11.3).
            match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                // Identifier by identifier, and a longer list wins when one is a prefix of
                // the other (spec item 11.4), which is how slices compare.
                (false, false) => self.pre.cmp(&other.pre),
            }
        })
    }

    /// The version without its pre-release and build parts (`1.30.0-gke.1` → `1.30.0`).
    #[must_use]
    pub fn core(&self) -> Version {
        Version::from_numbers(self.major, self.minor, self.patch)
    }

    /// A release version built from numbers, printed as `major.minor.patch`.
    fn from_numbers(major: u64, minor: u64, patch: u64) -> Version {
        Version { major, minor, patch, pre: Vec::new(), build: String::new(), text: format!("{major}.{minor}.{patch}") }
    }
}

/// Splits off `+build`, checking the build identifiers. `None` when they are malformed.
fn split_build(text: &str) -> Option<(&str, &str)> {
    match text.split_once('+') {
        None => Some((text, "")),
        Some((rest, build)) => build.split('.').all(is_identifier).then_some((rest, build)),
    }
}

/// Splits off `-pre` and parses the pre-release identifiers. `None` when they are malformed.
fn split_pre(text: &str) -> Option<(&str, Vec<Identifier>)> {
    let Some((core, pre)) = text.split_once('-') else {
        return Some((text, Vec::new()));
    };
    let identifiers = pre
        .split('.')
        .map(|id| {
            if !is_identifier(id) {
                None
            } else if id.bytes().all(|b| b.is_ascii_digit()) {
                // Numeric pre-release identifiers must not have leading zeros (spec item 9).
                parse_number(id, false).map(Identifier::Numeric)
            } else {
                Some(Identifier::Alphanumeric(id.to_owned()))
            }
        })
        .collect::<Option<Vec<_>>>()?;
    Some((core, identifiers))
}

fn is_identifier(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A decimal number; leading zeros only when `leading_zeros` allows them.
fn parse_number(text: &str, leading_zeros: bool) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !leading_zeros && text.len() > 1 && text.starts_with('0') {
        return None;
    }
    text.parse().ok()
}

impl FromStr for Version {
    type Err = Error;

    /// Parses a strict semver 2.0.0 version, as OLM requires of bundle versions: three
    /// numbers without leading zeros and no `v` prefix.
    fn from_str(s: &str) -> Result<Version, Error> {
        let refuse = || Error::Version(s.to_owned());
        let (rest, build) = split_build(s).ok_or_else(refuse)?;
        let (core, pre) = split_pre(rest).ok_or_else(refuse)?;
        let mut parts = core.split('.');
        let mut number = || parts.next().and_then(|p| parse_number(p, false)).ok_or_else(refuse);
        let (major, minor, patch) = (number()?, number()?, number()?);
        if parts.next().is_some() {
            return Err(refuse());
        }
        Ok(Version { major, minor, patch, pre, build: build.to_owned(), text: s.to_owned() })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl Hash for Version {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The fields `cmp` looks at, and only those, so that equal versions hash alike.
        (self.major, self.minor, self.patch, &self.pre, &self.build).hash(state);
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.cmp_precedence(other).then_with(|| self.build.cmp(&other.build))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A version range such as `>=1.2.0 <2.0.0 || 3.0.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// Alternatives (`||`), each a list of comparators that must all hold.
    any_of: Vec<Vec<Comparator>>,
    text: String,
}

/// One condition on a version.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Comparator {
    /// `op version`.
    Compare(Op, Version),
    /// Outside `[low, high)`: what `!1.x` means.
    Outside(Version, Version),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn parse(text: &str) -> Option<Op> {
        Some(match text {
            "" | "=" | "==" => Op::Eq,
            "!" | "!=" => Op::Ne,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "<" => Op::Lt,
            "<=" => Op::Le,
            _ => return None,
        })
    }

    fn holds(self, order: Ordering) -> bool {
        match self {
            Op::Eq => order == Ordering::Equal,
            Op::Ne => order != Ordering::Equal,
            Op::Gt => order == Ordering::Greater,
            Op::Ge => order != Ordering::Less,
            Op::Lt => order == Ordering::Less,
            Op::Le => order != Ordering::Greater,
        }
    }
}

impl Comparator {
    fn holds(&self, version: &Version) -> bool {
        match self {
            Comparator::Compare(op, bound) => op.holds(version.cmp_precedence(bound)),
            Comparator::Outside(low, high) => {
                version.cmp_precedence(low) == Ordering::Less || version.cmp_precedence(high) != Ordering::Less
            }
        }
    }
}

impl Range {
    /// Parses a Helm constraint (Masterminds/semver, what `helm pull --version` and
    /// `semverCompare` read; see the module docs). The pre-release and build parts of its
    /// versions are ignored: charts write `>=1.19-0` to mean "1.19 and up, pre-releases too".
    ///
    /// # Errors
    /// [`Error::Range`].
    pub fn parse_helm(text: &str) -> Result<Range, Error> {
        let refuse = || Error::Range(text.to_owned());
        let mut any_of = Vec::new();
        for alternative in text.split("||") {
            let mut all = Vec::new();
            for token in comparator_tokens(&alternative.replace(',', " ")) {
                helm_comparator(&token, &mut all).ok_or_else(refuse)?;
            }
            if all.is_empty() {
                return Err(refuse());
            }
            any_of.push(all);
        }
        Ok(Range { any_of, text: text.to_owned() })
    }

    /// Whether `version` lies in the range.
    #[must_use]
    pub fn contains(&self, version: &Version) -> bool {
        self.any_of.iter().any(|all| all.iter().all(|c| c.holds(version)))
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Range {
    type Err = Error;

    /// Parses blang/semver range syntax (see the module docs).
    fn from_str(s: &str) -> Result<Range, Error> {
        let refuse = || Error::Range(s.to_owned());
        let mut any_of = Vec::new();
        for alternative in s.split("||") {
            let mut all = Vec::new();
            for token in comparator_tokens(alternative) {
                parse_comparator(&token, &mut all).ok_or_else(refuse)?;
            }
            if all.is_empty() {
                return Err(refuse());
            }
            any_of.push(all);
        }
        Ok(Range { any_of, text: s.to_owned() })
    }
}

/// Splits one `||` alternative into comparators at spaces, joining an operator to the version
/// after it, as blang does, so that `>= 1.0.0` is one comparator.
fn comparator_tokens(alternative: &str) -> Vec<String> {
    let mut tokens: Vec<String> = Vec::new();
    let mut joins_next = false;
    for word in alternative.split_whitespace() {
        match tokens.last_mut() {
            Some(last) if joins_next => last.push_str(word),
            _ => tokens.push(word.to_owned()),
        }
        joins_next = word.bytes().all(|b| matches!(b, b'<' | b'>' | b'=' | b'!' | b'~' | b'^'));
    }
    tokens
}

/// Parses one comparator into `all`: one condition, or two for a wildcard that is a
/// half-open interval. `None` when malformed.
fn parse_comparator(token: &str, all: &mut Vec<Comparator>) -> Option<()> {
    let split = token.find(|c: char| c.is_ascii_digit())?;
    let (op_text, version_text) = token.split_at(split);
    let op = Op::parse(op_text)?;
    if !version_text.split('.').any(is_wildcard_part) {
        all.push(Comparator::Compare(op, version_text.parse().ok()?));
        return Some(());
    }
    let (low, high) = wildcard_interval(version_text)?;
    match op {
        Op::Eq => {
            all.push(Comparator::Compare(Op::Ge, low));
            all.push(Comparator::Compare(Op::Lt, high));
        }
        Op::Ne => all.push(Comparator::Outside(low, high)),
        Op::Gt => all.push(Comparator::Compare(Op::Ge, high)),
        Op::Ge => all.push(Comparator::Compare(Op::Ge, low)),
        Op::Lt => all.push(Comparator::Compare(Op::Lt, low)),
        Op::Le => all.push(Comparator::Compare(Op::Lt, high)),
    }
    Some(())
}

/// Parses one Helm comparator into `all`. A partial version is a wildcard over its missing
/// parts (`1.2` is `1.2.x`); `~1.2.3` is `>=1.2.3 <1.3.0` (`~1` is `1.x`); `^1.2.3` is
/// `>=1.2.3 <2.0.0`, and below 1.0.0 the first non-zero part is the one kept (`^0.2.3` is
/// `<0.3.0`). `None` when malformed.
fn helm_comparator(token: &str, all: &mut Vec<Comparator>) -> Option<()> {
    let split = token.find(|c: char| c.is_ascii_alphanumeric() || c == '*')?;
    let (op, text) = token.split_at(split);
    let text = text.strip_prefix('v').unwrap_or(text);
    let core = text.split(['-', '+']).next()?;
    let parts: Vec<Option<u64>> = core
        .split('.')
        .map(|p| if is_wildcard_part(p) { Some(None) } else { parse_number(p, true).map(Some) })
        .collect::<Option<_>>()?;
    let specified = parts.iter().take_while(|p| p.is_some()).count();
    if parts.len() > 3 || parts[specified..].iter().any(Option::is_some) {
        return None;
    }
    let n = |i: usize| parts.get(i).copied().flatten().unwrap_or(0);
    let low = Version::from_numbers(n(0), n(1), n(2));
    // The first version past the part at `level` (0 major, 1 minor, 2 patch).
    let past = |level: usize| -> Option<Version> {
        Some(match level {
            0 => Version::from_numbers(n(0).checked_add(1)?, 0, 0),
            1 => Version::from_numbers(n(0), n(1).checked_add(1)?, 0),
            _ => Version::from_numbers(n(0), n(1), n(2).checked_add(1)?),
        })
    };
    // What the version covers: `1.2` covers [1.2.0, 1.3.0); `*` covers everything.
    let high = if specified == 0 { None } else { Some(past(specified - 1)?) };
    let nothing = || Comparator::Compare(Op::Lt, Version::from_numbers(0, 0, 0));
    match (op, high) {
        ("" | "=" | "==", high) => {
            all.push(Comparator::Compare(Op::Ge, low));
            all.extend(high.map(|h| Comparator::Compare(Op::Lt, h)));
        }
        ("!=" | "!", Some(high)) => all.push(Comparator::Outside(low, high)),
        ("!=" | "!" | ">", None) => all.push(nothing()),
        (">", Some(high)) => all.push(Comparator::Compare(Op::Ge, high)),
        (">=", _) | ("~" | "~>" | "^", None) => all.push(Comparator::Compare(Op::Ge, low)),
        ("<", _) => all.push(Comparator::Compare(Op::Lt, low)),
        ("<=", Some(high)) => all.push(Comparator::Compare(Op::Lt, high)),
        ("<=", None) => all.push(Comparator::Compare(Op::Ge, Version::from_numbers(0, 0, 0))),
        ("~" | "~>", Some(_)) => {
            all.push(Comparator::Compare(Op::Ge, low));
            all.push(Comparator::Compare(Op::Lt, past(usize::from(specified > 1))?));
        }
        ("^", Some(_)) => {
            let level = if n(0) > 0 || specified <= 1 {
                0
            } else if n(1) > 0 || specified == 2 {
                1
            } else {
                2
            };
            all.push(Comparator::Compare(Op::Ge, low));
            all.push(Comparator::Compare(Op::Lt, past(level)?));
        }
        _ => return None,
    }
    Some(())
}

fn is_wildcard_part(part: &str) -> bool {
    matches!(part, "x" | "X" | "*")
}

/// Reads `1.x`, `1.x.x` or `1.2.x` as the half-open interval it covers; `None` when it is
/// malformed (`1.x.2`, `x.1`).
fn wildcard_interval(text: &str) -> Option<(Version, Version)> {
    let parts: Vec<&str> = text.split('.').collect();
    let number = |p: &str| parse_number(p, false);
    match parts.as_slice() {
        [major, rest @ ..] if (1..=2).contains(&rest.len()) && rest.iter().all(|p| is_wildcard_part(p)) => {
            let major = number(major)?;
            Some((Version::from_numbers(major, 0, 0), Version::from_numbers(major.checked_add(1)?, 0, 0)))
        }
        [major, minor, patch] if is_wildcard_part(patch) => {
            let (major, minor) = (number(major)?, number(minor)?);
            Some((Version::from_numbers(major, minor, 0), Version::from_numbers(major, minor.checked_add(1)?, 0)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        text.parse().unwrap_or_else(|e| panic!("test version {text}: {e}"))
    }

    #[test]
    fn precedence() {
        let cases: &[(&str, &str, &str, Ordering)] = &[
            ("v5.10.0 > v5.5.2", "5.10.0", "5.5.2", Ordering::Greater),
            ("minor numerically", "1.10.0", "1.9.0", Ordering::Greater),
            ("patch numerically", "1.0.10", "1.0.9", Ordering::Greater),
            ("major first", "2.0.0", "1.99.99", Ordering::Greater),
            ("spec: alpha < alpha.1", "1.0.0-alpha", "1.0.0-alpha.1", Ordering::Less),
            ("spec: alpha.1 < alpha.beta", "1.0.0-alpha.1", "1.0.0-alpha.beta", Ordering::Less),
            ("spec: alpha.beta < beta", "1.0.0-alpha.beta", "1.0.0-beta", Ordering::Less),
            ("spec: beta < beta.2", "1.0.0-beta", "1.0.0-beta.2", Ordering::Less),
            ("spec: beta.2 < beta.11", "1.0.0-beta.2", "1.0.0-beta.11", Ordering::Less),
            ("spec: beta.11 < rc.1", "1.0.0-beta.11", "1.0.0-rc.1", Ordering::Less),
            ("spec: rc.1 < release", "1.0.0-rc.1", "1.0.0", Ordering::Less),
            ("numeric id < alphanumeric id", "1.0.0-1", "1.0.0-a", Ordering::Less),
            ("pre-release of a higher patch is above the release", "1.0.1-alpha", "1.0.0", Ordering::Greater),
            ("build ignored for precedence, breaks ties", "1.0.0+b", "1.0.0+a", Ordering::Greater),
            ("no build before build", "1.0.0", "1.0.0+a", Ordering::Less),
            ("build does not beat a higher patch", "1.0.0+zzz", "1.0.1", Ordering::Less),
            ("equal", "1.2.3-rc.1+x", "1.2.3-rc.1+x", Ordering::Equal),
        ];
        for (name, a, b, expected) in cases {
            assert_eq!(v(a).cmp(&v(b)), *expected, "case {name}");
            assert_eq!(v(b).cmp(&v(a)), expected.reverse(), "case {name} (reversed)");
            assert_eq!(v(a) == v(b), *expected == Ordering::Equal, "case {name}: Eq agrees with Ord");
        }
    }

    #[test]
    fn spec_chain_sorts() {
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
        ];
        let mut shuffled: Vec<Version> = chain.iter().rev().map(|t| v(t)).collect();
        shuffled.swap(0, 3);
        shuffled.sort();
        let sorted: Vec<String> = shuffled.iter().map(ToString::to_string).collect();
        assert_eq!(sorted, chain, "the semver spec's example chain sorts in its order");
    }

    #[test]
    fn precedence_ignores_build() {
        assert_eq!(v("1.0.0+a").cmp_precedence(&v("1.0.0+b")), Ordering::Equal, "build metadata has no precedence");
        assert_ne!(v("1.0.0+a"), v("1.0.0+b"), "but the versions are not equal");
    }

    #[test]
    fn strict_parsing() {
        let cases: &[(&str, &str, Option<(u64, u64, u64, bool)>)] = &[
            ("plain", "1.2.3", Some((1, 2, 3, false))),
            ("zeros", "0.0.0", Some((0, 0, 0, false))),
            ("pre-release", "1.2.3-rc.1", Some((1, 2, 3, true))),
            ("pre-release with hyphen", "1.2.3-alpha-2.x-y", Some((1, 2, 3, true))),
            ("build", "1.2.3+build.007", Some((1, 2, 3, false))),
            ("pre-release and build", "1.2.3-0.beta+sha.5114f85", Some((1, 2, 3, true))),
            ("refused: v prefix", "v1.2.3", None),
            ("refused: two numbers", "1.2", None),
            ("refused: four numbers", "1.2.3.4", None),
            ("refused: leading zero", "01.2.3", None),
            ("refused: leading zero in numeric pre-release", "1.2.3-01", None),
            ("refused: empty pre-release", "1.2.3-", None),
            ("refused: empty pre-release id", "1.2.3-a..b", None),
            ("refused: empty build", "1.2.3+", None),
            ("refused: bad character", "1.2.3-a_b", None),
            ("refused: letters", "one.two.three", None),
            ("refused: empty", "", None),
            ("refused: spaces", " 1.2.3", None),
            ("refused: overflow", "18446744073709551616.0.0", None),
            ("refused: sign", "+1.2.3", None),
        ];
        for (name, input, expected) in cases {
            let got = input.parse::<Version>().ok().map(|v| (v.major(), v.minor(), v.patch(), v.is_prerelease()));
            assert_eq!(got, *expected, "case {name}");
            if let Ok(parsed) = input.parse::<Version>() {
                assert_eq!(parsed.to_string(), *input, "case {name}: displayed as written");
            }
        }
    }

    #[test]
    fn lenient_parsing() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("full", "4.16.1", Some("4.16.1")),
            ("v prefix", "v4.16.1", Some("4.16.1")),
            ("major.minor", "4.16", Some("4.16.0")),
            ("major only", "v4", Some("4.0.0")),
            ("leading zeros", "4.06", Some("4.6.0")),
            ("pre-release", "v1.2-rc.1", Some("1.2.0-rc.1")),
            ("build", "1.2.3+b", Some("1.2.3+b")),
            ("spaces", " 1.2.3 ", Some("1.2.3")),
            ("refused: four numbers", "1.2.3.4", None),
            ("refused: empty", "", None),
            ("refused: only v", "v", None),
            ("refused: letters", "latest", None),
            ("refused: trailing dot", "1.2.", None),
            ("refused: bad pre-release", "1.2.3-01", None),
        ];
        for (name, input, expected) in cases {
            let got = Version::parse_lenient(input).ok();
            assert_eq!(got, expected.map(v), "case {name}");
            if let Some(got) = got {
                assert_eq!(got.to_string(), input.trim(), "case {name}: displayed as written");
            }
        }
    }

    #[test]
    fn range_matching() {
        let cases: &[(&str, &str, &[&str], &[&str])] = &[
            ("exact, no operator", "1.2.3", &["1.2.3", "1.2.3+build"], &["1.2.4", "1.2.3-rc.1"]),
            ("equals", "=1.2.3", &["1.2.3"], &["1.2.2"]),
            ("double equals", "==1.2.3", &["1.2.3"], &["1.2.2"]),
            ("not", "!1.2.3", &["1.2.2", "1.2.4"], &["1.2.3"]),
            ("not equals", "!=1.2.3", &["1.2.2"], &["1.2.3"]),
            ("greater", ">1.2.3", &["1.2.4", "2.0.0"], &["1.2.3", "1.2.3-rc.1"]),
            ("greater or equal", ">=1.2.3", &["1.2.3", "1.3.0"], &["1.2.2", "1.2.3-rc.1"]),
            ("less", "<1.2.3", &["1.2.2", "1.2.3-rc.1"], &["1.2.3"]),
            ("less or equal", "<=1.2.3", &["1.2.3", "0.1.0"], &["1.2.4"]),
            ("and", ">=1.2.0 <2.0.0", &["1.2.0", "1.99.0"], &["1.1.9", "2.0.0"]),
            ("and or", ">=1.2.0 <2.0.0 || 3.0.0", &["1.5.0", "3.0.0"], &["2.5.0", "3.0.1"]),
            ("or without spaces", "1.0.0||2.0.0", &["1.0.0", "2.0.0"], &["1.5.0"]),
            ("space after operator", ">= 1.2.0  < 2.0.0", &["1.2.0"], &["2.0.0", "1.1.0"]),
            ("minor wildcard", "1.x", &["1.0.0", "1.9.9"], &["0.9.0", "2.0.0"]),
            ("minor wildcard, two x", "1.x.x", &["1.0.0", "1.9.9"], &["2.0.0"]),
            ("patch wildcard", "1.2.x", &["1.2.0", "1.2.9"], &["1.3.0", "1.1.9"]),
            ("greater or equal wildcard", ">=1.2.x", &["1.2.0", "5.0.0"], &["1.1.9"]),
            ("greater wildcard", ">1.2.x", &["1.3.0"], &["1.2.9"]),
            ("less wildcard", "<1.2.x", &["1.1.9"], &["1.2.0"]),
            ("less or equal wildcard", "<=1.x", &["1.9.9"], &["2.0.0"]),
            ("not wildcard", "!1.x", &["0.9.0", "2.0.0"], &["1.5.0"]),
            ("OLM style", ">=4.1.0 <4.2.0-0", &["4.1.5"], &["4.2.0-rc.1", "4.2.0"]),
        ];
        for (name, range, inside, outside) in cases {
            let parsed: Range = range.parse().unwrap_or_else(|e| panic!("case {name}: {e}"));
            assert_eq!(parsed.to_string(), *range, "case {name}: displayed as written");
            for version in *inside {
                assert!(parsed.contains(&v(version)), "case {name}: {version} is in {range}");
            }
            for version in *outside {
                assert!(!parsed.contains(&v(version)), "case {name}: {version} is not in {range}");
            }
        }
    }

    #[test]
    fn refused_ranges() {
        let cases: &[(&str, &str)] = &[
            ("empty", ""),
            ("spaces only", "   "),
            ("empty alternative", "1.0.0 ||"),
            ("leading or", "|| 1.0.0"),
            ("unknown operator", "~1.0.0"),
            ("caret", "^1.0.0"),
            ("v prefix", ">=v1.0.0"),
            ("partial version", ">=1.0"),
            ("not a version", ">=latest"),
            ("operator only", ">="),
            ("wildcard in the middle", "1.x.2"),
            ("wildcard major", "x.1"),
            ("trailing garbage", ">=1.0.0,<2.0.0"),
        ];
        for (name, input) in cases {
            assert_eq!(
                input.parse::<Range>(),
                Err(Error::Range((*input).to_owned())),
                "case {name}: {input:?} is refused"
            );
        }
    }

    /// Helm's dialect, as charts and `helm pull --version` write it.
    #[test]
    fn helm_constraints() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            (">=1.19-0", &["1.19.0", "1.30.0"], &["1.18.9"]),
            ("<1.14-0", &["1.13.9"], &["1.14.0"]),
            ("^1.2", &["1.2.0", "1.9.0"], &["1.1.9", "2.0.0"]),
            ("^0.2.3", &["0.2.3", "0.2.9"], &["0.3.0", "0.2.2"]),
            ("^0.0.3", &["0.0.3"], &["0.0.4"]),
            ("~1.2", &["1.2.0", "1.2.9"], &["1.3.0"]),
            ("~1", &["1.0.0", "1.9.0"], &["2.0.0"]),
            ("~>1.2.3", &["1.2.3", "1.2.9"], &["1.3.0", "1.2.2"]),
            ("1.2", &["1.2.0", "1.2.7"], &["1.3.0"]),
            ("v1.2.3", &["1.2.3"], &["1.2.4"]),
            ("1.*", &["1.0.0", "1.5.0"], &["2.0.0"]),
            ("*", &["0.0.1", "9.0.0"], &[]),
            (">1.2", &["1.3.0"], &["1.2.9"]),
            ("<=1.2", &["1.2.9"], &["1.3.0"]),
            ("!=1.2", &["1.1.0", "1.3.0"], &["1.2.5"]),
            (">=1.0.0, <2.0.0", &["1.5.0"], &["2.0.0", "0.9.0"]),
            (">= 1.0 < 1.5 || ^3", &["1.4.0", "3.2.0"], &["1.5.0", "2.0.0"]),
        ];
        for (range, inside, outside) in cases {
            let parsed = Range::parse_helm(range).unwrap_or_else(|e| panic!("{range}: {e}"));
            for version in *inside {
                assert!(parsed.contains(&v(version)), "{version} is in {range}");
            }
            for version in *outside {
                assert!(!parsed.contains(&v(version)), "{version} is not in {range}");
            }
        }
        for bad in ["", ">=", "latest", "1.x.2", "1.2.3.4", "%1.0", ">=1.0 ||"] {
            assert_eq!(Range::parse_helm(bad), Err(Error::Range(bad.to_owned())), "{bad:?} is refused");
        }
    }
}
