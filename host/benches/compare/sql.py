"""The equivalent SQL of the benchmarked models, in DuckDB or SQLite, over the same CSV files
the platform imported. Used by `cargo bench -p supervise --bench compare`.

  sql.py ENGINE load DB DATA_DIR       build DB from DATA_DIR/*.csv (typed tables)
  sql.py ENGINE query DB MODEL PREFIX AS_OF OUT
        run MODEL's query for regions starting with PREFIX as of AS_OF (YYYY-MM-DD), store its
        clues in a table of DB,
        write each clue's subject (one per line) to OUT and print
        {"seconds", "cpu_seconds", "clues", "peak_mib"} as JSON. The time covers the query and
        storing its clues, nothing else; the CPU time is this process's (every thread's) over
        the same span; peak memory is this process's.

SQLite runs with the platform store's journal settings (write-ahead log, synchronous NORMAL).
"""
import csv
import json
import os
import sqlite3
import sys
import time
from datetime import date, timedelta

# Columns loaded per dataset, with their SQL types.
TABLES = {
    "death_registrations": [("record_id", "TEXT"), ("id_number", "TEXT"), ("death_date", "DATE"), ("region_code", "TEXT")],
    "pension_payments": [("payment_id", "TEXT"), ("id_number", "TEXT"), ("pay_date", "DATE"), ("amount", "DECIMAL(18,2)"), ("region_code", "TEXT")],
    "company_registry": [("credit_code", "TEXT"), ("legal_rep_id", "TEXT"), ("address", "TEXT"), ("registered_date", "DATE"), ("status", "TEXT"), ("region_code", "TEXT")],
    "tax_filings": [("filing_id", "TEXT"), ("credit_code", "TEXT"), ("period_start", "DATE"), ("tax_amount", "DECIMAL(18,2)"), ("region_code", "TEXT")],
    "social_insurance": [("record_id", "TEXT"), ("credit_code", "TEXT"), ("month", "DATE"), ("insured_count", "BIGINT"), ("region_code", "TEXT")],
}
# Personal identifiers, normalised at load (trimmed, upper-case check letter) as the platform
# does before pseudonymising.
IDENTIFIERS = {"id_number", "legal_rep_id"}

# Identifiers are normalised at load (trimmed, upper-case check letter), as the platform does at
# import; SQLite gets the indexes a database engineer would add for these queries: by person
# and company for the joins, and by region for the scope (the platform stores each county's
# rows apart, so a county run reads only its own), which SQLite's queries below select as a
# range of codes (`:lo` to `:hi`, the prefix and the prefix with its last digit raised) so
# that the index serves them.
INDEXES = [
    "CREATE INDEX deaths_region ON death_registrations (region_code)",
    "CREATE INDEX registry_region ON company_registry (region_code)",
    "CREATE INDEX deaths_person ON death_registrations (id_number, death_date)",
    "CREATE INDEX payments_person ON pension_payments (id_number)",
    "CREATE INDEX tax_company ON tax_filings (credit_code)",
    "CREATE INDEX insurance_company ON social_insurance (credit_code)",
    "CREATE INDEX registry_rep ON company_registry (legal_rep_id)",
]

# pension-after-death: each person whose pension
# was paid more than 31 days after their earliest recorded death, both in the region.
PENSION = {
    "duckdb": """
CREATE TABLE clues AS
WITH d AS (
  SELECT id_number AS person, MIN(death_date) AS death_date
  FROM death_registrations WHERE starts_with(region_code, $prefix) GROUP BY 1)
SELECT d.person AS subject, COUNT(*) AS payments, SUM(p.amount) AS total
FROM pension_payments p JOIN d ON p.id_number = d.person
WHERE starts_with(p.region_code, $prefix) AND p.pay_date - d.death_date > 31
GROUP BY d.person""",
    "sqlite": """
CREATE TABLE clues AS
WITH d AS (
  SELECT id_number AS person, MIN(death_date) AS death_date
  FROM death_registrations WHERE region_code >= :lo AND region_code < :hi GROUP BY 1)
SELECT d.person AS subject, COUNT(*) AS payments, SUM(p.amount) AS total
FROM pension_payments p JOIN d ON p.id_number = d.person
WHERE p.region_code >= :lo AND p.region_code < :hi
  AND julianday(p.pay_date) - julianday(d.death_date) > 31
GROUP BY d.person""",
}

