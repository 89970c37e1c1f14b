#!/usr/bin/env python3
"""Writes BENCHMARKS.md from criterion's output. No number in it is typed by hand.

Usage:

    cargo bench --features chaos --bench '*' -- --warm-up-time 1 --measurement-time 2
    python3 scripts/bench_report.py [CRITERION_DIR] [-o BENCHMARKS.md]
        [--command "the command that produced the numbers"] [--since WHEN]
        [--notes benches/notes.md]

CRITERION_DIR defaults to target/criterion (with CARGO_TARGET_DIR set, it
is $CARGO_TARGET_DIR/criterion). The script reads every
CRITERION_DIR/**/new/benchmark.json (group and function names, throughput)
and the estimates.json next to it (mean time per iteration, in ns), and
writes one table per criterion group, then the allocation counts that
benches/allocations.rs leaves in CRITERION_DIR/allocations.json (if it is
as recent as --since). Standard library only.

Row naming convention (the benches follow it):
  - a function named "direct" (or starting with "direct") is the floor: the
    same body called without any wrapper;
  - a function starting with "resilience" is ours;
  - a function starting with "clock:" or "ref:" is a reference point (what
    a building block costs), neither ours nor a peer;
  - every other function is a peer (another crate doing the same job).

Per row: mean ns per call, its 95% confidence interval, the ratio to the
group's direct call, and the ratio to the group's fastest peer (below 1.00:
faster than every peer). Groups with a criterion throughput also get calls
per second. Criterion keeps results of benchmarks that no longer exist;
delete CRITERION_DIR before a full run, or pass --since to drop results
older than a run's start (a Unix time or an ISO 8601 date, UTC). --notes
appends a Markdown file of prose (benches/notes.md: why a peer is ahead)
after the tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_COMMAND = (
    "cargo bench --features chaos --bench '*' -- "
    "--warm-up-time 1 --measurement-time 2"
)


@dataclass
class Row:
    group: str
    function: str
    mean_ns: float
    low_ns: float
    high_ns: float
    elements: int | None
    measured_at: float

    @property
    def kind(self) -> str:
        return kind_of(self.function)


def kind_of(name: str) -> str:
    if name.startswith("direct"):
        return "floor"
    if name.startswith("resilience"):
        return "ours"
    if name.startswith(("clock:", "ref:")):
        return "reference"
    return "peer"


def allocation_table(criterion_dir: Path, since: float | None) -> list[str]:
    """The table of benches/allocations.rs's `allocations.json`, if there is
    one as recent as `since`: allocations and bytes per call, per layer."""
    path = criterion_dir / "allocations.json"
    if not path.is_file():
        return []
    data = json.loads(path.read_text())
    if since is not None and data["measured_at"] < since:
        return []
    lines = [
        "## allocations per call",
        "",
        f"Heap allocations on the hot path (a call that succeeds at once),"
        f" counted over {data['calls']:,} calls by a global allocator in"
        " `benches/allocations.rs`; `tests/allocations.rs` asserts the zero for"
        " every layer of ours on each CI run.",
        "",
        "| layer | benchmark | kind | allocations/call | bytes/call |",
        "|---|---|---|---|---|",
    ]
    order = {"floor": 0, "reference": 1, "ours": 2, "peer": 3}
    layers: list[str] = []
    for row in data["rows"]:
        if row["layer"] not in layers:
            layers.append(row["layer"])
    rows = sorted(
        data["rows"],
        key=lambda r: (layers.index(r["layer"]), order[kind_of(r["name"])]),
    )
    for row in rows:
        kind = kind_of(row["name"])
        name = f"**`{row['name']}`**" if kind == "ours" else f"`{row['name']}`"
        lines.append(
            f"| {row['layer']} | {name} | {kind} | {row['allocations_per_call']:g}"
            f" | {row['bytes_per_call']:g} |"
        )
    return lines


def load_rows(criterion_dir: Path, since: float | None) -> list[Row]:
    rows = []
    for bench_json in sorted(criterion_dir.glob("**/new/benchmark.json")):
        estimates = bench_json.with_name("estimates.json")
        if not estimates.is_file():
            continue
        measured_at = estimates.stat().st_mtime
        if since is not None and measured_at < since:
            continue
        meta = json.loads(bench_json.read_text())
        mean = json.loads(estimates.read_text())["mean"]
        throughput = meta.get("throughput") or {}
        rows.append(
            Row(
                group=meta["group_id"],
                function=meta.get("function_id") or meta.get("value_str") or "",
                mean_ns=mean["point_estimate"],
                low_ns=mean["confidence_interval"]["lower_bound"],
                high_ns=mean["confidence_interval"]["upper_bound"],
                elements=throughput.get("Elements"),
                measured_at=measured_at,
            )
        )
    return rows


def machine() -> str:
    model, cores = "unknown CPU", 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model == "unknown CPU":
                model = line.split(":", 1)[1].strip()
            if line.startswith("processor"):
                cores += 1
    except OSError:
        pass
    cores = cores or os.cpu_count() or 0
    try:
        rustc = subprocess.run(
            ["rustc", "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        rustc = "rustc (version unknown)"
    return f"{model}, {cores} logical cores, {platform.system()} {platform.release()}; {rustc}"


def fmt_ns(ns: float) -> str:
    if ns >= 1000:
        return f"{ns:,.0f}"
    if ns >= 100:
        return f"{ns:.0f}"
    if ns >= 10:
        return f"{ns:.1f}"
    return f"{ns:.2f}"


def fmt_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "–"
    return f"{ratio:.2f}×" if ratio < 100 else f"{ratio:.0f}×"


def group_table(rows: list[Row]) -> list[str]:
    floor = next((r for r in rows if r.kind == "floor"), None)
    peers = [r for r in rows if r.kind == "peer"]
    best_peer = min(peers, key=lambda r: r.mean_ns) if peers else None
    order = {"floor": 0, "ours": 1, "peer": 2, "reference": 3}
    rows = sorted(rows, key=lambda r: (order[r.kind], r.mean_ns))
    with_throughput = any(r.elements for r in rows)

    header = ["benchmark", "kind", "mean ns/call", "95% CI", "× direct", "× best peer"]
    if with_throughput:
        header.append("calls/s")
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [
            f"`{r.function}`" if r.kind != "ours" else f"**`{r.function}`**",
            r.kind,
            fmt_ns(r.mean_ns),
            f"{fmt_ns(r.low_ns)} – {fmt_ns(r.high_ns)}",
            fmt_ratio(r.mean_ns / floor.mean_ns if floor and floor.mean_ns > 0 else None),
            fmt_ratio(
                r.mean_ns / best_peer.mean_ns
                if best_peer and r.kind in ("ours", "peer") and best_peer.mean_ns > 0
                else None
            ),
        ]
        if with_throughput:
            cells.append(f"{r.elements * 1e9 / r.mean_ns:,.0f}" if r.elements else "–")
        out.append("| " + " | ".join(cells) + " |")
    if best_peer:
        out.append("")
        out.append(f"Best peer: `{best_peer.function}`.")
    return out


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def report_command() -> str:
    """This script's invocation, with paths as given."""
    args = []
    for arg in sys.argv[1:]:
        args.append(f'"{arg}"' if any(c in arg for c in " *'") else arg)
    return " ".join(["python3", "scripts/bench_report.py", *args])


