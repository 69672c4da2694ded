#!/usr/bin/env python3
"""The 100,000-node execution benchmark (driven by bench/100k.sh). Python stdlib only.

  run.py run    --bin BIN --nodes N --mode matrix|flat --work DIR --out OUT.json
  run.py floor  --work DIR --run OUT.json --out FLOOR.json
  run.py report --run OUT.json --floor FLOOR.json --machine FILE [--update-doc docs/benchmarks.md]

`run` starts a real `planspec server` (loopback, SQLite file in DIR), applies one Plan of N
`noop://` Tasks (`matrix`: N/1000 Tasks in a chain, each a matrix of 1,000 instances; `flat`:
N plain Tasks in 100 chains), creates one Execution, polls until it finishes, and records:
wall time (create → finished as the server reports it, and as the client saw it), the
server's peak RSS (VmHWM), the Execution object's size as JSON, the journal (entries, bytes),
and how long `get`, `describe`, `get nodes --phase Failed`, `trace` and `logs` take on it.
It fails when the Execution object is 64 KiB or more.

`floor` is the raw reference measured on the same machine in the same run: a bare SQLite
loop (same schema as the store's journal and node tables, WAL, synchronous=FULL) writing the
same number of journal entries of the same average size and N node records written three
times each (pending, running, finished), in transactions of 256 nodes — the durable writes
the run needs, with no engine, no API and no provider.
"""

import argparse
import http.client
import json
import os
import re
import sqlite3
import subprocess
import sys
import time

MAX_OBJECT_BYTES = 64 * 1024
MATRIX_WIDTH = int(os.environ.get("MATRIX_WIDTH", "1000"))
CHAINS = 100


def plan_docs(nodes, mode):
    """The Plan and Binding documents."""
    if mode == "matrix":
        tasks = nodes // MATRIX_WIDTH
        graph_nodes = []
        for t in range(tasks):
            node = {
                "id": f"t{t:03d}",
                "kind": "Task",
                "matrix": {"axes": [{"name": "shard", "values": list(range(MATRIX_WIDTH))}]},
            }
            if t > 0:
                node["dependsOn"] = [f"t{t - 1:03d}"]
            graph_nodes.append(node)
    else:
        graph_nodes = []
        for i in range(nodes):
            node = {"id": f"n{i:06d}", "kind": "Task"}
            if i >= CHAINS:
                node["dependsOn"] = [f"n{i - CHAINS:06d}"]
            graph_nodes.append(node)
    plan = {
        "apiVersion": "planspec.io/v1alpha1",
        "kind": "Plan",
        "metadata": {"name": "scale"},
        "spec": {"description": f"{nodes} noop nodes ({mode})", "graph": {"nodes": graph_nodes}},
    }
    binding = {
        "apiVersion": "planspec.io/v1alpha1",
        "kind": "Binding",
        "metadata": {"name": "scale"},
        "spec": {"rules": [{"selector": {"planRef": {"name": "scale"}},
                            "target": {"provider": "noop://", "config": {}}}]},
    }
    return plan, binding


