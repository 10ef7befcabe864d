// Package metrics serves pgbun's Prometheus endpoint and its health checks.
//
// NewHandler routes three paths:
//
//   - /metrics: Prometheus exposition of pgbun's pools, per-database traffic
//     counters, authentication, TLS and certificate state, plus the Go
//     runtime and process collectors. It uses a registry of its own, never
//     the global one.
//   - /healthz: 200 "ok" for as long as the process serves HTTP.
//   - /readyz: 200 when Source.Ready reports true, 503 otherwise.
//
// Every pgbun_ value is computed at scrape time from the snapshots a Source
// returns; the package keeps no counters of its own, so nothing is counted
// twice and an unscraped pgbun pays nothing for it. The Source is called
// once per method and scrape, possibly from several scrapes at once, so its
// methods must be safe for concurrent use.
//
// Database, user, certificate and other names reach Prometheus as label
// values only, never as parts of metric names. Invalid UTF-8 in them is
// replaced by U+FFFD; series whose labels become equal that way, or that a
// Source reports twice, are merged (counts added, the longest wait and the
// earliest expiry kept) so that one odd name cannot fail a whole scrape.
//
// Listen binds the address at once, so a bad metrics_listen fails startup,
// and serves in a goroutine that Shutdown stops and waits for.
//
// The metric names, types, labels and meanings are listed in
// docs/metrics.md.
package metrics
