"""psycopg 3 through pgbun in transaction pooling.

Every query is prepared on the server (prepare_threshold=0: named
statements that pgbun must carry across server connections), pipeline
mode sends many statements before one Sync, and each worker checks that
the application_name it connected with is the one its session sees.

Usage: psycopg_check.py CONNINFO TABLE WORKERS ITERATIONS
"""
import sys
import threading

import psycopg

conninfo, table, workers, iterations = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
errors = []


def worker(w):
    try:
        name = f"psycopg-{w}"
        with psycopg.connect(conninfo, application_name=name, prepare_threshold=0) as conn:
            for i in range(iterations):
                key = w * 100000 + i
                got = conn.execute("SELECT %s::int + %s::int", (key, 1)).fetchone()[0]
                assert got == key + 1, f"sum: {got} != {key + 1}"
                with conn.transaction():
                    conn.execute(f"INSERT INTO {table} (id, v) VALUES (%s, %s)", (key, name))
                    n = conn.execute(f"SELECT count(*) FROM {table} WHERE id = %s", (key,)).fetchone()[0]
                    assert n == 1, f"row {key}: count {n}"
                with conn.pipeline():
                    curs = [conn.execute("SELECT %s::text", (f"{name}-{j}",)) for j in range(5)]
                got = [c.fetchone()[0] for c in curs]
                assert got == [f"{name}-{j}" for j in range(5)], f"pipeline: {got}"
                app = conn.execute("SHOW application_name").fetchone()[0]
                assert app == name, f"application_name {app!r}, want {name!r}"
    except Exception as e:  # reported by the main thread
        errors.append(f"worker {w}: {type(e).__name__}: {e}")


threads = [threading.Thread(target=worker, args=(w,)) for w in range(workers)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
print(f"ok {workers * iterations} iterations")