# shell-company: dormant companies (registered before the window, active, no tax and no
# insured staff in the window) joined into clusters by a shared address (compared without
# whitespace and case) or legal representative; one clue per cluster of at least 3, keyed by
# its smallest credit code. The clusters are connected components: a recursive query
# propagates, from every dormant company, the companies it reaches.
SHELL_DORMANT = {
    "duckdb": "lower(regexp_replace(address, '\\s', '', 'g'))",
    "sqlite": "lower(replace(replace(replace(address, ' ', ''), char(9), ''), char(12288), ''))",
}
SHELL = """
CREATE TABLE clues AS
WITH RECURSIVE dormant AS (
  SELECT credit_code AS code, legal_rep_id AS rep, {address} AS addr
  FROM company_registry r
  WHERE {in_region} AND status = 'active' AND registered_date <= :start
    AND NOT EXISTS (SELECT 1 FROM tax_filings t WHERE t.credit_code = r.credit_code
      AND {t_in_region} AND t.period_start BETWEEN :start AND :as_of AND t.tax_amount > 0)
    AND NOT EXISTS (SELECT 1 FROM social_insurance s WHERE s.credit_code = r.credit_code
      AND {s_in_region} AND s.month BETWEEN :start AND :as_of AND s.insured_count > 0)),
edges AS (
  SELECT a.code AS x, b.code AS y FROM dormant a JOIN dormant b
    ON a.addr = b.addr AND a.addr <> '' AND a.code <> b.code
  UNION
  SELECT a.code, b.code FROM dormant a JOIN dormant b ON a.rep = b.rep AND a.code <> b.code),
reach (node, root) AS (
  SELECT code, code FROM dormant
  UNION
  SELECT e.y, r.root FROM reach r JOIN edges e ON e.x = r.node),
component AS (SELECT node, MIN(root) AS root FROM reach GROUP BY node)
SELECT root AS subject, COUNT(*) AS members FROM component GROUP BY root HAVING COUNT(*) >= 3"""


def shell(engine):
    def in_region(alias):
        col = f"{alias}region_code"
        if engine == "duckdb":
            return f"starts_with({col}, :prefix)"
        return f"{col} >= :lo AND {col} < :hi"
    sql = SHELL.format(address=SHELL_DORMANT[engine], in_region=in_region(""),
                       t_in_region=in_region("t."), s_in_region=in_region("s."))
    return sql.replace(":", "$") if engine == "duckdb" else sql


def connect(engine, path):
    if engine == "duckdb":
        import duckdb
        return duckdb.connect(path)
    con = sqlite3.connect(path)
    # The durability the platform's own SQLite store runs with (store/mod.rs): a write-ahead
    # log, synced at checkpoints rather than at each commit. Python's default (a rollback
    # journal made, synced and deleted by every transaction) cost SQLite about 0.8 ms of a
    # 1 M county's 5 ms (session 33), a handicap the platform does not carry.
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = NORMAL")
    return con


def load(engine, path, data):
    if os.path.exists(path):
        os.remove(path)
    con = connect(engine, path)
    for table, columns in TABLES.items():
        file = os.path.join(data, f"{table}.csv")
        names = ", ".join(c for c, _ in columns)
        if engine == "duckdb":
            casts = ", ".join(f"upper(trim({c})) AS {c}" if c in IDENTIFIERS else c if t == "TEXT"
                              else f"CAST({c} AS {t}) AS {c}" for c, t in columns)
            con.execute(f"CREATE TABLE {table} AS SELECT {casts} FROM read_csv('{file}', header = true, all_varchar = true)")
        else:
            con.execute(f"CREATE TABLE {table} ({', '.join(f'{c} {t}' for c, t in columns)})")
            with open(file, newline="", encoding="utf-8") as f:
                rows = csv.DictReader(f)
                marks = ", ".join("?" for _ in columns)
                con.executemany(f"INSERT INTO {table} VALUES ({marks})",
                                ([(r[c].strip().upper() if c in IDENTIFIERS else r[c]) or None
                                  for c, _ in columns] for r in rows))
            con.commit()
    if engine == "sqlite":
        for index in INDEXES:
            con.execute(index)
        con.execute("ANALYZE")
        con.commit()
    con.close()


def query(engine, path, model, prefix, as_of, out):
    con = connect(engine, path)
    con.execute("DROP TABLE IF EXISTS clues")
    # The codes under a region's prefix, as a range for SQLite's index.
    scope = {"prefix": prefix} if engine == "duckdb" else {"lo": prefix, "hi": prefix[:-1] + chr(ord(prefix[-1]) + 1)}
    if model == "pension-after-death":
        sql, params = PENSION[engine], scope
    else:
        window = date.fromisoformat(as_of) - timedelta(days=365)
        sql = shell(engine)
        params = {**scope, "as_of": as_of, "start": window.isoformat()}
        if engine == "duckdb":
            params = {k: (date.fromisoformat(v) if k not in scope else v) for k, v in params.items()}
    cpu, start = time.process_time(), time.perf_counter()
    con.execute(sql, params)
    if engine == "sqlite":
        con.commit()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    subjects = [r[0] for r in con.execute("SELECT subject FROM clues").fetchall()]
    con.execute("DROP TABLE clues")
    con.close()
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(subjects))
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "clues": len(subjects), "peak_mib": peak_mib()}))


def peak_mib():
    # VmHWM, not ru_maxrss: a child keeps its parent's ru_maxrss across fork and exec.
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    engine, action, *rest = sys.argv[1:]
    if action == "load":
        load(engine, *rest)
    else:
        query(engine, *rest)
