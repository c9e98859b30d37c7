//! Checks that keep the tutorial in `docs/` true to the code.
//!
//! - A quote of source code in a chapter is marked with
//!   `<!-- quote: src/connection.rs#select -->` right before a Rust block;
//!   the block must equal the `// ANCHOR: select` … `// ANCHOR_END: select`
//!   region of that file (`<!-- quote: examples/seed.rs -->`: the whole
//!   file). To refresh every quote after changing the source:
//!   `WSHUB_BLESS_DOCS=1 cargo test --test docs`, then review the diff.
//! - Every Markdown file with a Rust block is compiled by a doctest
//!   (the `doc_chapters` module at the end of `src/lib.rs`), and no block is
//!   left without a language tag (an untagged block would be compiled as Rust).
//! - Every file, example, test and function a chapter names exists, the table
//!   in `docs/README.md` lists every chapter, and every chapter has the
//!   sections a reader relies on.
//! - `.vscode/launch.json` has one debug configuration per example.
//! - Every chapter shows its debugger session in a ```text,gdb-session block,
//!   which `.ci/gdb.sh` runs under rust-gdb and compares with what gdb says;
//!   here, every function the "Step through it" prose names appears in it.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The info string of a chapter's debugger session: shown to the reader as
/// text, run by `.ci/gdb.sh` (see `.ci/gdb_sessions.py` for its syntax).
const GDB_SESSION: &str = "text,gdb-session";

/// The sections every chapter has, in this order.
const SECTIONS: [&str; 6] =
    ["## What you will learn", "## Try it", "## Step through it", "## The code", "## What's new", "## Exercise"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    fs::read_to_string(root().join(path)).unwrap_or_default()
}

fn exists(path: &str) -> bool {
    root().join(path).exists()
}

/// `docs/*.md` and the top-level `README.md`, as paths relative to the root.
fn markdown_files() -> Vec<String> {
    let mut files: Vec<String> = fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .flatten()
        .map(|e| format!("docs/{}", e.file_name().to_string_lossy()))
        .filter(|p| p.ends_with(".md"))
        .collect();
    if exists("README.md") {
        files.push("README.md".to_string());
    }
    files.sort();
    files
}

/// The chapters: `docs/NN-topic.md`.
fn chapters() -> Vec<String> {
    markdown_files()
        .into_iter()
        .filter(|p| {
            p.strip_prefix("docs/").is_some_and(|n| n.len() > 3 && n.as_bytes()[..2].iter().all(u8::is_ascii_digit))
        })
        .collect()
}

/// A fenced block: its info string, the line index of its opening fence, and
/// the index of its closing fence.
struct Fence {
    info: String,
    open: usize,
    close: usize,
}

fn fences(lines: &[&str]) -> Vec<Fence> {
    let mut out = Vec::new();
    let mut open: Option<(usize, String)> = None;
    for (i, line) in lines.iter().enumerate() {
        let Some(info) = line.trim_start().strip_prefix("```") else { continue };
        match open.take() {
            None => open = Some((i, info.trim().to_string())),
            Some((start, info)) => out.push(Fence { info, open: start, close: i }),
        }
    }
    out
}

fn is_rust(info: &str) -> bool {
    info.split(',').next().is_some_and(|lang| lang == "rust")
}

