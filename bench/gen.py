#!/usr/bin/env python3
"""Generate deterministic benchmark inputs for `planspec validate` and its peers.

Outputs (into --out, default bench/out/inputs):

  plan-10k.yaml / plan-10k.json
      One Plan with --nodes nodes (default 10,000): mostly Tasks with
      capabilityRefs, inputs, outputs, timeouts and acceptance criteria, plus
      Gates (with gateRefs), Externals and presentational Groups. Each node gets
      2-3 incoming edges from lower-indexed nodes, so the graph is a DAG.
      (The file name follows --nodes: --nodes 1000 writes plan-1k.*.)

  resources-1k.yaml / resources-1k.json
      --resources resources (default 1,000) of every kind, coherent with each
      other (plans reference goals, capabilities and gates; gates point back at
      their gate nodes; executions reference plans and bindings). The YAML is
      one multi-document stream; the JSON is a single `kind: List` document for
      tools that take exactly one document per file.

Python 3 standard library only. The same arguments always produce byte-identical
files (random.Random(seed), no clock, no dict-order surprises).
"""

import argparse
import json
import os
import random
import re
import sys

API = "planspec.io/v1alpha1"

# --------------------------------------------------------------------------
# A small YAML emitter (block style). Strings that could be misread are
# written as JSON strings, which are valid YAML double-quoted scalars.
# --------------------------------------------------------------------------

_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./ -]*[A-Za-z0-9_./]$|^[A-Za-z]$")
_RESERVED = {
    "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
}


