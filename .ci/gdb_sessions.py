#!/usr/bin/env python3
"""Runs every chapter's gdb session as a learner would, and compares what gdb says with the chapter.

A chapter declares its session in its text, in a fenced block tagged `text,gdb-session`, which is
what the reader sees and what this script runs, so that the two cannot drift apart:

    $ rust-gdb -q target/debug/examples/seed            the program (with `--args` to give it arguments)
    (gdb) break seed::on_client_message                 a gdb command
    Breakpoint 1 at 0x…: file examples/seed.rs, line 83.   what gdb answers
    (gdb) run
    $ cargo run --example client                        a second terminal: started when `run` resumes
    > hello                                             a line typed into it
    Thread 5 "conn-1" hit Breakpoint 1, seed::on_client_message (…) at examples/seed.rs:83
    (gdb) print data
    $1 = serde_json::value::Value::String("hello")
    (gdb) continue

Every command runs, in order; what gdb prints for it must match the lines under it: exactly, except
that `…` in a line stands for any text, a line that is only `…` for any number of lines, and
addresses (0x…), thread LWPs, process ids and the number of the thread that stopped may differ
(gdb numbers threads in the order it sees them start, and threads that start at the same moment
race; the thread's name must match). Lines gdb prints about itself (libthread_db,
"Starting program", thread switches) and blank lines are left out on both sides. The program's own
output goes to a file, not into the comparison.

The last command is `continue`. If the chapter shows the program exiting
(`[Inferior 1 (process …) exited normally]`), it must; otherwise the example must still be serving:
a WebSocket upgrade on /ws gets its 101 and a first frame. Then the program is stopped and killed.

Every `module::function` a chapter names in "Step through it" must also resolve as a breakpoint in
the session's example (a function renamed, made generic or inlined away fails here).

    python3 .ci/gdb_sessions.py                     # every chapter; ends with "gdb: N passed, N failed"
    python3 .ci/gdb_sessions.py docs/05-events.md   # one chapter
    KEEP=1 python3 .ci/gdb_sessions.py ...          # keep the logs in $TMPDIR/wshub-gdb/
    GDB_SHOW=1 python3 .ci/gdb_sessions.py docs/05-events.md   # print what gdb said, to paste
    GDB_BLESS=1 python3 .ci/gdb_sessions.py                    # code moved: rewrite the numbers

It expects the examples to be built (`cargo build --examples`: .ci/gdb.sh does it).
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
TAG = "text,gdb-session"
NOISE = (
    "[Thread debugging using libthread_db enabled]",
    "Using host libthread_db library",
    "[Switching to Thread",
    "Starting program:",
    "warning: Error disabling address space randomization",
    "[Detaching after fork",
    "[Detaching after vfork",
    "Download failed",
    "Downloading separate debug info",
)
RESUMING = {"run", "r", "continue", "c"}
# GDB_SHOW=1: print what gdb said for every command, as a session to paste into the chapter.
SHOW = os.environ.get("GDB_SHOW") == "1"
# GDB_BLESS=1: where a line differs only in its numbers (the code moved: `file.rs:N`, a source
# line's number), or has no `…` and fits once numbers may differ, rewrite it in the chapter.
BLESS = os.environ.get("GDB_BLESS") == "1"
BLESSED = {}


class SessionError(Exception):
    pass


def fences(text):
    """(info, first line index, lines) of every fenced block."""
    lines = text.splitlines()
    out, opened = [], None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped.startswith("```"):
            continue
        if opened is None:
            opened = (i, stripped[3:].strip())
        else:
            out.append((opened[1], opened[0] + 1, lines[opened[0] + 1 : i]))
            opened = None
    return out


def parse_session(lines, where, first=0):
    """The program, its arguments, and the steps of one session block (`first`: the
    index of its first line in the chapter, kept with each expected line for GDB_BLESS)."""
    if not lines or not lines[0].startswith("$ rust-gdb "):
        raise SessionError(f"{where}: a session starts with `$ rust-gdb … target/debug/examples/NAME`")
    words = lines[0][2:].split()[1:]
    options = []
    while words and words[0].startswith("-"):  # rust-gdb's own options, before the program
        options.append(words.pop(0))
    with_args = "--args" in options
    if not words or not words[0].startswith("target/debug/examples/"):
        raise SessionError(f"{where}: the program must be target/debug/examples/NAME")
    program, args = words[0], words[1:]
    if args and not with_args:
        raise SessionError(f"{where}: give program arguments with `rust-gdb --args {program} …`")
    steps = []
    for n, line in enumerate(lines[1:], start=2):
        if line.startswith("(gdb) "):
            steps.append({"command": line[6:].strip(), "clients": [], "expected": [], "at": []})
        elif not steps:
            if line.strip():
                raise SessionError(f"{where}, line {n}: output before the first `(gdb)` command")
        elif line.startswith("$ "):
            steps[-1]["clients"].append({"command": line[2:].strip(), "input": []})
        elif line.startswith("> "):
            if not steps[-1]["clients"]:
                raise SessionError(f"{where}, line {n}: typed input (`> …`) without a client (`$ …`) above it")
            steps[-1]["clients"][-1]["input"].append(line[2:])
        else:
            steps[-1]["expected"].append(line)
            if line.strip():
                steps[-1]["at"].append(first + n - 1)
    if not steps or steps[-1]["command"] not in ("continue", "c"):
        raise SessionError(f"{where}: a session ends with `(gdb) continue`")
    for step in steps:
        if step["clients"] and step["command"].split()[0] not in RESUMING:
            raise SessionError(f"{where}: clients start with `run` or `continue`, not `{step['command']}`")
    exits = any(re.search(r"\[Inferior 1 \(process .*\) exited", line) for line in steps[-1]["expected"])
    steps[-1]["probe"] = not exits
    return program, args, steps


def sessions_of(chapter):
    text = open(os.path.join(ROOT, chapter)).read()
    found = []
    for info, first, lines in fences(text):
        if info == TAG:
            found.append((f"{chapter}:{first}", lines, first))
    return text, found


def normalise(line):
    line = re.sub(r"^Thread \d+ ", "Thread … ", line.strip())
    line = re.sub(r"0x[0-9a-f]+", "0x…", line)
    line = re.sub(r"LWP \d+", "LWP …", line)
    line = re.sub(r"process \d+", "process …", line)
    return " ".join(line.split())


def is_noise(line):
    stripped = line.strip()
    return not stripped or any(stripped.startswith(n) for n in NOISE)


def pattern(line):
    parts = [re.escape(p) for p in normalise(line).split("…")]
    return re.compile("^" + ".*".join(parts) + "$")


def relaxed(line):
    """`pattern(line)`, but any number may differ (for GDB_BLESS: code that moved)."""
    parts = [re.sub(r"\\?\d+", r"\\d+", re.escape(p)) for p in normalise(line).split("…")]
    return re.compile("^" + ".*".join(parts) + "$")


def align(wanted, got):
    """Fits `got` (normalised lines) to `wanted` (patterns; None: any lines). Returns
    (pairs of (wanted index, got index) of a fit, or None; how far `wanted` got)."""
    memo, best = {}, [0]

    def fit(i, j):
        key = (i, j)
        if key in memo:
            return memo[key]
        best[0] = max(best[0], i)
        result = None
        if i == len(wanted):
            result = [] if j == len(got) else None
        elif wanted[i] is None:
            for k in range(j, len(got) + 1):
                rest = fit(i + 1, k)
                if rest is not None:
                    result = rest
                    break
        elif j < len(got) and wanted[i].match(got[j]):
            rest = fit(i + 1, j + 1)
            result = None if rest is None else [(i, j)] + rest
        memo[key] = result
        return result

    return fit(0, 0), best[0]


def matches(expected, actual):
    """Does `actual` (lines) fit `expected` (lines, `…` wildcards)? Returns (ok, how far
    expected got, the expected lines, the actual lines normalised, and the edits that
    GDB_BLESS would make: {index in expected: new line})."""
    lines = [line for line in expected if line.strip()]
    raw = [line for line in actual if not is_noise(line)]
    got = [normalise(line) for line in raw]
    pairs, reached = align([None if line.strip() == "…" else pattern(line) for line in lines], got)
    edits = {}
    if pairs is None:
        loose, _ = align([None if line.strip() == "…" else relaxed(line) for line in lines], got)
        for i, j in loose or []:
            if not pattern(lines[i]).match(got[j]):
                edits[i] = bless_line(lines[i], raw[j])
    return pairs is not None, reached, lines, got, edits


def bless_line(expected, actual):
    """`expected` with the numbers that moved taken from `actual`: the whole line when it
    has no `…`, else only line numbers (`file.rs:N`, `line N.`, a source line's `N<tab>`)."""
    if "…" not in expected:
        return actual.rstrip()
    for number in (r"(\.rs:)(\d+)", r"(, line )(\d+)", r"^(\s*)(\d+)(?=\t)"):
        found = [m.group(2) for m in re.finditer(number, actual)]
        if found:
            values = iter(found)
            expected = re.sub(number, lambda m: m.group(1) + next(values, m.group(2)), expected)
    return expected


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rust_gdb():
    found = shutil.which("rust-gdb") or os.path.expanduser("~/.cargo/bin/rust-gdb")
    if not os.path.exists(found):
        raise SessionError("rust-gdb not found (it comes with rustup's toolchain)")
    return found


def run_session(where, program, args, steps, workdir):
    """Runs one session; returns a list of problems (empty: it passed)."""
    binary = os.path.join(ROOT, program)
    if not os.path.exists(binary):
        return [f"{program} is not built (cargo build --examples)"]
    name = re.sub(r"[^A-Za-z0-9]+", "-", where).strip("-")
    paths = {k: os.path.join(workdir, f"{name}.{k}") for k in ("json", "gdb.log", "program.log", "client.log")}
    for path in paths.values():
        if os.path.exists(path):
            os.remove(path)
    port = free_port()
    spec = {
        "root": ROOT,
        "port": port,
        "args": args,
        "steps": steps,
        "program_log": paths["program.log"],
        "client_log": paths["client.log"],
    }
    json.dump(spec, open(paths["json"], "w"))
    env = {**os.environ, "GDB_SESSION": paths["json"], "PORT": str(port), "RUST_LOG": os.environ.get("RUST_LOG", "info")}
    with open(paths["gdb.log"], "w") as log:
        try:
            subprocess.run(
                ["timeout", "300", rust_gdb(), "-nx", "-batch", "-x", os.path.join(ROOT, ".ci/gdb_driver.py"), binary],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        except OSError as e:
            return [f"cannot run rust-gdb: {e}"]
    blocks, current = {}, None
    for line in open(paths["gdb.log"], errors="replace").read().splitlines():
        marker = re.match(r"^@@step (\d+)$", line)
        if marker:
            current = int(marker.group(1))
            blocks[current] = []
        elif line == "@@end":
            current = None
        elif current is not None:
            blocks[current].append(line)
    problems = []
    if SHOW:
        print(f"$ rust-gdb -q {'--args ' if args else ''}{program} {' '.join(args)}".rstrip())
    for i, step in enumerate(steps):
        if i not in blocks:
            problems.append(f"`(gdb) {step['command']}` never ran (see {paths['gdb.log']})")
            break
        block = blocks[i]
        notes = [line for line in block if line.startswith("@@")]
        block = [line for line in block if not line.startswith("@@")]
        if step.get("probe"):
            # The interrupt that ends a serving example is ours, not the chapter's.
            cut = next((k for k, line in enumerate(block) if "received signal SIGINT" in line), len(block))
            block = block[:cut]
        ok, reached, wanted, got, edits = matches(step["expected"], block)
        if BLESS and not ok and edits:
            for i, line in edits.items():
                BLESSED.setdefault(where.rsplit(":", 1)[0], {})[step["at"][i]] = line
            continue
        for note in notes:
            if not note.startswith("@@probe ok"):
                problems.append(f"`(gdb) {step['command']}`: {note[2:]}")
        if not ok:
            missing = wanted[reached] if reached < len(wanted) else "(nothing more)"
            problems.append(
                f"`(gdb) {step['command']}` printed something else than the chapter shows.\n"
                f"    first line that does not fit: {missing}\n"
                "    the chapter:\n" + "".join(f"        {line}\n" for line in wanted) + "    gdb printed:\n"
                + "".join(f"        {line}\n" for line in got)
            )
        if SHOW:
            print(f"(gdb) {step['command']}")
            for client in step["clients"]:
                print(f"$ {client['command']}")
                print("".join(f"> {line}\n" for line in client["input"]), end="")
            print("".join(f"{line}\n" for line in block if not is_noise(line) and not line.startswith("@@")), end="")
        elif problems:
            break
    if problems:
        problems.append(f"(logs: {paths['gdb.log']}, {paths['program.log']}, {paths['client.log']})")
    return problems


def step_spans(text):
    """The `module::function` names in a chapter's "Step through it" prose."""
    step = text.split("## Step through it", 1)[-1].split("\n## ", 1)[0]
    prose = []
    in_fence = False
    for line in step.splitlines():
        if line.strip().startswith("```"):
            in_fence = not in_fence
        elif not in_fence:
            prose.append(line)
    spans = re.findall(r"`([^`]+)`", "\n".join(prose))
    return sorted({s for s in spans if "::" in s and not any(c in s for c in " <(")})


def resolve(program, symbols):
    """The symbols gdb cannot set a breakpoint on, in `program`."""
    if not symbols:
        return []
    command = [rust_gdb(), "-nx", "-batch"]
    for symbol in symbols:
        command += ["-ex", f"break {symbol}"]
    output = subprocess.run(
        command + [os.path.join(ROOT, program)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    text = output.stdout + output.stderr
    return [s for s in symbols if f'Function "{s}" not defined' in text]


def main():
    chapters = sys.argv[1:] or sorted(
        f"docs/{name}" for name in os.listdir(os.path.join(ROOT, "docs")) if re.match(r"^\d\d-.*\.md$", name)
    )
    workdir = os.path.join(os.environ.get("TMPDIR", tempfile.gettempdir()), "wshub-gdb")
    os.makedirs(workdir, exist_ok=True)
    passed = failed = 0
    # Each failure again at the end, so that the tail of a long CI log holds it.
    failures = []
    for chapter in chapters:
        try:
            text, found = sessions_of(chapter)
            if not found:
                raise SessionError(f"{chapter}: no ```{TAG} block (each chapter shows its debugger session)")
            for where, lines, first in found:
                program, args, steps = parse_session(lines, where, first)
                problems = run_session(where, program, args, steps, workdir)
                stops = sum(1 for s in steps for line in s["expected"] if "hit Breakpoint" in line)
                if problems and SHOW:
                    failed += 1
                    print(f"gdb: (shown above) {where}")
                elif problems:
                    failed += 1
                    report = f"gdb: FAILED {where}: {program} {' '.join(args)}".rstrip()
                    for problem in problems:
                        report += "\n    " + problem.replace("\n", "\n    ")
                    print(report)
                    failures.append(report)
                else:
                    passed += 1
                    stopped = f"{stops} stop" + ("" if stops == 1 else "s")
                    print(f"gdb: ok {where}: {len(steps)} commands, {stopped}, {program} {' '.join(args)}".rstrip())
            # A name resolves in one of the chapter's programs (a chapter with two
            # sessions, on two examples, names functions of both).
            programs = list(dict.fromkeys(parse_session(lines, where)[0] for where, lines, _ in found))
            named = step_spans(text)
            unresolved = named
            for program in programs:
                unresolved = resolve(program, unresolved)
            where = " or ".join(programs)
            if unresolved:
                failed += 1
                for symbol in unresolved:
                    failures.append(f"gdb: FAILED {chapter}: `break {symbol}` does not resolve in {where}")
                    print(failures[-1])
            else:
                passed += 1
                print(f"gdb: ok {chapter}: the {len(named)} functions its prose names resolve in {where}")
        except SessionError as e:
            failed += 1
            failures.append(f"gdb: FAILED {e}")
            print(failures[-1])
    for chapter, edits in BLESSED.items():
        path = os.path.join(ROOT, chapter)
        lines = open(path).read().split("\n")
        for index, line in edits.items():
            lines[index] = line
        open(path, "w").write("\n".join(lines))
        print(f"gdb: blessed {len(edits)} line(s) of {chapter}; read the diff, then run again")
    if not os.environ.get("KEEP") and failed == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    if failures:
        print("gdb: the failures again:")
        print("\n".join(failures))
    print(f"gdb: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
