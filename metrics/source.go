package metrics

import "github.com/pgbun/pgbun/internal/snapshot"

// Source is what the metrics endpoint reads, at every scrape, from the
// running pgbun. Its methods must be safe for concurrent use and cheap:
// they run on the scraper's request. The returned values belong to the
// caller only for reading; the endpoint never modifies or keeps them.
type Source interface {
	// Pools returns one entry per (database, user) pool.
	Pools() []snapshot.Pool
	// Stats returns the cumulative counters of each database.
	Stats() []snapshot.Stats
	// Events returns the process-wide counters.
	Events() snapshot.Events
	// Certs returns the certificates pgbun currently serves.
	Certs() []snapshot.Cert
	// Lockouts returns the failed-login lockouts. Entries whose Until has
	// passed are ignored, so a Source may return them until it prunes them.
	Lockouts() []snapshot.Lockout
	// Ready reports whether pgbun accepts clients: listening, configuration
	// loaded and not shutting down.
	Ready() bool
	// Version is pgbun's version string, exported as pgbun_build_info.
	Version() string
}
