// Runs worker(0..workers-1) at once and reports like the other driver
// checks: "ok N iterations", or every failed worker's error and exit 1.
'use strict';

module.exports = function runWorkers(workers, iterations, worker) {
  Promise.allSettled([...Array(Number(workers)).keys()].map(worker)).then((results) => {
    const errors = results.map((r, w) => (r.status === 'rejected' ? `worker ${w}: ${r.reason && r.reason.stack || r.reason}` : null)).filter(Boolean);
    if (errors.length) {
      console.error(errors.join('\n'));
      process.exit(1);
    }
    console.log(`ok ${Number(workers) * Number(iterations)} iterations`);
  });
};
