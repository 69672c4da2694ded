#!/usr/bin/env python3
"""Load generator for `planspec server` and the raw SQLite floor (stdlib only).

    load.py api   --addr HOST:PORT --out results.json [--creates N] [--total N] ...
    load.py floor --dir DIR --out floor.json [--creates N] [--total N]
    load.py report --api a.json --floor f.json [--machine m.txt] [--update-doc docs/benchmarks.md]

HTTP/1.1 with keep-alive (http.client, one connection per client thread). Watchers are raw
sockets multiplexed by one selector thread, so 100 watchers do not mean 100 Python threads
fighting over the GIL; a receive time is taken when the selector reports the bytes.
"""

import argparse
import http.client
import json
import os
import selectors
import socket
import sqlite3
import statistics
import sys
import threading
import time

NS = "default"
BASE = f"/apis/planspec.io/v1alpha1/namespaces/{NS}/plans"


def plan(name, i, extra=None):
    labels = {"app": "bench", "shard": str(i % 10)}
    if i % 1000 == 7:
        labels["pick"] = "yes"  # 1 in 1,000: a selective selector
    if extra:
        labels.update(extra)
    return json.dumps({
        "apiVersion": "planspec.io/v1alpha1",
        "kind": "Plan",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "description": "Build and test",
            "graph": {"nodes": [
                {"id": "build", "kind": "Task"},
                {"id": "test", "kind": "Task", "dependsOn": ["build"]},
                {"id": "review", "kind": "Task", "dependsOn": ["test"]},
            ]},
        },
    }, separators=(",", ":"))


def pct(samples, p):
    s = sorted(samples)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def summary(ms):
    return {"n": len(ms), "p50_ms": pct(ms, 50), "p99_ms": pct(ms, 99),
            "mean_ms": statistics.fmean(ms) if ms else float("nan"), "max_ms": max(ms) if ms else float("nan")}


class Client:
    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=120)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def req(self, method, path, body=None, ctype="application/json"):
        headers = {"Content-Type": ctype} if body is not None else {}
        self.conn.request(method, path, body=body, headers=headers)
        r = self.conn.getresponse()
        data = r.read()
        return r.status, data


def creates(addr, names_from, count, clients, prefix):
    """`count` creates spread over `clients` keep-alive connections; returns (seconds, failures)."""
    failures = []
    bodies = [(f"{prefix}-{i}", plan(f"{prefix}-{i}", names_from + i)) for i in range(count)]
    conns = [Client(addr) for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)

    def run(t):
        c = conns[t]
        barrier.wait()
        for j in range(t, count, clients):
            name, body = bodies[j]
            status, data = c.req("POST", BASE, body.encode())
            if status != 201:
                failures.append((name, status, data[:200]))

    threads = [threading.Thread(target=run, args=(t,)) for t in range(clients)]
    for th in threads:
        th.start()
    barrier.wait()
    start = time.perf_counter()
    for th in threads:
        th.join()
    secs = time.perf_counter() - start
    if failures:
        raise SystemExit(f"{len(failures)} creates failed, first: {failures[0]}")
    return secs


def timed(c, path, reps):
    ms, size = [], 0
    for _ in range(reps):
        t = time.perf_counter()
        status, data = c.req("GET", path)
        ms.append((time.perf_counter() - t) * 1000)
        if status != 200:
            raise SystemExit(f"GET {path}: {status} {data[:300]}")
        size = len(data)
    return ms, size, data