class Api:
    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.host, self.port = host, int(port)

    def request(self, method, path, body=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        conn.close()
        return resp.status, raw


EXECUTIONS = "/apis/planspec.io/v1alpha1/namespaces/default/executions"


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def timed_cli(binary, env, args):
    start = time.monotonic()
    out = subprocess.run([binary, *args], env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    if out.returncode != 0:
        sys.exit(f"planspec {' '.join(args)} failed ({out.returncode}):\n{out.stderr}")
    return elapsed, len(out.stdout)


def cmd_run(a):
    os.makedirs(a.work, exist_ok=True)
    a.bin = os.path.abspath(a.bin)
    plan, binding = plan_docs(a.nodes, a.mode)
    docs = os.path.join(a.work, "scale.json")
    with open(docs, "w") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": [plan, binding]}, f)
    server = subprocess.Popen(
        [a.bin, "server", "--dev", "--listen", "127.0.0.1:0", "--store",
         f"sqlite:{os.path.join(a.work, 'scale.db')}"],
        stdout=subprocess.PIPE, stderr=open(os.path.join(a.work, "server.err"), "w"),
        text=True, cwd=a.work)
    try:
        line = server.stdout.readline()
        m = re.search(r"http://(127\.0\.0\.1:\d+)", line)
        if not m:
            sys.exit(f"the server did not announce a loopback address: {line!r}")
        addr = m.group(1)
        api = Api(addr)
        env = dict(os.environ, PLANSPEC_SERVER=f"http://{addr}", NO_COLOR="1")
        env.pop("PLANSPEC_NAMESPACE", None)

        t = time.monotonic()
        out = subprocess.run([a.bin, "apply", "-f", docs], env=env, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"apply failed:\n{out.stdout}\n{out.stderr}")
        apply_s = time.monotonic() - t

        execution = {"apiVersion": "planspec.io/v1alpha1", "kind": "Execution",
                     "metadata": {"name": "scale-1"}, "spec": {"planRef": {"name": "scale"}}}
        t0 = time.monotonic()
        status, raw = api.request("POST", EXECUTIONS, execution)
        if status not in (200, 201):
            sys.exit(f"create failed: {status} {raw[:2000]!r}")
        peak_object = 0
        while True:
            status, raw = api.request("GET", f"{EXECUTIONS}/scale-1")
            peak_object = max(peak_object, len(raw))
            obj = json.loads(raw)
            phase = obj.get("status", {}).get("phase")
            if phase in ("Succeeded", "Failed", "Cancelled"):
                break
            if time.monotonic() - t0 > a.limit:
                sys.exit(f"not finished after {a.limit} s: {obj.get('status', {}).get('extensions', {}).get('progress')}")
            time.sleep(0.5)
        client_wall = time.monotonic() - t0
        object_bytes = len(raw)
        st = obj["status"]
        progress = st.get("extensions", {}).get("progress", {})
        server_wall = iso_ms(st.get("completionTime")) - iso_ms(obj["metadata"]["creationTimestamp"])
        _, jraw = api.request("GET", f"{EXECUTIONS}/scale-1/journal?limit=1")
        journal_entries = json.loads(jraw)["metadata"]["total"]
        peak_rss = rss_kib(server.pid, "VmHWM")

        cli = {}
        for label, args in [
            ("get", ["get", "execution", "scale-1"]),
            ("describe", ["describe", "execution/scale-1"]),
            ("get nodes --phase Failed", ["get", "nodes", "execution/scale-1", "--phase", "Failed"]),
            ("trace", ["trace", "execution/scale-1"]),
            ("logs", ["logs", "execution/scale-1"]),
        ]:
            cli[label] = timed_cli(a.bin, env, args)[0]
    finally:
        server.terminate()
        server.wait()
    db = sqlite3.connect(os.path.join(a.work, "scale.db"))
    journal_bytes = db.execute("SELECT COALESCE(SUM(LENGTH(entry)), 0) FROM journal").fetchone()[0]
    records = db.execute("SELECT COUNT(*) FROM node_records").fetchone()[0]
    db.close()
    result = {
        "nodes": a.nodes, "mode": a.mode, "phase": st.get("phase"), "progress": progress,
        "applySeconds": round(apply_s, 2),
        "serverWallSeconds": round(server_wall / 1000, 2),
        "clientWallSeconds": round(client_wall, 2),
        "nodesPerSecond": round(a.nodes / max(server_wall / 1000, 1e-9)),
        "peakRssMiB": round(peak_rss / 1024, 1),
        "objectBytes": object_bytes, "peakObjectBytes": peak_object,
        "hasNodeStatuses": "nodeStatuses" in st,
        "journalEntries": journal_entries, "journalBytes": journal_bytes,
        "nodeRecords": records,
        "cliSeconds": {k: round(v, 4) for k, v in cli.items()},
    }
    with open(a.out, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
    if st.get("phase") != "Succeeded":
        sys.exit(f"the execution ended {st.get('phase')}: {st.get('message')}")
    if peak_object >= MAX_OBJECT_BYTES:
        sys.exit(f"the Execution object reached {peak_object} bytes (limit {MAX_OBJECT_BYTES})")


def iso_ms(text):
    """RFC 3339 (UTC, optional fraction) → milliseconds since the epoch."""
    import datetime
    text = text.replace("Z", "+00:00")
    return int(datetime.datetime.fromisoformat(text).timestamp() * 1000)


def cmd_floor(a):
    with open(a.run) as f:
        run = json.load(f)
    n, entries, nbytes = run["nodes"], run["journalEntries"], run["journalBytes"]
    # The run's journal entries, spread over the 2n (node, running|finished) writes.
    base, extra = divmod(entries, 2 * n)
    entry = "x" * max(1, nbytes // max(entries, 1))
    record = json.dumps({"node": "n000000", "phase": "Succeeded", "attempt": 1,
                         "idempotencyKey": "psk_" + "0" * 32, "startTime": "2026-01-01T00:00:00.000Z",
                         "completionTime": "2026-01-01T00:00:00.000Z", "outputs": {},
                         "provider": "noop://"})
    path = os.path.join(a.work, "floor.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE journal (execution_uid TEXT NOT NULL, seq INTEGER NOT NULL, "
               "entry TEXT NOT NULL, PRIMARY KEY (execution_uid, seq)) STRICT")
    db.execute("CREATE TABLE node_records (execution_uid TEXT NOT NULL, node_id TEXT NOT NULL, "
               "phase TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (execution_uid, node_id)) STRICT")
    db.execute("CREATE INDEX node_records_by_phase ON node_records (execution_uid, phase, node_id)")
    upsert = ("INSERT INTO node_records VALUES (?, ?, ?, ?) ON CONFLICT (execution_uid, node_id) "
              "DO UPDATE SET phase = excluded.phase, record = excluded.record")
    uid = "00000000-0000-0000-0000-000000000000"
    start = time.monotonic()
    seq = 0
    for k, phase in enumerate(("Pending", "Running", "Succeeded")):
        for lo in range(0, n, 256):
            db.execute("BEGIN")
            for i in range(lo, min(n, lo + 256)):
                node = f"n{i:06d}"
                if phase != "Pending":
                    slot = (k - 1) * n + i
                    for _ in range(base + (1 if slot < extra else 0)):
                        db.execute("INSERT INTO journal VALUES (?, ?, ?)", (uid, seq, entry))
                        seq += 1
                db.execute(upsert, (uid, node, phase, record))
            db.execute("COMMIT")
    elapsed = time.monotonic() - start
    db.close()
    result = {"seconds": round(elapsed, 2), "journalEntries": seq, "nodeRecordWrites": 3 * n,
              "transactions": 3 * ((n + 255) // 256)}
    with open(a.out, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))


def cmd_report(a):
    with open(a.run) as f:
        run = json.load(f)
    with open(a.floor) as f:
        floor = json.load(f)
    with open(a.machine) as f:
        machine = f.read().strip()
    ratio = run["serverWallSeconds"] / max(floor["seconds"], 1e-9)
    mib = lambda b: f"{b / 1048576:.1f} MiB"
    cli = run["cliSeconds"]
    lines = [
        "<!-- scale-bench:start -->",
        "",
        machine,
        "",
        f"One Execution of **{run['nodes']:,} nodes** ({run['mode']}: "
        + ("100 Tasks in a chain, each a matrix of 1,000 `noop://` instances" if run["mode"] == "matrix"
           else "100 chains of `noop://` Tasks")
        + f"), ending `{run['phase']}`.",
        "",
        "| Figure | Value |",
        "|---|---|",
        f"| wall time, created → finished (server timestamps) | {run['serverWallSeconds']} s |",
        f"| nodes per second | {run['nodesPerSecond']:,} |",
        f"| server peak RSS (VmHWM) | {run['peakRssMiB']} MiB |",
        f"| Execution object as JSON (largest seen while running / at the end) | {run['peakObjectBytes']:,} / {run['objectBytes']:,} bytes (limit 65,536; `nodeStatuses`: {'yes' if run['hasNodeStatuses'] else 'no'}) |",
        f"| journal | {run['journalEntries']:,} entries, {mib(run['journalBytes'])} |",
        f"| node records | {run['nodeRecords']:,} |",
        f"| `planspec apply` of the Plan | {run['applySeconds']} s |",
        f"| raw floor: bare SQLite loop, same durable writes ({floor['journalEntries']:,} entries, {floor['nodeRecordWrites']:,} record writes, {floor['transactions']:,} transactions, WAL + synchronous=FULL) | {floor['seconds']} s |",
        f"| **ratio to the floor** | **{ratio:.1f}×** |",
        "",
        "CLI on the finished run (wall time, one process each): "
        + ", ".join(f"`{k}` {v * 1000:.0f} ms" for k, v in cli.items()) + ".",
        "",
        "<!-- scale-bench:end -->",
    ]
    block = "\n".join(lines)
    print(block)
    if a.update_doc:
        with open(a.update_doc) as f:
            doc = f.read()
        pattern = re.compile(r"<!-- scale-bench:start -->.*?<!-- scale-bench:end -->", re.S)
        if not pattern.search(doc):
            sys.exit(f"{a.update_doc} has no scale-bench markers")
        doc = pattern.sub(lambda _: block, doc)
        with open(a.update_doc, "w") as f:
            f.write(doc)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--bin", required=True)
    r.add_argument("--nodes", type=int, default=100_000)
    r.add_argument("--mode", choices=["matrix", "flat"], default="matrix")
    r.add_argument("--work", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--limit", type=int, default=3600)
    f = sub.add_parser("floor")
    f.add_argument("--work", required=True)
    f.add_argument("--run", required=True)
    f.add_argument("--out", required=True)
    rep = sub.add_parser("report")
    rep.add_argument("--run", required=True)
    rep.add_argument("--floor", required=True)
    rep.add_argument("--machine", required=True)
    rep.add_argument("--update-doc")
    a = p.parse_args()
    {"run": cmd_run, "floor": cmd_floor, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
