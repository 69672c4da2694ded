#!/usr/bin/env python3
"""Turn bench/run.sh's hyperfine exports into a markdown report.

Reads, from --out (default bench/out):
  case-<case>.json   hyperfine --export-json, one per case
  verify.tsv         case, command, exit code, first output line (the pre-timing check)
  machine.md         machine and tool versions (a markdown table)
  notes.md           optional remarks from run.sh (e.g. flags a peer needed)
  inputs/<case>.*    the generated inputs (for their sizes)

Prints the report. With --update-doc FILE, also replaces the text between
`<!-- bench:start -->` and `<!-- bench:end -->` in FILE. Python 3 stdlib only.
"""

import argparse
import json
import os
import re
import sys

START = "<!-- bench:start -->"
END = "<!-- bench:end -->"

CASE_TITLES = {
    "plan": "one Plan with {n} nodes",
    "resources": "{n} resources of every kind",
}


def fmt_time(s):
    if s >= 1.0:
        return "%.2f s" % s
    if s >= 0.01:
        return "%.1f ms" % (s * 1e3)
    return "%.2f ms" % (s * 1e3)


def fmt_pm(mean, sd):
    if mean >= 1.0:
        return "%.2f s ± %.2f s" % (mean, sd or 0.0)
    return "%.1f ms ± %.1f ms" % (mean * 1e3, (sd or 0.0) * 1e3)


def fmt_ratio(x):
    if x != x:
        return "—"
    if x >= 100:
        return "%.0f" % x
    if x >= 0.1:
        return "%.2f" % x
    return "%.4f" % x


def fmt_size(n):
    if n >= 1 << 20:
        return "%.1f MiB" % (n / (1 << 20))
    if n >= 1 << 10:
        return "%.0f KiB" % (n / (1 << 10))
    return "%d B" % n


def split_label(command):
    """'check-jsonschema [json List]' -> ('check-jsonschema', 'json List')."""
    m = re.match(r"^(.*?) \[(.*)\]$", command)
    return (m.group(1), m.group(2)) if m else (command, "")


def input_file(out, case, note):
    ext = ".json" if "json" in note else ".yaml"
    return os.path.join(out, "inputs", case + ext)


def case_title(case):
    kind, _, size = case.partition("-")
    n = size[:-1] + ",000" if size.endswith("k") else size
    return CASE_TITLES.get(kind, "{n}").format(n=n)


def load_verify(out):
    rows = []
    path = os.path.join(out, "verify.tsv")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 3:
                    rows.append((parts[0], parts[1], parts[2], parts[3] if len(parts) > 3 else ""))
    return rows


def case_table(out, case, verify):
    path = os.path.join(out, "case-%s.json" % case)
    lines = ["### `%s` — %s" % (case, case_title(case)), ""]
    sizes = []
    for ext in (".yaml", ".json"):
        p = os.path.join(out, "inputs", case + ext)
        if os.path.exists(p):
            sizes.append("`%s%s` %s" % (case, ext, fmt_size(os.path.getsize(p))))
    if sizes:
        lines += ["Inputs: " + ", ".join(sizes) + ".", ""]
    if not os.path.exists(path):
        lines += ["_Not measured: no command accepted the input (see the exit codes below)._", ""]
        return lines
    with open(path, encoding="utf-8") as f:
        results = json.load(f)["results"]

    ref = next((r for r in results if r["command"].startswith("planspec ")), None)
    ref_label = "× planspec"
    if ref is None:
        peers = [r for r in results if not r["command"].startswith("floor")]
        ref = min(peers or results, key=lambda r: r["mean"])
        ref_label = "× fastest (%s)" % split_label(ref["command"])[0]

    lines += [
        "| Command | Input | Wall time, mean ± σ | Min … Max | CPU (user + sys) | %s |" % ref_label,
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        tool, note = split_label(r["command"])
        cpu = (r.get("user") or 0.0) + (r.get("system") or 0.0)
        ratio = r["mean"] / ref["mean"] if ref["mean"] > 0 else float("nan")
        lines.append("| %s | %s | %s | %s … %s | %s | %s |" % (
            "**%s**" % tool if tool == "planspec" else tool, note,
            fmt_pm(r["mean"], r.get("stddev")), fmt_time(r["min"]), fmt_time(r["max"]),
            fmt_time(cpu), fmt_ratio(ratio)))
    excluded = [v for v in verify if v[0] == case and v[2] != "0"]
    if excluded:
        lines += ["", "Not timed, because they did not accept the valid input:", ""]
        for _, cmd, rc, first in excluded:
            lines.append("* %s — exit %s: `%s`" % (cmd, rc, first.replace("`", "'")))
    lines.append("")
    return lines


def build(out, cases, command):
    lines = []
    machine = os.path.join(out, "machine.md")
    lines += ["Measured with `%s`:" % command, ""]
    if os.path.exists(machine):
        with open(machine, encoding="utf-8") as f:
            lines += [f.read().rstrip("\n"), ""]
    notes = os.path.join(out, "notes.md")
    if os.path.exists(notes):
        with open(notes, encoding="utf-8") as f:
            text = f.read().strip()
        if text:
            lines += ["Notes from this run:", "", text, ""]
    verify = load_verify(out)
    for case in cases:
        lines += case_table(out, case, verify)
    if verify:
        lines += ["Exit codes on the valid inputs, checked once before timing:", "",
                  "| Case | Command | Exit | First line of output |", "|---|---|---:|---|"]
        for case, cmd, rc, first in verify:
            lines.append("| %s | %s | %s | %s |" % (case, cmd, rc,
                                                  ("`%s`" % first.replace("`", "'")) if first else ""))
        lines.append("")
    return "\n".join(lines)


def update_doc(path, body):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    i, j = text.find(START), text.find(END)
    if i < 0 or j < 0 or j < i:
        sys.exit("report.py: %s has no %s … %s markers" % (path, START, END))
    text = text[: i + len(START)] + "\n" + body.rstrip("\n") + "\n" + text[j:]
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print("report.py: updated %s" % path, file=sys.stderr)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "out"))
    ap.add_argument("--cases", nargs="*", default=None,
                    help="case names in order (default: every out/case-*.json)")
    ap.add_argument("--command", default="bash bench/run.sh", help="command shown as the way to reproduce")
    ap.add_argument("--update-doc", metavar="FILE", help="replace the marked results section of FILE")
    a = ap.parse_args(argv)
    cases = a.cases
    if not cases:
        cases = sorted(f[5:-5] for f in os.listdir(a.out) if f.startswith("case-") and f.endswith(".json"))
    body = build(a.out, cases, a.command)
    print(body)
    if a.update_doc:
        update_doc(a.update_doc, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