def watch_fanout(addr, watchers, rounds, gap):
    host, port = addr.rsplit(":", 1)
    c = Client(addr)
    status, data = c.req("GET", BASE + "?limit=1")
    rv = json.loads(data)["metadata"]["resourceVersion"]
    sel = selectors.DefaultSelector()
    socks = []
    path = f"{BASE}?watch=true&resourceVersion={rv}&labelSelector=fanout%3Dyes"
    for k in range(watchers):
        s = socket.create_connection((host, int(port)))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n\r\n".encode())
        socks.append(s)
    bufs = {s.fileno(): b"" for s in socks}
    # Every watcher must have its response headers before the first write.
    deadline = time.time() + 30
    pending = set(bufs)
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    while pending:
        if time.time() > deadline:
            raise SystemExit(f"{len(pending)} watchers got no response headers")
        for key, _ in sel.select(timeout=1):
            fd = key.fileobj.fileno()
            chunk = key.fileobj.recv(65536)
            bufs[fd] += chunk
            if b"\r\n\r\n" in bufs[fd]:
                head = bufs[fd].split(b"\r\n", 1)[0]
                if b" 200 " not in head:
                    raise SystemExit(f"watch refused: {bufs[fd][:300]!r}")
                bufs[fd] = bufs[fd].split(b"\r\n\r\n", 1)[1]
                pending.discard(fd)
    recv = {}  # (round, fd) -> perf_counter
    state = {"round": None, "stop": False}
    lock = threading.Lock()

    def reader():
        while not state["stop"]:
            for key, _ in sel.select(timeout=0.05):
                t = time.perf_counter()
                fd = key.fileobj.fileno()
                chunk = key.fileobj.recv(1 << 20)
                if not chunk:
                    continue
                bufs[fd] += chunk
                with lock:
                    for r in range(rounds):
                        tag = f'"fanout-{r}"'.encode()
                        if (r, fd) not in recv and tag in bufs[fd]:
                            recv[(r, fd)] = t
                # Keep only the tail that could hold a split tag.
                if len(bufs[fd]) > 4096:
                    bufs[fd] = bufs[fd][-256:]

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    acks, sends, lat, lat_send = [], [], [], []
    for r in range(rounds):
        time.sleep(gap)
        name = f"fanout-{r}"
        sends.append(time.perf_counter())
        status, data = c.req("POST", BASE, plan(name, 0, {"fanout": "yes"}).encode())
        acked = time.perf_counter()
        if status != 201:
            raise SystemExit(f"fan-out write: {status} {data[:300]}")
        acks.append(acked)
        end = time.time() + 10
        while time.time() < end:
            with lock:
                got = sum(1 for fd in bufs if (r, fd) in recv)
            if got == watchers:
                break
            time.sleep(0.001)
    time.sleep(0.2)
    state["stop"] = True
    th.join()
    missing = 0
    for r, acked in enumerate(acks):
        for fd in bufs:
            t = recv.get((r, fd))
            if t is None:
                missing += 1
            else:
                lat.append((t - acked) * 1000)
                lat_send.append((t - sends[r]) * 1000)
    for s in socks:
        s.close()
    out = summary(lat)
    out["from_send"] = summary(lat_send)
    out.update({"watchers": watchers, "rounds": rounds, "missing": missing,
                "before_ack": sum(1 for x in lat if x < 0)})
    return out


def cmd_api(a):
    res = {"creates": a.creates, "total": a.total}
    # (a) creates/s: one keep-alive client, then 16.
    secs = creates(a.addr, 0, a.creates, 1, "seq")
    res["create_1"] = {"n": a.creates, "secs": secs, "per_s": a.creates / secs}
    print(f"create, 1 client:   {a.creates / secs:8.0f}/s", file=sys.stderr)
    secs = creates(a.addr, a.creates, a.creates, 16, "par")
    res["create_16"] = {"n": a.creates, "secs": secs, "per_s": a.creates / secs}
    print(f"create, 16 clients: {a.creates / secs:8.0f}/s", file=sys.stderr)
    # Fill to `total` objects through the API (16 clients).
    fill = a.total - 2 * a.creates
    if fill > 0:
        secs = creates(a.addr, 2 * a.creates, fill, 16, "fill")
        res["fill"] = {"n": fill, "secs": secs, "per_s": fill / secs}
        print(f"fill {fill}:          {fill / secs:8.0f}/s", file=sys.stderr)
    c = Client(a.addr)
    # (b) GET latency, sequential on one connection, spread over the keyspace.
    ms = []
    for i in range(a.gets):
        name = f"par-{(i * 7919) % a.creates}"
        t = time.perf_counter()
        status, data = c.req("GET", f"{BASE}/{name}")
        ms.append((time.perf_counter() - t) * 1000)
        assert status == 200, (status, data[:200])
    res["get"] = summary(ms)
    # (c) list with a label selector over `total` objects.
    lists = {}
    for label, q in [("shard=3 (1 in 10)", "labelSelector=shard%3D3"),
                     ("shard=3, limit=100", "labelSelector=shard%3D3&limit=100"),
                     ("pick=yes (1 in 1,000)", "labelSelector=pick%3Dyes"),
                     ("shard in (3,4),app=bench", "labelSelector=shard%20in%20(3%2C4)%2Capp%3Dbench")]:
        timed(c, f"{BASE}?{q}", 1)  # warm
        ms, size, data = timed(c, f"{BASE}?{q}", a.list_reps)
        items = len(json.loads(data)["items"])
        lists[label] = dict(summary(ms), items=items, bytes=size)
        print(f"list {label}: p50 {pct(ms, 50):.1f} ms ({items} items)", file=sys.stderr)
    res["list"] = lists
    status, data = c.req("GET", f"{BASE}?limit=1")
    res["objects_in_store_rv"] = json.loads(data)["metadata"]["resourceVersion"]
    # (d) watch fan-out.
    res["watch"] = watch_fanout(a.addr, a.watchers, a.rounds, a.gap)
    print(f"watch: {res['watch']}", file=sys.stderr)
    json.dump(res, open(a.out, "w"), indent=1)


