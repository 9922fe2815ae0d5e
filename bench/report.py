#!/usr/bin/env python3
"""Prints the tables of bench/run.sh from its results file, and the figures of issue 10 next
to their targets.

Usage: report.py RESULTS CLK_TCK

RESULTS has one figure per line: `SIDE DOC CLIENTS METRIC VALUE`, SIDE `cur` (the build of
the working tree) or `base` (BASELINE_BIN), CLIENTS `-` where it does not apply. CPU figures
are clock ticks (utime+stime, /proc) over the run, divided here by the run's requests.
"""
import sys
from collections import defaultdict

SIDES = {"cur": "current", "base": "baseline"}
DOCS = ["W0", "W1", "W2", "W3", "M1"]


def load(path):
    r = defaultdict(dict)
    with open(path) as f:
        for line in f:
            side, doc, clients, metric, value = line.split()
            r[(side, doc, clients)][metric] = float(value)
    return r


def fmt(v, digits=2):
    if v is None:
        return "-"
    return f"{v:.{digits}f}"


def main():
    r = load(sys.argv[1])
    tick_ms = 1000.0 / float(sys.argv[2])
    sides = [s for s in SIDES if any(k[0] == s for k in r)]

    def get(side, doc, clients, metric):
        return r.get((side, doc, str(clients)), {}).get(metric)

    def cpu(side, doc, clients, which):
        ticks, n = get(side, doc, clients, which), get(side, doc, clients, "requests")
        return ticks * tick_ms / n if ticks is not None and n else None

    print("\n== Runs (CPU per request: user+sys from /proc ÷ requests; PostgreSQL: postmaster with "
          "its reaped children + live backends)")
    print("| doc | clients | build | req/s | p50 ms | p99 ms | errors | stockroom CPU/req ms "
          "| PostgreSQL CPU/req ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    runs = sorted({(k[1], k[2]) for k in r if k[2] != "-" and "requests" in r[k]},
                  key=lambda dc: (DOCS.index(dc[0]), int(dc[1])))
    for doc, clients in runs:
        for side in sides:
            if get(side, doc, clients, "requests") is None:
                continue
            print(f"| {doc} | {clients} | {SIDES[side]} | {fmt(get(side, doc, clients, 'rate'), 1)} "
                  f"| {fmt(get(side, doc, clients, 'p50_ms'))} | {fmt(get(side, doc, clients, 'p99_ms'))} "
                  f"| {int(get(side, doc, clients, 'errors'))} "
                  f"| {fmt(cpu(side, doc, clients, 'svc_ticks'), 3)} "
                  f"| {fmt(cpu(side, doc, clients, 'pg_ticks'), 3)} |")

    def paired(side, doc):
        """One client's p50 and pgbench's latency of the same statements (medians of the
        paired rounds)."""
        return get(side, doc, "-", "pair_p50_ms"), get(side, doc, "-", "pgbench_ms")

    def ratio(side, doc):
        """The median of the paired rounds' p50 ÷ pgbench."""
        return get(side, doc, "-", "pair_ratio")

    print("\n== Statements and round trips per request (one request each; round trips = extra "
          "latency through a delaying proxy ÷ its round-trip delay)")
    print("| doc | build | statements | backends used | sequential round trips | one-client p50 ms "
          "| pgbench same statements, 1 client, ms | p50 ÷ pgbench (median of rounds) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for doc in DOCS:
        for side in sides:
            p50, pgb = paired(side, doc)
            st, co = get(side, doc, "-", "statements"), get(side, doc, "-", "connections")
            print(f"| {doc} | {SIDES[side]} | {fmt(st, 0)} | {fmt(co, 0)} "
                  f"| {fmt(get(side, doc, '-', 'roundtrips'), 1)} | {fmt(p50)} | {fmt(pgb, 3)} "
                  f"| {fmt(ratio(side, doc))} |")

    errors = {s: sum(v.get("errors", 0) for k, v in r.items() if k[0] == s) for s in sides}
    rows = []

    def row(figure, cur, base, target, ok):
        rows.append((figure, cur, base, target, "-" if ok is None else ("yes" if ok else "NO")))

    for doc, limit in (("W1", 2.4), ("W2", 1.3), ("W3", 1.4), ("M1", 0.9)):
        for clients in (8, 64):
            c, b = cpu("cur", doc, clients, "svc_ticks"), cpu("base", doc, clients, "svc_ticks")
            row(f"stockroom CPU/request {doc}, {clients} clients (ms)", fmt(c, 3), fmt(b, 3),
                f"≤ {limit}", None if c is None else c <= limit)
    c, b = cpu("cur", "W1", 8, "pg_ticks"), cpu("base", "W1", 8, "pg_ticks")
    row("PostgreSQL CPU/request W1, 8 clients (ms)", fmt(c, 3), fmt(b, 3),
        f"≤ ½ baseline{f' = {b / 2:.3f}' if b else ''}", None if c is None or b is None else c <= b / 2)
    for doc, limit, what in (("W3", 4, "token check included"), ("M1", 3, "token check + 2")):
        c, b = get("cur", doc, "-", "roundtrips"), get("base", doc, "-", "roundtrips")
        row(f"{doc} sequential round trips ({what})", fmt(c, 1), fmt(b, 1), f"≤ {limit}",
            None if c is None else round(c) <= limit)
    for doc in ("W1", "W2", "W3"):
        c = ratio("cur", doc)
        row(f"{doc} one-client p50 ÷ one-client pgbench of its statements", fmt(c),
            fmt(ratio("base", doc)), "≤ 2", None if c is None else c <= 2)
    for doc in ("W1", "W2", "W3"):
        above = {}
        for side in sides:
            (p50, pgb), (p50_0, pgb_0) = paired(side, doc), paired(side, "W0")
            known = None not in (p50, pgb, p50_0, pgb_0) and pgb > pgb_0
            above[side] = (p50 - p50_0) / (pgb - pgb_0) if known else None
        row(f"  {doc} above the floor: (p50 − W0's p50) ÷ (pgbench − W0's pgbench)",
            fmt(above.get("cur")), fmt(above.get("base")), "(not a target)", None)
    for clients in (16, 64):
        c, b = get("cur", "M1", clients, "rate"), get("base", "M1", clients, "rate")
        row(f"M1 movements/s, {clients} connections", fmt(c, 0), fmt(b, 0),
            f"≥ 2 × baseline{f' = {2 * b:.0f}' if b else ''}",
            None if c is None or b is None else c >= 2 * b)
    c, b = get("cur", "W1", 64, "rss_max_kb"), get("base", "W1", 64, "rss_max_kb")
    row("stockroom resident memory during W1, 64 clients (MB, max VmRSS)",
        fmt(c / 1024 if c else None, 0), fmt(b / 1024 if b else None, 0), "≤ 200",
        None if c is None else c / 1024 <= 200)
    c, b = get("cur", "W1", 64, "hwm_kb"), get("base", "W1", 64, "hwm_kb")
    row("  (VmHWM after that run, MB)", fmt(c / 1024 if c else None, 0),
        fmt(b / 1024 if b else None, 0), "", None)
    row("errors in all runs", fmt(errors.get("cur"), 0), fmt(errors.get("base"), 0), "0",
        None if "cur" not in errors else errors["cur"] == 0)
    c, b = get("cur", "-", "-", "reconcile_off"), get("base", "-", "-", "reconcile_off")
    row("stock rows not equal to their ledger sum (after the run)", fmt(c, 0), fmt(b, 0), "0",
        None if c is None else c == 0)

    print("\n== Issue 10 targets")
    print("| figure | current | baseline | target | met? |")
    print("| --- | --- | --- | --- | --- |")
    for figure, cur, base, target, ok in rows:
        print(f"| {figure} | {cur} | {base} | {target} | {ok} |")
    pgb = [(s, c) for s in sides for c in (16, 64) if get(s, "PGB", c, "tps") is not None]
    if pgb:
        print("\n== pgbench on bench/outbound.sql (a58212d's movement statement, same 2000 pairs)")
        for side, clients in pgb:
            print(f"  {SIDES[side]} cluster, {clients} clients: {fmt(get(side, 'PGB', clients, 'tps'), 0)} tps, "
                  f"latency average {fmt(get(side, 'PGB', clients, 'lat_ms'))} ms")


if __name__ == "__main__":
    main()
