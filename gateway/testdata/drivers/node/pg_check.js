// node-postgres (pg) through pgbun in transaction pooling: named prepared
// statements ({name, text, values}) on several clients that share two
// server connections, transactions, and a per-client application_name.
//
// Usage: node pg_check.js HOST PORT USER PASSWORD DATABASE CAFILE TABLE WORKERS ITERATIONS
'use strict';
const fs = require('fs');
const { Client } = require('pg');
const runWorkers = require('./run_workers');

const [host, port, user, password, database, cafile, table, workers, iterations] = process.argv.slice(2);

async function worker(w) {
  const name = `pg-${w}`;
  const c = new Client({
    host, port: Number(port), user, password, database, application_name: name,
    ssl: { ca: fs.readFileSync(cafile), servername: host },
  });
  await c.connect();
  try {
    for (let i = 0; i < Number(iterations); i++) {
      const key = w * 100000 + i;
      const sum = await c.query({ name: 'add', text: 'SELECT $1::int + $2::int AS s', values: [key, 1] });
      if (sum.rows[0].s !== key + 1) throw new Error(`sum: ${sum.rows[0].s} != ${key + 1}`);
      await c.query('BEGIN');
      await c.query({ name: 'ins', text: `INSERT INTO ${table} (id, v) VALUES ($1, $2)`, values: [key, name] });
      const n = await c.query({ name: 'count', text: `SELECT count(*)::int AS n FROM ${table} WHERE id = $1`, values: [key] });
      if (n.rows[0].n !== 1) throw new Error(`row ${key}: count ${n.rows[0].n}`);
      await c.query('COMMIT');
      const app = await c.query('SHOW application_name');
      if (app.rows[0].application_name !== name) throw new Error(`application_name ${app.rows[0].application_name}, want ${name}`);
    }
  } finally {
    await c.end();
  }
}

runWorkers(workers, iterations, worker);
