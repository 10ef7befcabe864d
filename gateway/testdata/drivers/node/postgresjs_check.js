// postgres.js through pgbun in transaction pooling. It prepares every
// query under a generated name by default (prepare: true) and pipelines
// queries on a connection; sql.begin runs a transaction.
//
// Usage: node postgresjs_check.js HOST PORT USER PASSWORD DATABASE CAFILE TABLE WORKERS ITERATIONS
'use strict';
const fs = require('fs');
const postgres = require('postgres');
const runWorkers = require('./run_workers');

const [host, port, user, password, database, cafile, table, workers, iterations] = process.argv.slice(2);

async function worker(w) {
  const name = `postgresjs-${w}`;
  const sql = postgres({
    host, port: Number(port), user, password, database, max: 1, prepare: true,
    connection: { application_name: name },
    ssl: { ca: fs.readFileSync(cafile), servername: host },
  });
  try {
    for (let i = 0; i < Number(iterations); i++) {
      const key = w * 100000 + i;
      const [{ s }] = await sql`SELECT ${key}::int + ${1}::int AS s`;
      if (s !== key + 1) throw new Error(`sum: ${s} != ${key + 1}`);
      await sql.begin(async (tx) => {
        await tx`INSERT INTO ${tx(table)} (id, v) VALUES (${key}, ${name})`;
        const [{ n }] = await tx`SELECT count(*)::int AS n FROM ${tx(table)} WHERE id = ${key}`;
        if (n !== 1) throw new Error(`row ${key}: count ${n}`);
      });
      // Several queries in flight on one connection: pipelined.
      const got = await Promise.all([0, 1, 2, 3, 4].map((j) => sql`SELECT ${name + '-' + j}::text AS t`));
      got.forEach(([{ t }], j) => {
        if (t !== `${name}-${j}`) throw new Error(`pipelined: got ${t}`);
      });
      const [{ application_name: app }] = await sql`SHOW application_name`;
      if (app !== name) throw new Error(`application_name ${app}, want ${name}`);
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

runWorkers(workers, iterations, worker);
