"""asyncpg through pgbun in transaction pooling.

asyncpg prepares every statement under a name of its own and caches it
on the connection, so each client's statements must follow it to
whichever server it lands on. Also: an explicitly prepared statement
reused across transactions, executemany, and a per-worker
application_name that must not leak to other clients.

Usage: asyncpg_check.py DSN CAFILE TABLE WORKERS ITERATIONS
"""
import asyncio
import ssl
import sys

import asyncpg

dsn, cafile, table, workers, iterations = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])


async def worker(w, ctx):
    name = f"asyncpg-{w}"
    conn = await asyncpg.connect(dsn, ssl=ctx, server_settings={"application_name": name})
    try:
        add = await conn.prepare("SELECT $1::int + $2::int")
        for i in range(iterations):
            key = w * 100000 + i
            got = await add.fetchval(key, 1)
            assert got == key + 1, f"sum: {got} != {key + 1}"
            async with conn.transaction():
                await conn.execute(f"INSERT INTO {table} (id, v) VALUES ($1, $2)", key, name)
                n = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE id = $1", key)
                assert n == 1, f"row {key}: count {n}"
            await conn.executemany(f"INSERT INTO {table} (id, v) VALUES ($1, $2)",
                                   [(key + 50000 + j * 10000000, name) for j in range(3)])
            app = await conn.fetchval("SHOW application_name")
            assert app == name, f"application_name {app!r}, want {name!r}"
    finally:
        await conn.close()


async def main():
    ctx = ssl.create_default_context(cafile=cafile)
    results = await asyncio.gather(*(worker(w, ctx) for w in range(workers)), return_exceptions=True)
    errors = [f"worker {w}: {type(r).__name__}: {r}" for w, r in enumerate(results) if isinstance(r, BaseException)]
    if errors:
        print("\n".join(errors), file=sys.stderr)
        sys.exit(1)
    print(f"ok {workers * iterations} iterations")


asyncio.run(main())
