//! Byte ranges on the wire: the `Range` header of a blob `GET` (RFC 9110 §14) and the
//! `Content-Range` of an upload chunk (distribution-spec: `<start>-<end>`, inclusive, no unit).
//!
//! ```text
//! Range            = range-unit "=" range-set           range units are case-insensitive
//! range-set        = 1#range-spec                       empty list elements are skipped
//! range-spec       = int-range / suffix-range / other-range
//! int-range        = first-pos "-" [ last-pos ]         invalid when last-pos < first-pos
//! suffix-range     = "-" suffix-length
//! ```
//!
//! How a blob `GET` answers its `Range` header:
//!
//! | header | answer |
//! | --- | --- |
//! | absent, another unit (`items=0-1`), or not valid by the grammar | 200, the whole blob (§14.2: ignored) |
//! | one satisfiable range | 206 with `Content-Range: bytes <first>-<last>/<size>` |
//! | several ranges, one of them satisfiable | 200, the whole blob (we send no `multipart/byteranges`) |
//! | no satisfiable range | 416 with `Content-Range: bytes */<size>` |
//!
//! Numbers too large for a `u64` saturate: a huge `first-pos` is then unsatisfiable, a huge
//! `last-pos` or `suffix-length` reaches the end of the blob, which is what they mean.

use crate::store::upload::ChunkRange;

/// One `bytes` range of a `Range` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `first-last`, or `first-` to the end.
    FromTo {
        /// First byte offset.
        first: u64,
        /// Last byte offset, inclusive; `None` for the end of the blob.
        last: Option<u64>,
    },
    /// `-n`: the last `n` bytes.
    Suffix(u64),
}

/// What to send of a representation, given its `Range` header and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// All of it, with 200.
    Whole,
    /// The inclusive byte range `first..=last`, with 206; always `first <= last < size`.
    Part {
        /// First byte offset.
        first: u64,
        /// Last byte offset, inclusive.
        last: u64,
    },
    /// Nothing: 416 with `Content-Range: bytes */<size>`.
    Unsatisfiable,
}

/// Trims the optional whitespace (`OWS`: spaces and tabs) of RFC 9110.
fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// Parses `1*DIGIT`, saturating at `u64::MAX`; `None` unless every byte is a digit.
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |n, b| n.saturating_mul(10).saturating_add(u64::from(b - b'0'))))
}

fn range_spec(s: &str) -> Option<RangeSpec> {
    let (first, last) = s.split_once('-')?;
    if first.is_empty() {
        return digits(last).map(RangeSpec::Suffix);
    }
    let first = digits(first)?;
    let last = if last.is_empty() { None } else { Some(digits(last)?) };
    if last.is_some_and(|l| l < first) {
        return None;
    }
    Some(RangeSpec::FromTo { first, last })
}

/// Parses a `Range` header value into its `bytes` ranges, in order. `None` when the header is
/// to be ignored: another range unit, or a value the grammar above does not allow.
#[must_use]
pub fn parse_range(value: &str) -> Option<Vec<RangeSpec>> {
    let (unit, set) = trim_ows(value).split_once('=')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let specs = set.split(',').map(trim_ows).filter(|s| !s.is_empty()).map(range_spec).collect::<Option<Vec<_>>>()?;
    if specs.is_empty() { None } else { Some(specs) }
}

impl RangeSpec {
    /// RFC 9110 §14.1.2: an int-range is satisfiable when it starts inside the representation,
    /// a suffix-range when its length is not zero (even of an empty representation).
    fn satisfiable(self, size: u64) -> bool {
        match self {
            RangeSpec::FromTo { first, .. } => first < size,
            RangeSpec::Suffix(n) => n > 0,
        }
    }

    /// The inclusive byte range a satisfiable spec selects; `None` when it selects no byte.
    fn within(self, size: u64) -> Option<(u64, u64)> {
        let end = size.checked_sub(1)?;
        match self {
            RangeSpec::FromTo { first, last } => Some((first, last.map_or(end, |l| l.min(end)))),
            RangeSpec::Suffix(n) => Some((size.saturating_sub(n), end)),
        }
    }
}

/// Decides what to send of `size` bytes for the ranges of a `Range` header.
#[must_use]
pub fn select(specs: &[RangeSpec], size: u64) -> Selection {
    match specs {
        // A suffix of an empty blob is satisfiable but selects nothing: send the (empty) whole.
        [only] if only.satisfiable(size) => {
            only.within(size).map_or(Selection::Whole, |(first, last)| Selection::Part { first, last })
        }
        _ if specs.iter().any(|s| s.satisfiable(size)) => Selection::Whole,
        _ => Selection::Unsatisfiable,
    }
}

