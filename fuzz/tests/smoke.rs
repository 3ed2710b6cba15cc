//! A short run of every fuzz target, so that `cargo test` catches a target that no longer builds
//! or a parser that now panics on the seeds or their near mutations. Long runs are `run.sh`'s.

use std::time::Duration;

use mirror_registry_fuzz::{corpus, engine, targets};

#[test]
fn every_target_runs_a_second_without_findings() {
    for target in targets::TARGETS {
        let seeds = corpus::load(&corpus::root(), target.name).expect("corpus");
        assert!(!seeds.is_empty(), "{}: no seed corpus", target.name);
        let report = engine::run(target, seeds, Duration::from_secs(1), 1);
        let findings: Vec<(String, &str)> = report
            .findings
            .iter()
            .map(|f| (String::from_utf8_lossy(&f.input).into_owned(), f.message.as_str()))
            .collect();
        assert!(findings.is_empty(), "{}: {findings:#?}", target.name);
        assert!(report.executions > 200, "{}: only {} inputs in a second", target.name, report.executions);
        assert!(report.outcomes > 1, "{}: every input ended the same way", target.name);
    }
}

/// The seeds are real inputs: the parsers accept all but the few meant as refusals, so that
/// mutations start from inside each grammar rather than from noise.
#[test]
fn seeds_are_accepted_inputs() {
    let cases: &[(&str, fn(&str) -> bool, usize)] = &[
        ("reference", |l| l.contains('1') || l.contains("-image"), 0),
        ("manifest", |l| l.starts_with("ok"), 1),
        ("imageset", |l| l.starts_with("ok"), 0),
        ("range", |l| l != "ignored", 2),
        ("authorization", |l| l == "ok", 3),
    ];
    for (name, accepted, refusals) in cases {
        let target = targets::target(name).expect("target");
        let labels: Vec<String> = corpus::seeds(&corpus::root(), name)
            .expect("corpus")
            .iter()
            .map(|seed| engine::execute(target, seed).unwrap_or_else(|m| panic!("{name}: a seed panics: {m}")))
            .collect();
        let refused: Vec<&String> = labels.iter().filter(|l| !accepted(l)).collect();
        assert_eq!(refused.len(), *refusals, "{name}: refused seeds {refused:?}");
    }
}