def _scalar(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    s = str(v)
    if _PLAIN.match(s) and s.lower() not in _RESERVED and "  " not in s and ": " not in s and " #" not in s:
        return s
    return json.dumps(s, ensure_ascii=False)


def _key(k):
    return _scalar(k)


def _inline(v):
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    return _scalar(v)


def _emit_map(d, indent, out, first_prefix=None):
    for i, (k, v) in enumerate(d.items()):
        lead = first_prefix if (i == 0 and first_prefix is not None) else " " * indent
        _emit_kv(lead + _key(k) + ":", v, indent, out)


def _emit_kv(head, v, indent, out):
    """`head` is "<indent>key:"; nested content goes at indent + 2."""
    if isinstance(v, dict) and v:
        out.append(head)
        _emit_map(v, indent + 2, out)
    elif isinstance(v, list) and v:
        if len(v) <= 8 and all(not isinstance(e, (dict, list)) for e in v):
            out.append(head + " [" + ", ".join(_scalar(e) for e in v) + "]")
        else:
            out.append(head)
            _emit_seq(v, indent + 2, out)
    elif isinstance(v, str) and "\n" in v and not v.startswith(" "):
        out.append(head + " |" + ("" if v.endswith("\n") else "-"))
        for line in v.rstrip("\n").split("\n"):
            out.append((" " * (indent + 2) + line) if line else "")
    else:
        out.append(head + " " + _inline(v))


def _emit_seq(items, indent, out):
    for x in items:
        if isinstance(x, dict) and x:
            _emit_map(x, indent + 2, out, first_prefix=" " * indent + "- ")
        elif isinstance(x, list) and x:
            out.append(" " * indent + "-")
            _emit_seq(x, indent + 2, out)
        else:
            out.append(" " * indent + "- " + _inline(x))


def to_yaml(doc):
    out = []
    _emit_map(doc, 0, out)
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------

AREAS = [
    "checkout", "payments", "search", "catalog", "accounts", "auth", "billing",
    "inventory", "shipping", "notifications", "reports", "admin", "mobile-api",
    "web", "ledger", "pricing", "reviews", "recommendations", "onboarding", "support",
]
VERBS = [
    "design", "implement", "refactor", "migrate", "test", "scan", "document",
    "benchmark", "review", "deploy", "configure", "backfill", "instrument", "verify",
]
CAPABILITIES = [
    ("technical-design", "design"), ("code-generation", "development"),
    ("code-review", "development"), ("refactoring", "development"),
    ("database-migration", "data"), ("data-backfill", "data"),
    ("test-execution", "testing"), ("load-testing", "testing"),
    ("security-analysis", "security"), ("dependency-audit", "security"),
    ("documentation", "documentation"), ("deployment", "operations"),
    ("infrastructure-change", "operations"), ("observability", "operations"),
    ("release-communication", "communication"), ("translation", "communication"),
]
CAP_FOR_VERB = {
    "design": "technical-design", "implement": "code-generation", "refactor": "refactoring",
    "migrate": "database-migration", "test": "test-execution", "scan": "security-analysis",
    "document": "documentation", "benchmark": "load-testing", "review": "code-review",
    "deploy": "deployment", "configure": "infrastructure-change", "backfill": "data-backfill",
    "instrument": "observability", "verify": "test-execution",
}
OUTPUTS = [
    "pull_request_url", "changed_files", "test_report", "coverage_percent", "findings_report",
    "release_id", "deployed_url", "doc_paths", "migration_id", "rows_migrated", "dashboard_url",
    "design_doc", "benchmark_report", "p99_latency_ms",
]
EFFORTS = ["small", "medium", "large", "xlarge"]
DURATIONS = ["15m", "30m", "45m", "1h", "1h30m", "2h", "4h", "6h", "8h", "12h", "24h"]
REVIEWERS = [
    "team:security", "team:platform", "team:sre", "team:web-leads", "user:amara.okafor",
    "user:lukas.becker", "user:maria.lopez", "user:kenji.watanabe", "user:release-manager",
]


def node_id(i, area, verb):
    return "%s-%s-%05d" % (area, verb, i)


def criterion(rng, area, verb, k):
    t = rng.choice(["artifact_exists", "test_passes", "command_succeeds", "endpoint_responds", "custom"])
    name = "%s-%s-check-%d" % (area, verb, k)
    if t == "artifact_exists":
        c = {"type": t, "name": name, "path": "services/%s/CHANGELOG.md" % area}
        if rng.random() < 0.6:
            c["contentMatch"] = "## %s" % verb.capitalize()
    elif t == "test_passes":
        c = {"type": t, "name": name, "command": "pnpm",
             "args": ["--filter", area, "test"], "timeout": rng.choice(["10m", "20m", "30m"])}
    elif t == "command_succeeds":
        c = {"type": t, "name": name, "command": "make",
             "args": ["-C", "services/%s" % area, "lint"], "expectedExitCode": 0}
        if rng.random() < 0.3:
            c["outputMatch"] = "0 (errors|findings)"
    elif t == "endpoint_responds":
        c = {"type": t, "name": name, "url": "https://%s.staging.example.com/healthz" % area,
             "method": rng.choice(["GET", "HEAD"]), "expectedStatus": 200}
    else:
        c = {"type": t, "name": name, "webhookUrl": "https://qa-bot.example.com/hooks/%s" % area,
             "payload": {"area": area, "check": verb}, "expectedResponse": {"statusCode": 200}}
    if rng.random() < 0.3:
        c["description"] = "%s %s check %d for %s" % (verb.capitalize(), t.replace("_", " "), k, area)
    if rng.random() < 0.1:
        c["required"] = False
    return c


# --------------------------------------------------------------------------
# Plan with N nodes
# --------------------------------------------------------------------------

def big_plan(n, seed, namespace="bench", name=None, with_context=True):
    rng = random.Random(seed)
    name = name or "bench-plan-%s" % size_label(n)
    nodes = []
    ids = []
    gate_refs = []
    task_ids = []
    grouped = set()
    for i in range(n):
        area = AREAS[rng.randrange(len(AREAS))]
        r = rng.random()
        if i > 0 and r < 0.04:
            kind = "Gate"
        elif i > 0 and r < 0.07:
            kind = "External"
        elif i > 20 and r < 0.10 and sum(t not in grouped for t in task_ids[-60:]) >= 3:
            kind = "Group"
        else:
            kind = "Task"
        if kind == "Task":
            verb = VERBS[rng.randrange(len(VERBS))]
        else:
            verb = {"Gate": "approval", "External": "external", "Group": "group"}[kind]
        nid = node_id(i, area, verb)
        node = {"id": nid, "kind": kind}
        if rng.random() < 0.7:
            node["name"] = "%s %s #%d" % (verb.capitalize(), area.replace("-", " "), i)
        if kind == "Task":
            cap = CAP_FOR_VERB[verb]
            refs = [{"name": cap}]
            if rng.random() < 0.15:
                extra = CAPABILITIES[rng.randrange(len(CAPABILITIES))][0]
                if extra != cap:
                    refs.append({"name": extra})
            node["description"] = "%s the %s service change (work item %d)" % (verb.capitalize(), area, i)
            node["capabilityRefs"] = refs
            node["inputs"] = {
                "repository": "monorepo",
                "paths": ["services/%s/" % area],
                "ticket": "PLAT-%d" % (1000 + i),
            }
            if rng.random() < 0.3:
                node["inputs"]["flags"] = {"dryRun": rng.random() < 0.5, "parallelism": rng.randint(1, 8)}
            node["outputs"] = sorted(rng.sample(OUTPUTS, rng.randint(1, 3)))
            node["timeout"] = rng.choice(DURATIONS)
            node["retries"] = rng.randint(0, 3)
            if rng.random() < 0.5:
                node["estimatedEffort"] = rng.choice(EFFORTS)
            if rng.random() < 0.08:
                node["when"] = "parameters['x-run-%s'] == true" % verb
            crit = rng.choice([0, 1, 1, 2])
            if crit:
                node["acceptanceCriteria"] = [criterion(rng, area, verb, k) for k in range(crit)]
            if with_context and rng.random() < 0.05:
                node["context"] = [{
                    "name": "notes",
                    "format": "markdown",
                    "content": "## %s %s\n\nSee the runbook for `%s` before changing production.\n" % (verb, area, area),
                }]
            task_ids.append(nid)
        elif kind == "Gate":
            gname = "%s-gate-%05d" % (name, i)
            node["gateRef"] = {"name": gname}
            gate_refs.append((gname, nid))
        elif kind == "External":
            t = rng.choice(["webhook", "uri", "resource"])
            if t == "webhook":
                node["externalRef"] = {"type": t, "webhookUrl": "https://hooks.example.com/%s/%d" % (area, i)}
            elif t == "uri":
                node["externalRef"] = {"type": t, "uri": "https://status.example.com/%s/%d" % (area, i)}
            else:
                node["externalRef"] = {"type": t, "resourceRef": {"kind": "Execution", "name": "%s-upstream-%d" % (area, i)}}
            node["pollInterval"] = rng.choice(["1m", "5m", "10m"])
            node["timeout"] = rng.choice(["24h", "72h"])
        else:  # Group: presentational; children are earlier tasks no other Group holds
            ungrouped = [t for t in task_ids[-60:] if t not in grouped]
            k = min(len(ungrouped), rng.randint(3, 12))
            node["children"] = sorted(rng.sample(ungrouped, k))
            grouped.update(node["children"])
            node["mode"] = rng.choice(["parallel", "sequence"])
        nodes.append(node)
        ids.append(nid)

    # 2-3 incoming edges per node from a window of lower indices; about a
    # fifth of nodes declare theirs with dependsOn, the rest as explicit edges.
    edges = []
    for i in range(1, n):
        k = min(i, rng.choice([2, 2, 3]))
        lo = max(0, i - 40)
        preds = sorted(rng.sample(range(lo, i), min(k, i - lo)))
        if rng.random() < 0.2:
            nodes[i]["dependsOn"] = [ids[j] for j in preds]
        else:
            for j in preds:
                e = {"from": ids[j], "to": ids[i]}
                if rng.random() < 0.03:
                    e["type"] = "soft"
                edges.append(e)

    plan = {
        "apiVersion": API,
        "kind": "Plan",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "planspec.io/goal": "bench-goal",
                "planspec.io/series": name,
                "planspec.io/version": "1",
                "planspec.io/team": "platform",
            },
        },
        "spec": {
            "goalRef": {"name": "bench-goal"},
            "series": name,
            "version": "1",
            "description": "Synthetic %d-node plan for validation benchmarks" % n,
            "graph": {"nodes": nodes, "edges": edges},
        },
    }
    return plan, gate_refs


