//! `fuzz [--seconds N] [--seed S] [TARGET...]`: runs each target (all by default) for N seconds
//! (default 60), prints what it did, saves each crash under `fuzz/crashes/` and exits 1 when
//! anything was found.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mirror_registry_fuzz::{corpus, engine, targets};

const USAGE: &str = "usage: fuzz [--seconds N] [--seed S] [TARGET...]\n       fuzz --list";

struct Args {
    seconds: u64,
    seed: u64,
    names: Vec<String>,
}

fn parse_args() -> Result<Option<Args>, String> {
    let clock = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut args = Args { seconds: 60, seed: clock, names: Vec::new() };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |flag: &str| -> Result<u64, String> {
            it.next().and_then(|v| v.parse().ok()).ok_or_else(|| format!("{flag} needs a number\n{USAGE}"))
        };
        match arg.as_str() {
            "--seconds" => args.seconds = number("--seconds")?,
            "--seed" => args.seed = number("--seed")?,
            "--list" => {
                for t in targets::TARGETS {
                    println!("{:<14} {}", t.name, t.describe);
                }
                return Ok(None);
            }
            "-h" | "--help" => return Err(USAGE.into()),
            name if targets::target(name).is_some() => args.names.push(name.to_string()),
            other => return Err(format!("unknown target or flag {other:?}\n{USAGE}")),
        }
    }
    Ok(Some(args))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => return ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let root = corpus::root();
    let chosen: Vec<&targets::Target> = if args.names.is_empty() {
        targets::TARGETS.iter().collect()
    } else {
        args.names.iter().filter_map(|n| targets::target(n)).collect()
    };
    let mut found = 0;
    for (i, target) in chosen.into_iter().enumerate() {
        let seeds = match corpus::load(&root, target.name) {
            Ok(seeds) => seeds,
            Err(e) => {
                eprintln!("{}: reading the corpus: {e}", target.name);
                return ExitCode::from(2);
            }
        };
        let seed = args.seed.wrapping_add(i as u64);
        let report = engine::run(target, seeds, Duration::from_secs(args.seconds), seed);
        println!(
            "{:<14} {} s, seed {seed}: {} inputs, {} outcomes, corpus {}, {} findings",
            target.name,
            args.seconds,
            report.executions,
            report.outcomes,
            report.corpus,
            report.findings.len()
        );
        for finding in &report.findings {
            found += 1;
            match corpus::save_crash(&root, target.name, &finding.input) {
                Ok(path) => println!(
                    "  FOUND {}\n    input {:?}\n    saved {}",
                    finding.message,
                    String::from_utf8_lossy(&finding.input),
                    path.display()
                ),
                Err(e) => println!("  FOUND {} (not saved: {e})", finding.message),
            }
        }
    }
    if found > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
