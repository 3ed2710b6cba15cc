//! The fuzzing loop: mutate inputs from a corpus, run a target on each under `catch_unwind`,
//! keep inputs that reach an outcome not seen before, and shrink every crash to a small input.
//!
//! There is no coverage instrumentation (that needs a nightly toolchain); the outcome label each
//! target returns (which types parsed, which error variant) stands in for it, so inputs that
//! get further into a parser join the corpus and are mutated in turn.

use std::cell::RefCell;
use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::time::{Duration, Instant};

use crate::targets::Target;

/// Inputs slower than this are findings too: a parser must never hang on a header or a file.
pub const SLOW: Duration = Duration::from_secs(1);

/// Most inputs kept in a corpus, so a long run does not grow without bound.
const MAX_CORPUS: usize = 4096;

/// splitmix64: small, fast and good enough to pick mutations; seeded for repeatable runs.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    #[must_use]
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        // Truncation is the point: only the low bits are wanted.
        #[allow(clippy::cast_possible_truncation)]
        let r = (self.next_u64() % n as u64) as usize;
        r
    }
}

/// Bytes that often sit on a grammar's edges.
const INTERESTING: &[u8] = b"\0\xff\x7f\x80 \t\r\n-_.:/@,;=+*\"'\\{}[]0123456789aAzZ%#?&";

/// One random edit of `input`: bit flips, edge bytes, insertions, deletions, duplications,
/// dictionary tokens, splices with another corpus input, extreme numbers.
fn mutate_once(rng: &mut Rng, input: &mut Vec<u8>, corpus: &[Vec<u8>], dictionary: &[&str]) {
    let len = input.len();
    let at = |rng: &mut Rng| if len == 0 { 0 } else { rng.below(len + 1) };
    match rng.below(9) {
        0 if len > 0 => {
            let i = rng.below(len);
            input[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            input[i] = INTERESTING[rng.below(INTERESTING.len())];
        }
        2 => {
            let i = at(rng);
            let b = if rng.below(2) == 0 {
                INTERESTING[rng.below(INTERESTING.len())]
            } else {
                rng.next_u64().to_le_bytes()[0]
            };
            input.insert(i, b);
        }
        3 if len > 0 => {
            let start = rng.below(len);
            let end = (start + 1 + rng.below(len - start)).min(len);
            input.drain(start..end);
        }
        4 if len > 0 => {
            let start = rng.below(len);
            let end = (start + 1 + rng.below((len - start).min(64))).min(len);
            let chunk = input[start..end].to_vec();
            let i = at(rng);
            input.splice(i..i, chunk);
        }
        5 if !dictionary.is_empty() => {
            let token = dictionary[rng.below(dictionary.len())].as_bytes();
            let i = at(rng);
            input.splice(i..i, token.iter().copied());
        }
        6 if !corpus.is_empty() => {
            let other = &corpus[rng.below(corpus.len())];
            if !other.is_empty() {
                let from = rng.below(other.len());
                let to = from + rng.below(other.len() - from) + 1;
                let i = at(rng);
                let cut = (i + rng.below(len - i + 1)).min(len);
                input.splice(i..cut, other[from..to].iter().copied());
            }
        }
        7 => {
            let numbers: [&[u8]; 6] = [
                b"0",
                b"18446744073709551615",
                b"18446744073709551616",
                b"99999999999999999999999999",
                b"-1",
                b"1e309",
            ];
            let i = at(rng);
            input.splice(i..i, numbers[rng.below(numbers.len())].iter().copied());
        }
        // Truncation stays rare: cutting a manifest or a file short only tests the JSON or YAML
        // reader's end-of-input error, and that is found quickly.
        8 if len > 0 && rng.below(4) == 0 => input.truncate(rng.below(len)),
        _ => {
            let i = at(rng);
            input.insert(i, INTERESTING[rng.below(INTERESTING.len())]);
        }
    }
}

/// A new input: a mutated corpus input most of the time, sometimes random bytes.
fn next_input(rng: &mut Rng, corpus: &[Vec<u8>], target: &Target) -> Vec<u8> {
    let mut input = if corpus.is_empty() || rng.below(16) == 0 {
        let n = rng.below(64);
        (0..n).map(|_| rng.next_u64().to_le_bytes()[0]).collect()
    } else {
        corpus[rng.below(corpus.len())].clone()
    };
    for _ in 0..=rng.below(4) {
        mutate_once(rng, &mut input, corpus, target.dictionary);
    }
    input.truncate(target.max_len);
    input
}

thread_local! {
    /// The panic message of the current thread while it runs a target, instead of stderr.
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
    static CAPTURING: RefCell<bool> = const { RefCell::new(false) };
}

/// Installs (once) a panic hook that records panics of targets instead of printing them, and
/// leaves every other panic (a failing test) to the default hook.
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CAPTURING.with(|c| *c.borrow()) {
                let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(ToString::to_string)
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                CAUGHT.with(|c| *c.borrow_mut() = Some(format!("{location}: {message}")));
            } else {
                default(info);
            }
        }));
    });
}