def parse_since(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        when = dt.datetime.fromisoformat(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        return when.timestamp()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("criterion_dir", nargs="?", default="target/criterion")
    parser.add_argument("-o", "--output", default="BENCHMARKS.md")
    parser.add_argument("--command", default=DEFAULT_COMMAND, help="the bench command, as run")
    parser.add_argument("--since", type=parse_since, help="drop results measured before this")
    parser.add_argument("--notes", type=Path, help="a Markdown file appended verbatim")
    args = parser.parse_args()

    criterion_dir = Path(args.criterion_dir)
    rows = load_rows(criterion_dir, args.since)
    if not rows:
        print(f"no criterion results under {criterion_dir}", file=sys.stderr)
        return 1

    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(r.group, []).append(r)

    first = dt.datetime.fromtimestamp(min(r.measured_at for r in rows), dt.timezone.utc)
    last = dt.datetime.fromtimestamp(max(r.measured_at for r in rows), dt.timezone.utc)
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by scripts/bench_report.py from criterion's output; do not edit by hand. -->",
        "",
        f"- Machine: {machine()}",
        f"- Command: `{args.command}`",
        f"- Measured: {first:%Y-%m-%d %H:%M} – {last:%H:%M} UTC",
        f"- Load average when this report was written: {load_average()} (a shared",
        "  machine makes absolute times noisy; prefer the ratios)",
        f"- Report: `{report_command()}`",
        "",
        "Regenerate: run the command above, then the report line (the criterion",
        "directory defaults to `target/criterion`; `--help` for the options).",
        "",
        "How to read the tables: `direct` is the floor, the same body called",
        "without any wrapper; rows starting with `resilience` (in bold) are this",
        "crate's; rows starting with `clock:` or `ref:` are reference points (what a",
        "building block costs); every other row is a peer, a crate a user would",
        "pick instead.",
        "`× direct` is the row's mean over the direct call's; `× best peer` is over",
        "the fastest peer's in the same group (below 1.00: ahead of every peer).",
        "Ratios compare rows measured in the same run, which matters more than the",
        "absolute times when the machine is shared. Uncontended groups poll each",
        "call once with a no-op waker (no executor is measured); `calls/s` groups",
        "run one shared instance from a task per core of a multi-thread runtime,",
        "and their time is wall time per call with every core busy.",
        "",
    ]
    for name in sorted(groups):
        lines.append(f"## {name}")
        lines.append("")
        lines.extend(group_table(groups[name]))
        lines.append("")
    allocations = allocation_table(criterion_dir, args.since)
    if allocations:
        lines.extend(allocations)
        lines.append("")
    if args.notes:
        lines.append(args.notes.read_text().rstrip())
        lines.append("")

    Path(args.output).write_text("\n".join(lines))
    print(f"wrote {args.output}: {len(rows)} benchmarks in {len(groups)} groups")
    return 0


if __name__ == "__main__":
    sys.exit(main())