def raw_open(path):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (kind TEXT, namespace TEXT, name TEXT, object TEXT, PRIMARY KEY (kind, namespace, name))")
    return db


def cmd_floor(a):
    res = {}
    # One durable transaction per row, same JSON bytes the API clients send.
    db = raw_open(os.path.join(a.dir, "raw-row.db"))
    rows = [(f"seq-{i}", plan(f"seq-{i}", i)) for i in range(a.creates)]
    t = time.perf_counter()
    for name, obj in rows:
        db.execute("BEGIN")
        db.execute("INSERT INTO t VALUES ('Plan', ?, ?, ?)", (NS, name, obj))
        db.execute("COMMIT")
    secs = time.perf_counter() - t
    res["row_txn"] = {"n": a.creates, "secs": secs, "per_s": a.creates / secs}
    db.close()
    # Batched: `total` rows, 1,000 per transaction.
    db = raw_open(os.path.join(a.dir, "raw-batch.db"))
    rows = [(f"obj-{i}", plan(f"obj-{i}", i)) for i in range(a.total)]
    t = time.perf_counter()
    for b in range(0, a.total, 1000):
        db.execute("BEGIN")
        db.executemany("INSERT INTO t VALUES ('Plan', 'default', ?, ?)", rows[b:b + 1000])
        db.execute("COMMIT")
    secs = time.perf_counter() - t
    res["batch_txn"] = {"n": a.total, "secs": secs, "per_s": a.total / secs}
    # Floors for reads on the batched table: PK lookup; label filter by json_extract (full scan).
    ms = []
    for i in range(a.gets):
        name = f"obj-{(i * 7919) % a.total}"
        t = time.perf_counter()
        db.execute("SELECT object FROM t WHERE kind='Plan' AND namespace='default' AND name=?", (name,)).fetchone()
        ms.append((time.perf_counter() - t) * 1000)
    res["get"] = summary(ms)
    ms = []
    for _ in range(a.list_reps):
        t = time.perf_counter()
        got = db.execute("SELECT object FROM t WHERE kind='Plan' AND namespace='default' "
                         "AND json_extract(object, '$.metadata.labels.shard')='3'").fetchall()
        ms.append((time.perf_counter() - t) * 1000)
    res["list_shard3"] = dict(summary(ms), items=len(got))
    db.close()
    json.dump(res, open(a.out, "w"), indent=1)
    print(f"floor: {json.dumps(res)}", file=sys.stderr)


