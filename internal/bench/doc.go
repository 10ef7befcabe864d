// Command bench measures pgbun against PgBouncer on the same machine, in
// one run, and is the only place pgbun's speed is measured: tests never
// time anything.
//
// It starts a throwaway PostgreSQL cluster (max_connections=250,
// shared_buffers=128MB), a role "bench" with a SCRAM password and a pgbench
// database at -scale, then PgBouncer (Debian's /usr/sbin/pgbouncer) and
// pgbun, both from one generated configuration: a shared common.ini that
// ends inside its [pgbouncer] section and a three-line wrapper per program
// that includes it and adds the listening port, pidfile and logfile. Both
// poolers run as the postgres OS user, authenticate clients with
// SCRAM-SHA-256 against the same userlist (which holds the plaintext
// password, so both log in to PostgreSQL with it), offer TLS to clients
// with the same certificate, and reach PostgreSQL over plain TCP on
// loopback.
//
// For every pool mode (-modes), client count (-clients) and TLS setting
// (-tls), it runs -rounds rounds of `pgbench -n -S -M simple -P 1`
// against each target: "direct" (PostgreSQL itself, only up to 200
// clients), "pgbouncer" and "pgbun". The order of the targets rotates
// every round and the runs are separated by a second of rest, so a drift
// of the machine (thermal, page cache, a noisy neighbour) spreads over all
// targets instead of favouring one. Clients connect with sslmode=require on
// TLS runs (the pooler's TLS is measured, not certificate verification)
// and sslmode=disable otherwise.
//
// What is measured is the steady state. Connecting a thousand clients
// with TLS and SCRAM takes pgbench several seconds (its own side of SCRAM
// is most of that), and rates keep climbing for a few seconds after, so
// each run is longer than -duration: an allowance for connecting (1 s
// plus 10 ms per TLS client or 6 ms per plain one), a 3 s warm-up, then
// -duration. The figures are those of the last -duration seconds, taken
// from pgbench's per-second progress reports, and a run whose clients took
// so long to connect that less than half of -duration is left after the
// warm-up is an error rather than a short measurement.
//
// Reading the output: tps is the mean rate over that window, as median,
// minimum and maximum over the rounds; latency is pgbench's mean over the
// window. "cpu µs/txn" is the pooler process's user+system CPU time in the
// window (from /proc/<pid>/stat, sampled every 200 ms and read at the
// window's ends) per transaction: what a pooler costs the machine per
// query, logins left out. "machine µs/txn" is the busy time of all CPUs
// together (from /proc/stat) per transaction: PostgreSQL, pgbench, the
// pooler and the kernel's work for all of them. PgBouncer is
// single-threaded; pgbun may use every core, which on a machine shared
// with PostgreSQL and pgbench is a cost as much as a gain, so read tps and
// CPU together.
//
// The summary ratios pair the runs of the same round, which ran seconds
// apart: "pgbun/pgbouncer = 1.07x (median of 3 rounds)" is the median of
// the per-round quotients of pgbun's tps by PgBouncer's, so above 1 pgbun
// served more transactions per second. "pgbun/direct" compares with
// PostgreSQL without a pooler, where a value near 1 means the pooler costs
// little. "a pooler using no CPU: at most 1.30x" bounds what any pooler
// could reach on this machine: the number of CPUs divided by what the
// rest of the machine spent per transaction in PgBouncer's runs (machine
// minus pooler), over PgBouncer's rate. When the machine is saturated,
// no pooler can beat PgBouncer by more than that, however little it
// costs. Absolute numbers drift between runs and machines; compare within
// one run. The table also goes to .bench/results-<timestamp>.json with
// every run's figures.
//
// Memory: after the pgbench runs, for -rounds rounds, each pooler is
// started afresh in transaction pooling and -idle clients (5000 by
// default) log in over TLS with SCRAM, run SELECT 1 and stay connected,
// idle. The pooler's resident memory (VmRSS from /proc/<pid>/status) is
// read before the logins and idleSettle after the last one; "KiB/client"
// is the difference divided by the clients. It is what the kernel charges
// the pooler: for pgbun that includes the Go heap's headroom over its
// live data (about as much again with the default GOGC=100) and one
// goroutine stack per client. -idle 0 skips it; -idle-only runs it alone.
//
// Usage (from the repository root, after `make build`):
//
//	go run ./internal/bench [-duration 10s] [-rounds 3] [-clients 50,1000]
//	    [-modes session,transaction] [-scale 10] [-tls both|on|off]
//	    [-pool 20] [-idle 5000] [-idle-only] [-only pgbun,pgbouncer,direct] [-keep]
//
// A target that cannot start or that refuses a mode (pgbun before it
// supports transaction pooling, say) shows as an error in its rows, the
// other targets still run, and the exit status is 1.
//
// The benchmark runs on Linux only: it reads /proc and has the kernel
// stop the processes it starts when it dies. Elsewhere it says so and
// exits with status 2.
package main