# --------------------------------------------------------------------------
# Mixed resources
# --------------------------------------------------------------------------

def capability(ns, cname, category):
    return {
        "apiVersion": API, "kind": "Capability",
        "metadata": {"name": cname, "namespace": ns},
        "spec": {
            "displayName": cname.replace("-", " ").capitalize(),
            "description": "Ability to perform %s work" % cname.replace("-", " "),
            "category": category,
            "inputs": [
                {"name": "repository", "type": "string", "required": True},
                {"name": "paths", "type": "array", "itemType": "string"},
                {"name": "ticket", "type": "string"},
                {"name": "flags", "type": "object"},
            ],
            "outputs": [{"name": o, "type": "number" if o.endswith(("_percent", "_ms", "_migrated")) else "string"}
                        for o in OUTPUTS],
        },
    }


def mixed_resources(count, seed):
    rng = random.Random(seed)
    docs = []
    namespaces = ["team-%s" % a for a in ("web", "payments", "search", "platform", "data")]
    per_ns_caps = {}
    for ns in namespaces:
        per_ns_caps[ns] = [c for c, _ in CAPABILITIES]
        for c, cat in CAPABILITIES:
            docs.append(capability(ns, c, cat))
        rules = []
        for p, (c, _) in enumerate(CAPABILITIES):
            rules.append({"selector": {"capabilityRef": {"name": c}},
                          "target": {"provider": rng.choice(["agent://claude-code", "tool://ci-runner", "human://%s-oncall" % ns])}})
        rules.append({"selector": {"matchLabels": {"planspec.io/team": ns[5:]}},
                      "target": {"provider": "mcp://%s-tools" % ns}})
        docs.append({"apiVersion": API, "kind": "Binding",
                     "metadata": {"name": "%s-defaults" % ns, "namespace": ns},
                     "spec": {"strategy": "FirstMatch", "rules": rules}})
    p = 0
    while len(docs) < count:
        ns = namespaces[p % len(namespaces)]
        area = AREAS[rng.randrange(len(AREAS))]
        goal = "%s-goal-%04d" % (area, p)
        plan_name = "%s-plan-%04d" % (area, p)
        docs.append({
            "apiVersion": API, "kind": "Goal",
            "metadata": {"name": goal, "namespace": ns, "labels": {"planspec.io/team": ns[5:]}},
            "spec": {
                "description": "Improve %s: deliverable %d" % (area, p),
                "acceptanceCriteria": [{"id": "criterion-%d" % k, "description": "Outcome %d for %s is met" % (k, area)}
                                       for k in range(rng.randint(1, 4))],
                "planSelector": {"matchLabels": {"planspec.io/goal": goal},
                                 "matchExpressions": [{"key": "planspec.io/team", "operator": "In", "values": [ns[5:]]}]},
                "timeout": rng.choice(["72h", "168h", "336h"]),
                "priority": rng.randint(0, 1000),
            },
        })
        n = rng.randint(6, 24)
        plan, gates = big_plan(n, seed * 7919 + p, namespace=ns, name=plan_name, with_context=False)
        plan["metadata"]["labels"]["planspec.io/goal"] = goal
        plan["metadata"]["labels"]["planspec.io/team"] = ns[5:]
        plan["spec"]["goalRef"] = {"name": goal}
        docs.append(plan)
        for gname, nid in gates:
            docs.append({
                "apiVersion": API, "kind": "Gate",
                "metadata": {"name": gname, "namespace": ns},
                "spec": {"gateType": rng.choice(["approval", "review", "sign-off"]),
                         "targetRef": {"kind": "Plan", "name": plan_name, "nodeId": nid},
                         "reviewers": rng.sample(REVIEWERS, 2),
                         "requiredApprovers": rng.choice([1, 1, 2])},
            })
        docs.append({
            "apiVersion": API, "kind": "Execution",
            "metadata": {"name": "%s-run-%04d" % (area, p), "namespace": ns},
            "spec": {"planRef": {"name": plan_name}, "goalRef": {"name": goal},
                     "bindingRef": {"name": "%s-defaults" % ns},
                     "parameters": {"x-attempt": 1, "com.example.ticket": "PLAT-%d" % p}},
        })
        p += 1
    return docs[:count]