/// Runs `target` on `input`: its outcome label, or the panic (location and message).
///
/// # Errors
/// The panic message when the target panicked.
pub fn execute(target: &Target, input: &[u8]) -> Result<String, String> {
    install_hook();
    CAPTURING.with(|c| *c.borrow_mut() = true);
    let result = panic::catch_unwind(AssertUnwindSafe(|| (target.run)(input)));
    CAPTURING.with(|c| *c.borrow_mut() = false);
    result.map_err(|_| CAUGHT.with(|c| c.borrow_mut().take()).unwrap_or_else(|| "panic".into()))
}

/// Shrinks a crashing input: drops ever smaller chunks while it still panics at the same place.
#[must_use]
pub fn minimize(target: &Target, input: &[u8], message: &str) -> Vec<u8> {
    let location = message.split(": ").next().unwrap_or_default().to_string();
    let still_crashes = |candidate: &[u8]| matches!(execute(target, candidate), Err(m) if m.starts_with(&location));
    let mut best = input.to_vec();
    let mut chunk = best.len() / 2;
    let mut tries = 0;
    while chunk > 0 && tries < 5000 {
        let mut i = 0;
        while i + chunk <= best.len() && tries < 5000 {
            let mut candidate = best.clone();
            candidate.drain(i..i + chunk);
            tries += 1;
            if still_crashes(&candidate) {
                best = candidate;
            } else {
                i += chunk;
            }
        }
        chunk /= 2;
    }
    best
}

/// Something a run found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The (minimized) input.
    pub input: Vec<u8>,
    /// The panic's location and message, or how long a slow input took.
    pub message: String,
}

/// What one target's run did.
#[derive(Debug, Default)]
pub struct Report {
    /// Inputs run.
    pub executions: u64,
    /// Distinct outcomes seen (a rough measure of how far into the parser inputs got).
    pub outcomes: usize,
    /// Inputs in the corpus at the end.
    pub corpus: usize,
    /// Panics (one per distinct location) and slow inputs.
    pub findings: Vec<Finding>,
}

/// Runs `target` for `duration` from the `seeds`, starting the random choices at `seed`.
#[must_use]
pub fn run(target: &Target, seeds: Vec<Vec<u8>>, duration: Duration, seed: u64) -> Report {
    let mut rng = Rng::new(seed);
    let mut report = Report::default();
    let mut outcomes = HashSet::new();
    let mut crash_sites = HashSet::new();
    let mut corpus = Vec::new();
    let deadline = Instant::now() + duration;
    let mut pending = seeds.into_iter();
    while Instant::now() < deadline {
        // Every seed runs once as it is before mutations start.
        let input = pending.next().unwrap_or_else(|| next_input(&mut rng, &corpus, target));
        let started = Instant::now();
        let outcome = execute(target, &input);
        let took = started.elapsed();
        report.executions += 1;
        match outcome {
            Ok(label) => {
                if took > SLOW {
                    report.findings.push(Finding { message: format!("slow: {took:?}"), input: input.clone() });
                }
                if outcomes.insert(label) && corpus.len() < MAX_CORPUS {
                    corpus.push(input);
                }
            }
            Err(message) => {
                let site = message.split(": ").next().unwrap_or_default().to_string();
                if crash_sites.insert(site) {
                    let input = minimize(target, &input, &message);
                    let message = execute(target, &input).err().unwrap_or(message);
                    report.findings.push(Finding { input, message });
                }
            }
        }
    }
    report.outcomes = outcomes.len();
    report.corpus = corpus.len();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panics_on_x(data: &[u8]) -> String {
        assert!(!data.contains(&b'x'), "found an x");
        String::from(if data.is_empty() { "empty" } else { "some" })
    }

    const PANICKY: Target =
        Target { name: "panicky", max_len: 64, dictionary: &["x"], run: panics_on_x, describe: "test target" };

    #[test]
    fn a_panic_is_caught_and_minimized_to_the_byte_that_causes_it() {
        let message = execute(&PANICKY, b"abcxdef").expect_err("panics");
        assert!(message.contains("found an x"), "{message}");
        assert_eq!(minimize(&PANICKY, b"abcxdef", &message), b"x");
    }

    #[test]
    fn a_run_finds_the_panic_once_and_keeps_going() {
        let report = run(&PANICKY, vec![b"abc".to_vec()], Duration::from_millis(200), 7);
        assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
        assert_eq!(report.findings[0].input, b"x");
        assert!(report.executions > 100, "only {} executions", report.executions);
    }

    #[test]
    fn the_generator_is_repeatable_from_its_seed() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        assert_eq!((0..8).map(|_| a.next_u64()).collect::<Vec<_>>(), (0..8).map(|_| b.next_u64()).collect::<Vec<_>>());
    }
}