/// The lines between `// ANCHOR: name` and `// ANCHOR_END: name`, without
/// nested anchor lines and without their common indentation (an empty name:
/// the whole file).
fn region(path: &str, name: &str) -> Result<Vec<String>, String> {
    if !exists(path) {
        return Err(format!("{path} does not exist"));
    }
    let text = read(path);
    if name.is_empty() {
        // `<!-- quote: examples/seed.rs -->`: the whole file.
        return Ok(text.lines().map(|l| l.trim_end().to_string()).collect());
    }
    let (start, end) = (format!("// ANCHOR: {name}"), format!("// ANCHOR_END: {name}"));
    let mut lines = text.lines().skip_while(|l| l.trim() != start);
    if lines.next().is_none() {
        return Err(format!("{path} has no `{start}`"));
    }
    let mut body = Vec::new();
    for line in lines {
        if line.trim() == end {
            let indent =
                body.iter().filter(|l: &&&str| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min();
            let indent = indent.unwrap_or(0);
            return Ok(body.iter().map(|l| l.get(indent..).unwrap_or("").trim_end().to_string()).collect());
        }
        if !line.trim_start().starts_with("// ANCHOR") {
            body.push(line);
        }
    }
    Err(format!("{path}: `{start}` has no `{end}`"))
}

/// Every chapter quote equals its source region (or is rewritten from it
/// when `WSHUB_BLESS_DOCS=1`).
#[test]
fn quotes_match_their_source_regions() {
    let bless = std::env::var("WSHUB_BLESS_DOCS").is_ok_and(|v| v == "1");
    let mut problems = Vec::new();
    for file in markdown_files() {
        let text = read(&file);
        let lines: Vec<&str> = text.lines().collect();
        let mut rewritten: Vec<String> = Vec::new();
        let mut copied = 0;
        for fence in fences(&lines) {
            // The marker: the last non-empty line before the fence.
            let marker = lines[..fence.open].iter().rev().find(|l| !l.trim().is_empty());
            let Some(target) =
                marker.and_then(|l| l.trim().strip_prefix("<!-- quote:")).and_then(|l| l.strip_suffix("-->"))
            else {
                continue;
            };
            let (path, name) = target.trim().split_once('#').unwrap_or((target.trim(), ""));
            let at = format!("{file}:{}", fence.open + 1);
            if !is_rust(&fence.info) {
                problems.push(format!("{at}: a quote must be a Rust block (```rust,ignore), not ```{}", fence.info));
            }
            match region(path, name) {
                Err(e) => problems.push(format!("{at}: quote of {path}#{name}: {e}")),
                Ok(expected) => {
                    let actual: Vec<String> =
                        lines[fence.open + 1..fence.close].iter().map(|l| l.trim_end().to_string()).collect();
                    if actual != expected {
                        problems.push(format!(
                            "{at}: the quote of {path}#{name} differs from the source:\n--- docs\n{}\n--- source\n{}",
                            actual.join("\n"),
                            expected.join("\n")
                        ));
                    }
                    rewritten.extend(lines[copied..=fence.open].iter().map(|l| l.to_string()));
                    rewritten.extend(expected);
                    copied = fence.close;
                }
            }
        }
        if bless && copied > 0 {
            rewritten.extend(lines[copied..].iter().map(|l| l.to_string()));
            fs::write(root().join(&file), rewritten.join("\n") + "\n").expect("rewrite quotes");
        }
    }
    if bless {
        problems.retain(|p| !p.contains("differs from the source"));
    }
    assert!(
        problems.is_empty(),
        "{} quote problem(s); `WSHUB_BLESS_DOCS=1 cargo test --test docs` refreshes quotes:\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

/// Every Rust block is compiled by `cargo test --doc`: its file is included
/// in `src/lib.rs`'s `doc_chapters`; and every block has a language tag.
#[test]
fn every_rust_block_is_compiled_by_a_doctest() {
    let lib = read("src/lib.rs");
    let mut problems = Vec::new();
    for file in markdown_files() {
        let text = read(&file);
        let lines: Vec<&str> = text.lines().collect();
        let fences = fences(&lines);
        for fence in &fences {
            if fence.info.is_empty() {
                problems.push(format!(
                    "{file}:{}: a block without a language tag is compiled as Rust; tag it `text`, `sh` or `rust`",
                    fence.open + 1
                ));
            }
        }
        let include = format!("include_str!(\"../{file}\")");
        if fences.iter().any(|f| is_rust(&f.info)) && !lib.contains(&include) {
            problems.push(format!("{file} has Rust blocks but src/lib.rs's doc_chapters has no `{include}`"));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// Every `rust,ignore` block is a quote (`<!-- quote: … -->`): the README
/// says that the doctests' `ignored` are quotes, checked above line for
/// line. Any other Rust block must compile (`no_run` if it must not run).
#[test]
fn every_ignored_rust_block_is_a_quote() {
    let mut problems = Vec::new();
    for file in markdown_files() {
        let text = read(&file);
        let lines: Vec<&str> = text.lines().collect();
        for fence in fences(&lines) {
            if !fence.info.split(',').any(|tag| tag.trim() == "ignore") {
                continue;
            }
            let marker = lines[..fence.open].iter().rev().find(|l| !l.trim().is_empty());
            if !marker.is_some_and(|l| l.trim().starts_with("<!-- quote:")) {
                problems.push(format!(
                    "{file}:{}: an ignored block that is not a quote; make it compile (`rust,no_run`) or quote a region",
                    fence.open + 1
                ));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// The function a debugger line names, and where: `(function, file, line)`
/// for a frame, a breakpoint stop or a thread in `info threads` whose place
/// is in this repository (`… in wshub::socket::Socket::dispatch (…) at
/// src/socket.rs:270` → `dispatch`, `src/socket.rs`, 270). Closures count as
/// the function they are written in.
fn debugger_frame(line: &str) -> Option<(String, String, usize)> {
    let at = line.rfind(" at src/").or_else(|| line.rfind(" at examples/"))?;
    let (file, number) = line[at + 4..].split_once(':')?;
    let number: usize = number.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()?;
    let head = &line[..at];
    let symbol = if let Some((_, rest)) = head.split_once("hit Breakpoint ") {
        rest.split_once(", ")?.1
    } else if let Some((_, rest)) = head.split_once(" in ") {
        rest
    } else if head.trim_start().starts_with('#') {
        head.trim_start().split_once(char::is_whitespace)?.1
    } else {
        head.rsplit_once('"')?.1
    };
    // The symbol ends at its argument list, outside any `<…>`.
    let mut depth = 0;
    let mut plain = String::new();
    for c in symbol.trim_start().chars() {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            '(' | ' ' if depth == 0 => break,
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let name = plain.split("::").filter(|s| !s.starts_with('{') && !s.is_empty()).last()?.to_string();
    Some((name, file.to_string(), number))
}

/// The name of the last `fn` that starts at or before `line` (1-based) of `source`.
fn enclosing_fn(source: &str, line: usize) -> Option<String> {
    source
        .lines()
        .take(line)
        .filter_map(|l| {
            let after = l.split("fn ").nth(1)?;
            let prefix = l.split("fn ").next()?.trim();
            let is_item = prefix.is_empty()
                || prefix
                    .split_whitespace()
                    .all(|w| ["pub", "pub(crate)", "pub(super)", "const", "unsafe", "async", "extern"].contains(&w));
            let name: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            (is_item && !name.is_empty()).then_some(name)
        })
        .last()
}

/// Debugger sessions quoted in the docs (```text blocks) still fit the code:
/// every frame in wshub's own files names the function that the line is in,
/// and every source line gdb printed (`270\t    let reply = …`) is that line
/// of the file now. When code moves, refresh the session (chapter 10 says how:
/// `GDB_BLESS=1 .ci/gdb.sh`).
#[test]
fn gdb_sessions_match_the_source() {
    let mut problems = Vec::new();
    for file in markdown_files() {
        let text = read(&file);
        let lines: Vec<&str> = text.lines().collect();
        for fence in fences(&lines) {
            if fence.info != "text" && fence.info != GDB_SESSION {
                continue;
            }
            let mut last_place: Option<(String, usize)> = None;
            for (n, line) in lines.iter().enumerate().take(fence.close).skip(fence.open + 1) {
                let at = format!("{file}:{}", n + 1);
                if let Some((function, path, number)) = debugger_frame(line) {
                    let source = read(&path);
                    match enclosing_fn(&source, number) {
                        _ if source.is_empty() => problems.push(format!("{at}: {path} does not exist")),
                        Some(found) if found == function => {}
                        found => problems.push(format!(
                            "{at}: {path}:{number} is in fn {}, not in {function}",
                            found.unwrap_or_else(|| "nothing".into())
                        )),
                    }
                    last_place = Some((path, number));
                } else if let Some((number, shown)) = line.split_once('\t') {
                    let Some((path, expected)) = last_place.take() else { continue };
                    if number.parse::<usize>() != Ok(expected) {
                        continue;
                    }
                    let actual = read(&path).lines().nth(expected - 1).unwrap_or_default().trim_end().to_string();
                    if actual != shown.trim_end() {
                        problems.push(format!("{at}: gdb showed {path}:{expected} as {shown:?}; it is now {actual:?}"));
                    }
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} debugger line(s) no longer fit the source; `GDB_BLESS=1 .ci/gdb.sh` rewrites the line \
         numbers that moved (then read the diff), `GDB_SHOW=1 .ci/gdb.sh docs/NN-topic.md` prints \
         what gdb says now:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Inline code spans of a line: the text between pairs of backticks.
fn code_spans(line: &str) -> Vec<&str> {
    line.split('`').skip(1).step_by(2).collect()
}

/// Files of the repository a span names: `src/…`, `examples/…`, `tests/…`,
/// `docs/…`, `.ci/…`, `.vscode/…` (a trailing `#anchor` or `:line` is ignored).
fn named_path(span: &str) -> Option<&str> {
    let path = span.split(['#', ' ']).next()?;
    let path = path.split(':').next()?;
    let prefixes = ["src/", "examples/", "tests/", "docs/", ".ci/", ".vscode/"];
    let is_file = path.rsplit('/').next().is_some_and(|name| name.contains('.'));
    (prefixes.iter().any(|p| path.starts_with(p)) && is_file).then_some(path)
}

/// The values of `flag` on a command line: `--example seed` or `--example=seed`.
/// Placeholders such as `--test <name>` give nothing.
fn flag_values<'a>(line: &'a str, flag: &'a str) -> impl Iterator<Item = String> + 'a {
    line.split_whitespace().zip(line.split_whitespace().skip(1).chain([""])).filter_map(move |(word, next)| {
        let value = if word == flag { next } else { word.strip_prefix(flag)?.strip_prefix('=')? };
        let value: String = value.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect();
        (!value.is_empty()).then_some(value)
    })
}

fn example_names(line: &str) -> impl Iterator<Item = String> + '_ {
    flag_values(line, "--example")
}

/// The file of the longest module path that `path` starts with
/// (`http::handshake::route` → `src/http/handshake.rs`, `route`), and the
/// segments after it. Without a match: the first segment's file, to report.
fn source_file<'a, 'b>(path: &'b [&'a str]) -> (String, &'b [&'a str]) {
    for split in (1..path.len()).rev() {
        let module = path[..split].join("/");
        for file in [format!("src/{module}.rs"), format!("src/{module}/mod.rs")] {
            if exists(&file) {
                return (file, &path[split..]);
            }
        }
    }
    (format!("src/{}.rs", path[0]), &path[1..])
}

/// Checks that a debugger path like `wshub::connection::Connection::run` or
/// `seed::on_client_message` names a function that exists in its file.
fn check_function(symbol: &str, at: &str, problems: &mut Vec<String>) {
    let segments: Vec<&str> = symbol.split("::").collect();
    let (file, rest) = match segments.as_slice() {
        ["wshub", path @ ..] if path.len() > 1 => source_file(path),
        [example, rest @ ..] if !rest.is_empty() => (format!("examples/{example}.rs"), rest),
        _ => return,
    };
    if !exists(&file) {
        problems.push(format!("{at}: `{symbol}`: {file} does not exist"));
        return;
    }
    let function = rest[rest.len() - 1];
    let has_fn = |source: &str| {
        [format!("fn {function}("), format!("fn {function}<")].iter().any(|f| source.contains(f.as_str()))
    };
    // A method may be written in a child module's file (`impl Hub` in
    // `src/hub/fanout.rs`): gdb names it after its type, `wshub::hub::Hub::emit`.
    let mut source = read(&file);
    if !has_fn(&source) && rest.len() > 1 && file.ends_with("/mod.rs") {
        let folder = root().join(file.trim_end_matches("mod.rs"));
        let owner = rest[rest.len() - 2];
        let children = fs::read_dir(folder).into_iter().flatten().flatten().map(|e| e.path());
        let child = children
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
            .filter_map(|p| fs::read_to_string(p).ok())
            .find(|text| has_fn(text) && text.contains(&format!("impl {owner} ")));
        if let Some(child) = child {
            source = child;
        }
    }
    if !has_fn(&source) {
        problems.push(format!("{at}: `{symbol}`: no `fn {function}` in {file}"));
    }
    for owner in &rest[..rest.len() - 1] {
        let declared = if owner.starts_with(char::is_uppercase) {
            [format!("impl {owner} "), format!("for {owner} "), format!("impl<'_> {owner} ")]
                .iter()
                .any(|d| source.contains(d.as_str()))
        } else {
            source.contains(&format!("mod {owner} "))
        };
        if !declared {
            problems.push(format!("{at}: `{symbol}`: no `impl {owner}` or `mod {owner}` in {file}"));
        }
    }
}

/// Every file, example, test and breakpoint function that the docs name
/// exists. Files written on other branches are reported here until merged.
#[test]
fn named_files_and_functions_exist() {
    let mut problems = Vec::new();
    let mut table_chapters = BTreeSet::new();
    let readme = read("docs/README.md");
    assert!(!readme.is_empty(), "docs/README.md is missing");

    for file in markdown_files() {
        let text = read(&file);
        let mut in_step_section = false;
        for (n, line) in text.lines().enumerate() {
            let at = format!("{file}:{}", n + 1);
            if line.starts_with("## ") {
                in_step_section = line.starts_with("## Step through it");
            }
            let is_table_row = file == "docs/README.md" && line.starts_with('|');
            for span in code_spans(line) {
                if let Some(path) = named_path(span) {
                    if !exists(path) {
                        problems.push(format!("{at}: `{path}` does not exist"));
                    }
                }
                if (in_step_section || is_table_row) && span.contains("::") && !span.contains([' ', '<']) {
                    check_function(span, &at, &mut problems);
                }
            }
            if line.contains("cargo ") {
                let examples = example_names(line).map(|n| ("--example", "examples", n));
                let tests = flag_values(line, "--test").map(|n| ("--test", "tests", n));
                for (flag, dir, name) in examples.chain(tests) {
                    let single = format!("{dir}/{name}.rs");
                    let folder = format!("{dir}/{name}/main.rs");
                    if !exists(&single) && !exists(&folder) {
                        problems.push(format!("{at}: `{flag} {name}`: no {single}"));
                    }
                }
            }
            if is_table_row {
                for link in line.split("](").skip(1) {
                    let target = link.split(')').next().unwrap_or_default();
                    table_chapters.insert(format!("docs/{target}"));
                }
            }
        }
    }

    for chapter in chapters() {
        if !table_chapters.contains(&chapter) {
            problems.push(format!("docs/README.md: the table does not list {chapter}"));
        }
    }
    for linked in &table_chapters {
        if !exists(linked) {
            problems.push(format!("docs/README.md: the table links {linked}, which does not exist"));
        }
    }
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}

/// Every chapter has the sections a reader relies on, in order.
#[test]
fn every_chapter_has_the_sections() {
    let mut problems = Vec::new();
    for chapter in chapters() {
        let text = read(&chapter);
        let headings: Vec<&str> = text.lines().filter(|l| l.starts_with("## ")).collect();
        let mut last = 0;
        for section in SECTIONS {
            match headings.iter().position(|h| h.starts_with(section)) {
                None => problems.push(format!("{chapter}: no `{section}` section")),
                Some(i) if i < last => problems.push(format!("{chapter}: `{section}` is out of order")),
                Some(i) => last = i,
            }
        }
        let step = text.split("## Step through it").nth(1).unwrap_or_default();
        let step = step.split("\n## ").next().unwrap_or_default();
        if !step.lines().any(|l| code_spans(l).iter().any(|s| s.contains("::"))) {
            problems.push(format!("{chapter}: \"Step through it\" names no function (`module::function`)"));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// Every chapter has a debugger session (a ```text,gdb-session block) that
/// starts an example that exists and ends with `continue`, and every
/// function its "Step through it" prose names (`module::function`) appears
/// in one of its sessions: the prose cannot name a stop the session, which
/// `.ci/gdb.sh` runs, does not make.
#[test]
fn every_chapter_has_a_gdb_session_with_the_functions_it_names() {
    let mut problems = Vec::new();
    for chapter in chapters() {
        let text = read(&chapter);
        let lines: Vec<&str> = text.lines().collect();
        let sessions: Vec<String> = fences(&lines)
            .into_iter()
            .filter(|f| f.info == GDB_SESSION)
            .map(|f| lines[f.open + 1..f.close].join("\n"))
            .collect();
        if sessions.is_empty() {
            problems.push(format!("{chapter}: no ```{GDB_SESSION} block (\"Step through it\" shows its session)"));
        }
        for session in &sessions {
            let first = session.lines().next().unwrap_or_default();
            let program = first.split_whitespace().find_map(|w| w.strip_prefix("target/debug/examples/"));
            match program {
                Some(name) if first.starts_with("$ rust-gdb ") => {
                    if !exists(&format!("examples/{name}.rs")) && !exists(&format!("examples/{name}/main.rs")) {
                        problems.push(format!("{chapter}: the session runs examples/{name}, which does not exist"));
                    }
                }
                _ => {
                    problems.push(format!("{chapter}: a session starts with `$ rust-gdb … target/debug/examples/NAME`"))
                }
            }
            let last = session.lines().rfind(|l| l.starts_with("(gdb) ")).unwrap_or_default();
            if last.trim() != "(gdb) continue" {
                problems.push(format!("{chapter}: a session ends with `(gdb) continue`, not `{last}`"));
            }
        }
        let step = text.split("## Step through it").nth(1).unwrap_or_default();
        let step = step.split("\n## ").next().unwrap_or_default();
        let step_lines: Vec<&str> = step.lines().collect();
        let in_fence: BTreeSet<usize> = fences(&step_lines).iter().flat_map(|f| f.open..=f.close).collect();
        for (n, line) in step_lines.iter().enumerate().filter(|(n, _)| !in_fence.contains(n)) {
            for span in code_spans(line) {
                if span.contains("::") && !span.contains([' ', '<', '(']) && !sessions.iter().any(|s| s.contains(span))
                {
                    problems.push(format!(
                        "{chapter}: \"Step through it\" names `{span}` (line {}), which its gdb session never shows",
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// `.vscode/launch.json` has one CodeLLDB configuration per example, named
/// after it, and no configuration for an example that does not exist.
#[test]
fn launch_json_has_one_configuration_per_example() {
    let json: serde_json::Value =
        serde_json::from_str(&read(".vscode/launch.json")).expect(".vscode/launch.json is valid JSON");
    let configured: BTreeSet<String> = json["configurations"]
        .as_array()
        .expect("a configurations array")
        .iter()
        .filter_map(|c| c["cargo"]["args"].as_array())
        .flat_map(|args| args.iter().filter_map(|a| a.as_str()?.strip_prefix("--example=").map(str::to_string)))
        .collect();
    let examples: BTreeSet<String> = fs::read_dir(root().join("examples"))
        .expect("examples/")
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            let name = path.file_stem()?.to_string_lossy().into_owned();
            (path.extension().is_some_and(|x| x == "rs") || Path::new(&path).join("main.rs").exists()).then_some(name)
        })
        .collect();
    let missing: Vec<_> = examples.difference(&configured).collect();
    let stale: Vec<_> = configured.difference(&examples).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "launch.json: no configuration for {missing:?}; configurations for missing examples {stale:?}"
    );
}

/// Every example opens with a `//!` header that gives its own exact
/// `cargo run --example …` line (flags such as `--release` allowed), so the
/// line survives a rename.
#[test]
fn every_example_header_says_how_to_run_it() {
    let mut problems = Vec::new();
    for entry in fs::read_dir(root().join("examples")).expect("examples/").flatten() {
        let path = entry.path();
        let (name, file) = if path.is_dir() {
            (entry.file_name().to_string_lossy().into_owned(), path.join("main.rs"))
        } else if path.extension().is_some_and(|x| x == "rs") {
            (path.file_stem().unwrap_or_default().to_string_lossy().into_owned(), path.clone())
        } else {
            continue;
        };
        let Ok(source) = fs::read_to_string(&file) else { continue };
        let header: Vec<&str> = source.lines().take_while(|l| l.starts_with("//!")).collect();
        let says_it = |line: &&str| line.contains("cargo run") && example_names(line).any(|n| n == name);
        if header.is_empty() {
            problems.push(format!("examples/{name}: no `//!` header"));
        } else if !header.iter().any(says_it) {
            problems.push(format!("examples/{name}: the `//!` header never says `cargo run --example {name}`"));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}
