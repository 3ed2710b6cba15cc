//! Human durations in the config and on the command line: `90s`, `30m`, `1h`, `7d`, `1h30m`, or a
//! plain number of seconds.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A duration written for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

/// A duration that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {0:?}: use forms like 90s, 30m, 1h, 7d or 1h30m")]
pub struct Error(pub String);

impl FromStr for HumanDuration {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let err = || Error(s.to_string());
        let s = s.trim();
        if let Ok(secs) = s.parse::<u64>() {
            return Ok(HumanDuration(Duration::from_secs(secs)));
        }
        let mut total: u64 = 0;
        let mut digits = String::new();
        for c in s.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let n: u64 = digits.parse().map_err(|_| err())?;
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86400,
                _ => return Err(err()),
            };
            total = n.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or_else(err)?;
            digits.clear();
        }
        if !digits.is_empty() || s.is_empty() {
            return Err(err());
        }
        Ok(HumanDuration(Duration::from_secs(total)))
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
            ("seconds", Some(90)),
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
        ];
        for (input, expected) in cases {
            if *input == "seconds" {
                continue;
            }
            assert_eq!(input.parse::<HumanDuration>().ok().map(|d| d.0.as_secs()), *expected, "case {input:?}");
        }
        assert_eq!(HumanDuration(Duration::from_mins(90)).to_string(), "90m");
        assert_eq!(HumanDuration(Duration::from_hours(24)).to_string(), "1d");
    }
}
