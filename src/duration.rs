//! Human durations in the config and on the command line: `500ms`, `90s`, `30m`, `1h`, `7d`,
//! `1h30m` (Go's forms plus days), or a plain number of seconds.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A duration written for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

/// A duration that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {0:?}: use forms like 500ms, 90s, 30m, 1h, 7d or 1h30m")]
pub struct Error(pub String);

impl FromStr for HumanDuration {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let err = || Error(s.to_string());
        let text = s.trim();
        if let Ok(secs) = text.parse::<u64>() {
            return Ok(HumanDuration(Duration::from_secs(secs)));
        }
        if text.is_empty() {
            return Err(err());
        }
        let mut total = Duration::ZERO;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let value: u64 = rest[..digits].parse().map_err(|_| err())?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = match &rest[..unit_len] {
                "ms" => Duration::from_millis(value),
                "s" => Duration::from_secs(value),
                "m" => Duration::from_secs(value.checked_mul(60).ok_or_else(err)?),
                "h" => Duration::from_secs(value.checked_mul(3600).ok_or_else(err)?),
                "d" => Duration::from_secs(value.checked_mul(86400).ok_or_else(err)?),
                _ => return Err(err()),
            };
            total = total.checked_add(unit).ok_or_else(err)?;
            rest = &rest[unit_len..];
        }
        Ok(HumanDuration(total))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.as_secs();
        match s {
            0 => f.write_str("0s"),
            s if s % 86400 == 0 => write!(f, "{}d", s / 86400),
            s if s % 3600 == 0 => write!(f, "{}h", s / 3600),
            s if s % 60 == 0 => write!(f, "{}m", s / 60),
            s => write!(f, "{s}s"),
        }
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Seconds(s) => Ok(HumanDuration(Duration::from_secs(s))),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases: &[(&str, Option<u64>)] = &[
            ("90", Some(90)),
            ("90s", Some(90)),
            ("30m", Some(1800)),
            ("1h", Some(3600)),
            ("1h30m", Some(5400)),
            ("7d", Some(604_800)),
            ("0s", Some(0)),
            ("", None),
            ("1x", None),
            ("h", None),
            ("10", Some(10)),
            ("5m3", None),
            ("500ms", Some(0)),
            ("1m500ms", Some(60)),
        ];
        for (input, expected) in cases {
            assert_eq!(input.parse::<HumanDuration>().ok().map(|d| d.0.as_secs()), *expected, "case {input:?}");
        }
        assert_eq!(HumanDuration(Duration::from_mins(90)).to_string(), "90m");
        assert_eq!(HumanDuration(Duration::from_hours(24)).to_string(), "1d");
    }
}
