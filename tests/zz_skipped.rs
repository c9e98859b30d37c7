//! The last integration test binary of `cargo test` (cargo runs them in the
//! order of their names, hence `zz_`): one line that counts the tests of this
//! run that were skipped because a tool was missing, and why, so the run does
//! not end with the same summary as a full one. Only the doctests run after
//! it; the line also says what their `ignored` count is.
//!
//! Each skipping test leaves a note through `common::require` (see
//! `common::skips_dir`); this test reads this run's notes and removes them.
mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

/// Prints `cargo test: N tests skipped …` (or that none were) and the meaning
/// of the doctests' `ignored`. Fails only if a note cannot be read.
#[test]
fn count_the_skipped_tests_of_this_run() {
    let dir = common::skips_dir();
    let mut notes: Vec<(String, String)> = Vec::new();
    if let Ok(entries) = fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let text = fs::read_to_string(entry.path()).expect("a skip note");
            let (test, tool) = text.split_once('\t').unwrap_or((text.as_str(), "?"));
            notes.push((test.to_string(), tool.to_string()));
        }
    }
    let _ = fs::remove_dir_all(&dir);
    forget_older_runs();

    // Why → which test files, and how many tests in each.
    let mut by_reason: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for (test, tool) in &notes {
        let file = test.split(' ').next().unwrap_or(test);
        *by_reason.entry(tool).or_default().entry(file).or_default() += 1;
    }
    let skipped = if notes.is_empty() {
        "no test of this run was skipped for a missing tool".to_string()
    } else {
        let reasons: Vec<String> = by_reason
            .iter()
            .map(|(tool, files)| {
                let files: Vec<String> = files.iter().map(|(f, n)| format!("{f} ×{n}")).collect();
                format!("{tool} not found: {}", files.join(", "))
            })
            .collect();
        format!("{} tests SKIPPED ({}); WSHUB_NO_SKIP=1 makes them fail", notes.len(), reasons.join("; "))
    };
    let quotes = ignored_doctests();
    // Not `println!`: libtest hides a passing test's prints.
    let _ = writeln!(
        std::io::stderr(),
        "\ncargo test: {skipped}. The doctests that follow have {quotes} ignored: quotes of wshub's source, \
         compared with the source by tests/docs.rs\n"
    );
}

/// The `rust,ignore` blocks in `README.md` and `docs/`: the doctests that
/// rustdoc reports as ignored (`tests/docs.rs` checks that each is a quote).
fn ignored_doctests() -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    files.extend(fs::read_dir(root.join("docs")).into_iter().flatten().flatten().map(|e| e.path()));
    files
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .filter_map(|p| fs::read_to_string(p).ok())
        .map(|text| text.lines().filter(|l| l.trim_start().starts_with("```rust,ignore")).count())
        .sum()
}

/// Notes of runs that ended before reaching this binary (a failed build, an
/// interrupted run): their cargo process is gone.
fn forget_older_runs() {
    let Ok(runs) = fs::read_dir(Path::new(env!("CARGO_TARGET_TMPDIR")).join("skipped")) else { return };
    for run in runs.flatten() {
        let pid = run.file_name().to_string_lossy().into_owned();
        if !Path::new("/proc").join(&pid).exists() {
            let _ = fs::remove_dir_all(run.path());
        }
    }
}
