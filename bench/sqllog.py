#!/usr/bin/env python3
"""Reads the statements one request of each document ran from PostgreSQL's log.

Usage: sqllog.py LOG OFFSET OUTDIR SIDE RESULTS

bench/run.sh turns on `log_statement = 'all'`, then for each document runs
`SELECT 'bench-capture DOC'` from psql followed by one request of DOC, and finally
`SELECT 'bench-capture end'`. This script reads LOG from byte OFFSET, splits it at those
markers and, per document:

- prints the statements (one line each, shortened) and appends `SIDE DOC - statements N` and
  `SIDE DOC - connections N` (backends that ran them) to RESULTS;
- writes OUTDIR/SIDE-DOC.sql, a pgbench script running the same statements in the same order
  with the logged bind parameters inlined as literals (`:` in a literal is written `\\072` in
  an E'' string, so pgbench does not take it for a variable).

Log entries are recognised by the default `log_line_prefix` ('%m [%p] ').
"""
import re
import sys

ENTRY = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ \[(\d+)\] ([A-Z]+):  (.*)$")
MARKER = re.compile(r"^SELECT 'bench-capture (\w+)'$")
EXECUTE = re.compile(r"^execute ([^:]+): (.*)$", re.S)
PARAM = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')")


def entries(text):
    """(pid, level, message) of every log entry; continuation lines belong to the entry above."""
    current = None
    for line in text.split("\n"):
        m = ENTRY.match(line)
        if m:
            if current:
                yield current
            current = [m.group(1), m.group(2), m.group(3)]
        elif current:
            current[2] += "\n" + line
    if current:
        yield current


def statements(text):
    """(pid, sql, {n: value or None}) of every statement logged, markers included."""
    found = []
    for pid, level, msg in entries(text):
        if level == "LOG" and msg.startswith("statement: "):
            found.append((pid, msg[len("statement: "):].strip(), {}))
        elif level == "LOG" and (m := EXECUTE.match(msg)):
            found.append((pid, m.group(2).strip(), {}))
        elif level == "DETAIL" and msg.startswith("parameters: ") and found and found[-1][0] == pid:
            for n, value in PARAM.findall(msg):
                found[-1][2][int(n)] = None if value == "NULL" else value[1:-1].replace("''", "'")
    return found


def literal(value):
    if value is None:
        return "NULL"
    quoted = value.replace("'", "''")
    if ":" in value or "\\" in value:
        return "E'" + quoted.replace("\\", "\\\\").replace(":", "\\072") + "'"
    return "'" + quoted + "'"


def inline(sql, params):
    for n in sorted(params, reverse=True):
        sql = re.sub(r"\$%d(?!\d)" % n, lambda _m, v=params[n]: literal(v), sql)
    return sql


def main():
    log, offset, outdir, side, results = sys.argv[1:6]
    with open(log, "rb") as f:
        f.seek(int(offset))
        text = f.read().decode("utf-8", "replace")
    by_doc, doc = {}, None
    for pid, sql, params in statements(text):
        m = MARKER.match(sql)
        if m:
            doc = None if m.group(1) == "end" else m.group(1)
            if doc:
                by_doc[doc] = []
        elif doc:
            by_doc[doc].append((pid, sql, params))
    with open(results, "a") as out:
        for doc, stmts in by_doc.items():
            pids = {pid for pid, _, _ in stmts}
            print(f"  {doc}: {len(stmts)} statements on {len(pids)} connection(s)")
            for _, sql, params in stmts:
                one_line = " ".join(sql.split())
                print(f"    {one_line[:110]}{' …' if len(one_line) > 110 else ''}"
                      f"{f'  [{len(params)} params]' if params else ''}")
            out.write(f"{side} {doc} - statements {len(stmts)}\n")
            out.write(f"{side} {doc} - connections {len(pids)}\n")
            with open(f"{outdir}/{side}-{doc}.sql", "w") as script:
                script.write(f"-- {doc} as {side} ran it for one request (captured from the log)\n")
                for _, sql, params in stmts:
                    script.write(inline(sql, params).rstrip().rstrip(";") + ";\n")


if __name__ == "__main__":
    main()