/// Parses an upload chunk's `Content-Range: <start>-<end>` (also with a `bytes ` or `bytes=`
/// prefix, which some clients send). `None` when malformed or when `end < start`.
#[must_use]
pub fn parse_chunk_range(value: &str) -> Option<ChunkRange> {
    let value = trim_ows(value);
    let spec = value
        .strip_prefix("bytes")
        .map_or(value, |rest| rest.strip_prefix(['=', ' ']).unwrap_or(rest))
        .trim_start_matches(' ');
    let (start, end) = spec.split_once('-')?;
    let range = ChunkRange { start: digits(trim_ows(start))?, end: digits(trim_ows(end))? };
    (range.end >= range.start).then_some(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_headers() {
        use RangeSpec::{FromTo, Suffix};
        let cases: Vec<(&str, &str, Option<Vec<RangeSpec>>)> = vec![
            ("closed", "bytes=0-9", Some(vec![FromTo { first: 0, last: Some(9) }])),
            ("open end", "bytes=5-", Some(vec![FromTo { first: 5, last: None }])),
            ("suffix", "bytes=-4", Some(vec![Suffix(4)])),
            ("unit is case-insensitive", "Bytes=1-2", Some(vec![FromTo { first: 1, last: Some(2) }])),
            (
                "several, with whitespace and an empty element",
                "bytes=0-1 , ,\t4-5",
                Some(vec![FromTo { first: 0, last: Some(1) }, FromTo { first: 4, last: Some(5) }]),
            ),
            (
                "huge numbers saturate",
                "bytes=99999999999999999999999-",
                Some(vec![FromTo { first: u64::MAX, last: None }]),
            ),
            ("unknown unit is ignored", "items=0-1", None),
            ("no unit", "0-9", None),
            ("letters", "bytes=a-b", None),
            ("last before first", "bytes=5-4", None),
            ("a plus sign is not a digit", "bytes=+1-2", None),
            ("no dash", "bytes=5", None),
            ("bare dash", "bytes=-", None),
            ("empty set", "bytes=", None),
            ("only commas", "bytes=,,", None),
            ("one bad spec spoils the set", "bytes=0-1,x", None),
            ("space inside a spec", "bytes=0 -1", None),
            ("non-ASCII digit", "bytes=\u{661}-2", None),
        ];
        for (name, header, expected) in cases {
            assert_eq!(parse_range(header), expected, "case {name}");
        }
    }

    #[test]
    fn selections() {
        use RangeSpec::{FromTo, Suffix};
        let part = |first, last| Selection::Part { first, last };
        let cases: Vec<(&str, Vec<RangeSpec>, u64, Selection)> = vec![
            ("closed", vec![FromTo { first: 2, last: Some(4) }], 10, part(2, 4)),
            ("last past the end is clamped", vec![FromTo { first: 2, last: Some(99) }], 10, part(2, 9)),
            ("open end", vec![FromTo { first: 7, last: None }], 10, part(7, 9)),
            ("last byte", vec![FromTo { first: 9, last: Some(9) }], 10, part(9, 9)),
            ("first at the size", vec![FromTo { first: 10, last: None }], 10, Selection::Unsatisfiable),
            ("suffix", vec![Suffix(3)], 10, part(7, 9)),
            ("suffix longer than the blob", vec![Suffix(30)], 10, part(0, 9)),
            ("zero suffix", vec![Suffix(0)], 10, Selection::Unsatisfiable),
            ("empty blob, open range", vec![FromTo { first: 0, last: None }], 0, Selection::Unsatisfiable),
            ("empty blob, suffix", vec![Suffix(1)], 0, Selection::Whole),
            (
                "several ranges: whole blob",
                vec![FromTo { first: 0, last: Some(1) }, FromTo { first: 4, last: Some(5) }],
                10,
                Selection::Whole,
            ),
            (
                "several ranges, one satisfiable: whole blob",
                vec![FromTo { first: 50, last: None }, Suffix(2)],
                10,
                Selection::Whole,
            ),
            (
                "several ranges, none satisfiable",
                vec![FromTo { first: 50, last: None }, Suffix(0)],
                10,
                Selection::Unsatisfiable,
            ),
        ];
        for (name, specs, size, expected) in cases {
            assert_eq!(select(&specs, size), expected, "case {name}");
        }
    }

    #[test]
    fn chunk_ranges() {
        let cases: Vec<(&str, &str, Option<(u64, u64)>)> = vec![
            ("plain", "0-4", Some((0, 4))),
            ("bytes space", "bytes 5-9", Some((5, 9))),
            ("bytes equals", "bytes=5-9", Some((5, 9))),
            ("single byte", "3-3", Some((3, 3))),
            ("end before start", "5-4", None),
            ("garbage", "bananas", None),
            ("no end", "5-", None),
            ("signed", "+1-2", None),
            ("total size suffix is not ours", "0-4/5", None),
        ];
        for (name, header, expected) in cases {
            assert_eq!(parse_chunk_range(header).map(|r| (r.start, r.end)), expected, "case {name}");
        }
    }
}