def cmd_report(a):
    api = json.load(open(a.api))
    fl = [json.load(open(p)) for p in a.floor]
    row_floor = statistics.fmean(f["row_txn"]["per_s"] for f in fl)
    batch_floor = statistics.fmean(f["batch_txn"]["per_s"] for f in fl)
    L = []
    if a.machine:
        L.append(open(a.machine).read().strip())
        L.append("")
    L.append(f"Store: {api['total']:,} Plans in one namespace, all created through the API "
             f"({api['creates']:,} by one client, {api['creates']:,} by 16, the rest by 16).")
    L.append("")
    L.append("#### Writes")
    L.append("")
    L.append("| What | Rows | Time (s) | Rows/s | Ratio to the per-row floor |")
    L.append("|---|---:|---:|---:|---:|")
    for label, r in [("API create, 1 keep-alive client (sequential POSTs)", api["create_1"]),
                     ("API create, 16 concurrent keep-alive clients", api["create_16"])] + (
                        [("API create, 16 clients, filling to the list size", api["fill"])] if "fill" in api else []):
        L.append(f"| {label} | {r['n']:,} | {r['secs']:.2f} | **{r['per_s']:,.0f}** | {r['per_s'] / row_floor:.2f} |")
    wrk = json.load(open(a.wrk)) if a.wrk else None
    if wrk:
        L.append(f"| API create, 1 keep-alive connection from wrk (C client; {wrk['errors']} errors) | {wrk['n']:,} | {wrk['secs']:.2f} | **{wrk['per_s']:,.0f}** | {wrk['per_s'] / row_floor:.2f} |")
    for k, f in enumerate(fl):
        when = "before" if k == 0 else "after"
        r = f["row_txn"]
        L.append(f"| raw floor ({when}): python sqlite3, WAL + `synchronous=FULL`, 1 row per txn | {r['n']:,} | {r['secs']:.2f} | {r['per_s']:,.0f} | 1 |")
    for k, f in enumerate(fl):
        when = "before" if k == 0 else "after"
        r = f["batch_txn"]
        L.append(f"| raw floor ({when}): same, 1,000 rows per txn | {r['n']:,} | {r['secs']:.2f} | {r['per_s']:,.0f} | {r['per_s'] / row_floor:.1f} |")
    L.append("")
    L.append("#### Reads and watch (latency as the client sees it, ms)")
    L.append("")
    L.append("| What | Samples | Items | p50 | p99 | max | Raw floor p50 / p99 |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    g = api["get"]
    fg = fl[-1]["get"]
    L.append(f"| GET one Plan (1 keep-alive client) | {g['n']:,} | 1 | {g['p50_ms']:.2f} | {g['p99_ms']:.2f} | {g['max_ms']:.2f} | {fg['p50_ms']:.3f} / {fg['p99_ms']:.3f} (PK `SELECT`) |")
    fls = fl[-1]["list_shard3"]
    for label, r in api["list"].items():
        floor = (f"{fls['p50_ms']:.1f} / {fls['p99_ms']:.1f} (`json_extract` scan, {fls['items']:,} rows)"
                 if label.startswith("shard=3 (") else "")
        L.append(f"| LIST `{label}` over {api['total']:,} | {r['n']} | {r['items']:,} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} | {floor} |")
    w = api["watch"]
    L.append(f"| watch fan-out: write's 201 read → event at each of {w['watchers']} watchers | {w['n']:,} | {w['rounds']} writes | {w['p50_ms']:.2f} | {w['p99_ms']:.2f} | {w['max_ms']:.2f} | |")
    ws = w["from_send"]
    L.append(f"| watch fan-out: write's POST sent → event at each of {w['watchers']} watchers | {ws['n']:,} | {w['rounds']} writes | {ws['p50_ms']:.2f} | {ws['p99_ms']:.2f} | {ws['max_ms']:.2f} | |")
    L.append("")
    c1 = api["create_1"]["per_s"]
    L.append("#### Targets")
    L.append("")
    L.append(f"* ≥ 3,000 creates/s from one keep-alive client: **{c1:,.0f}/s from Python's http.client — {'met' if c1 >= 3000 else 'not met'}**"
             + (f"; **{wrk['per_s']:,.0f}/s from wrk — {'met' if wrk['per_s'] >= 3000 else 'not met'}**" if wrk else "")
             + f" (the durable per-row floor in the same run: {row_floor:,.0f}/s).")
    L.append(f"* watch p99 ≤ 50 ms: **{w['p99_ms']:.1f} ms from the ack, {ws['p99_ms']:.1f} ms from the POST being sent — "
             f"{'met' if max(w['p99_ms'], ws['p99_ms']) <= 50 else 'not met'}**"
             f" ({w['missing']} of {w['watchers'] * w['rounds']} deliveries missing; "
             f"{w['before_ack']} arrived before the writer had read its 201, counted as negative latency).")
    text = "\n".join(L) + "\n"
    print(text)
    if a.update_doc:
        doc = open(a.update_doc).read()
        start, end = "<!-- api-bench:start -->", "<!-- api-bench:end -->"
        i, j = doc.index(start), doc.index(end)
        doc = doc[:i + len(start)] + "\n\n" + text + "\n" + doc[j:]
        open(a.update_doc, "w").write(doc)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("api", "floor"):
        s = sub.add_parser(name)
        s.add_argument("--out", required=True)
        s.add_argument("--creates", type=int, default=10_000)
        s.add_argument("--total", type=int, default=100_000)
        s.add_argument("--gets", type=int, default=2_000)
        s.add_argument("--list-reps", type=int, default=20)
        if name == "api":
            s.add_argument("--addr", required=True)
            s.add_argument("--watchers", type=int, default=100)
            s.add_argument("--rounds", type=int, default=20)
            s.add_argument("--gap", type=float, default=0.1)
        else:
            s.add_argument("--dir", required=True)
    s = sub.add_parser("report")
    s.add_argument("--api", required=True)
    s.add_argument("--wrk", help="wrk's JSON line for creates from one C-client connection")
    s.add_argument("--floor", nargs="+", required=True)
    s.add_argument("--machine")
    s.add_argument("--update-doc")
    a = p.parse_args()
    {"api": cmd_api, "floor": cmd_floor, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
