"""The equivalent SQL of the benchmarked models, in DuckDB or SQLite, over the same CSV files
the platform imported. Used by `cargo bench -p supervise --bench compare`.

  sql.py ENGINE load DB DATA_DIR       build DB from DATA_DIR/*.csv (typed tables)
  sql.py ENGINE query DB MODEL PREFIX OUT
        run MODEL's query for regions starting with PREFIX, store its clues in a table of DB,
        write each clue's subject (one per line) to OUT and print
        {"seconds", "clues", "peak_mib"} as JSON. The time covers the query and storing its
        clues, nothing else; peak memory is this process's.
"""
import csv
import json
import os
import sqlite3
import sys
import time

# Columns loaded per dataset, with their SQL types.
TABLES = {
    "death_registrations": [("record_id", "TEXT"), ("id_number", "TEXT"), ("death_date", "DATE"), ("region_code", "TEXT")],
    "pension_payments": [("payment_id", "TEXT"), ("id_number", "TEXT"), ("pay_date", "DATE"), ("amount", "DECIMAL(18,2)"), ("region_code", "TEXT")],
}

# Identifiers are normalised at load (trimmed, upper-case check letter), as the platform does at
# import; SQLite gets the indexes a database engineer would add for these queries.
INDEXES = [
    "CREATE INDEX deaths_person ON death_registrations (id_number, death_date)",
    "CREATE INDEX payments_person ON pension_payments (id_number)",
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
  FROM death_registrations WHERE substr(region_code, 1, length(:prefix)) = :prefix GROUP BY 1)
SELECT d.person AS subject, COUNT(*) AS payments, SUM(p.amount) AS total
FROM pension_payments p JOIN d ON p.id_number = d.person
WHERE substr(p.region_code, 1, length(:prefix)) = :prefix
  AND julianday(p.pay_date) - julianday(d.death_date) > 31
GROUP BY d.person""",
}


def connect(engine, path):
    if engine == "duckdb":
        import duckdb
        return duckdb.connect(path)
    return sqlite3.connect(path)


def load(engine, path, data):
    if os.path.exists(path):
        os.remove(path)
    con = connect(engine, path)
    for table, columns in TABLES.items():
        file = os.path.join(data, f"{table}.csv")
        names = ", ".join(c for c, _ in columns)
        if engine == "duckdb":
            casts = ", ".join(f"upper(trim({c})) AS {c}" if c == "id_number" else c if t == "TEXT"
                              else f"CAST({c} AS {t}) AS {c}" for c, t in columns)
            con.execute(f"CREATE TABLE {table} AS SELECT {casts} FROM read_csv('{file}', header = true, all_varchar = true)")
        else:
            con.execute(f"CREATE TABLE {table} ({', '.join(f'{c} {t}' for c, t in columns)})")
            with open(file, newline="", encoding="utf-8") as f:
                rows = csv.DictReader(f)
                marks = ", ".join("?" for _ in columns)
                con.executemany(f"INSERT INTO {table} VALUES ({marks})",
                                ([(r[c].strip().upper() if c == "id_number" else r[c]) or None
                                  for c, _ in columns] for r in rows))
            con.commit()
    if engine == "sqlite":
        for index in INDEXES:
            con.execute(index)
        con.execute("ANALYZE")
        con.commit()
    con.close()


def query(engine, path, model, prefix, out):
    con = connect(engine, path)
    con.execute("DROP TABLE IF EXISTS clues")
    sql = {"pension-after-death": PENSION}[model][engine]
    start = time.perf_counter()
    con.execute(sql, {"prefix": prefix})
    if engine == "sqlite":
        con.commit()
    seconds = time.perf_counter() - start
    subjects = [r[0] for r in con.execute("SELECT subject FROM clues").fetchall()]
    con.execute("DROP TABLE clues")
    con.close()
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(subjects))
    print(json.dumps({"seconds": seconds, "clues": len(subjects), "peak_mib": peak_mib()}))


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
