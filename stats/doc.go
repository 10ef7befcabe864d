// Package stats keeps pgbun's traffic statistics: what went through each
// pool (Pool, which sessions add to with atomics as messages pass), the
// totals of pools that were freed (Retired, so that SHOW STATS and metrics
// never go backwards), the per-database difference over the last
// stats_period (Period, for SHOW STATS averages and log_stats), and event
// counts by label (Labels, for metrics). It only counts: which pools
// exist and what they are called is the gateway's business.
package stats