# --------------------------------------------------------------------------

def size_label(n):
    if n >= 1000 and n % 1000 == 0:
        return "%dk" % (n // 1000)
    return str(n)


def write(path, text):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print("wrote %-28s %9d bytes" % (os.path.basename(path), len(text.encode("utf-8"))))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=10000, help="nodes in the big plan (default 10000)")
    ap.add_argument("--resources", type=int, default=1000, help="documents in the mixed file (default 1000)")
    ap.add_argument("--seed", type=int, default=20251121, help="random seed (default 20251121)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "inputs"),
                    help="output directory (default bench/out/inputs)")
    ap.add_argument("--list-api-version", action="store_true",
                    help="put apiVersion on the kind: List wrapper of resources-*.json")
    a = ap.parse_args(argv)
    if a.nodes < 1 or a.resources < 1:
        ap.error("--nodes and --resources must be positive")
    os.makedirs(a.out, exist_ok=True)

    plan, _ = big_plan(a.nodes, a.seed)
    base = os.path.join(a.out, "plan-%s" % size_label(a.nodes))
    write(base + ".yaml", to_yaml(plan))
    write(base + ".json", json.dumps(plan, indent=1, ensure_ascii=False) + "\n")

    docs = mixed_resources(a.resources, a.seed + 1)
    base = os.path.join(a.out, "resources-%s" % size_label(a.resources))
    write(base + ".yaml", "".join("---\n" + to_yaml(d) for d in docs))
    lst = {"kind": "List", "items": docs}
    if a.list_api_version:
        lst = {"apiVersion": API, **lst}
    write(base + ".json", json.dumps(lst, indent=1, ensure_ascii=False) + "\n")
    kinds = {}
    for d in docs:
        kinds[d["kind"]] = kinds.get(d["kind"], 0) + 1
    print("plan: %d nodes, %d edges; resources: %s" % (
        len(plan["spec"]["graph"]["nodes"]), len(plan["spec"]["graph"]["edges"]),
        ", ".join("%s=%d" % kv for kv in sorted(kinds.items()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
