// Package config reads, validates and resolves pgbun's configuration, a
// superset of PgBouncer's pgbouncer.ini: a file PgBouncer accepts means the
// same to pgbun, and pgbun's own capabilities are new keys or values.
//
// Load and Parse return an immutable *Config or an *Error of the form
// "file:line: key: problem". They follow PgBouncer's reader closely:
// comments start a line with ';' or '#' (there are no inline comments),
// values run to the end of the line, a repeated key wins over earlier ones,
// names are case-sensitive, %include nests up to ten levels and each new
// [pgbouncer] header resets that section's keys to their defaults. pgbun
// departs where PgBouncer would silently misread a file: it reports
// include cycles, tolerates and warns about keys it does not know, and
// accepts Go duration syntax ("250ms") and on/off booleans besides
// PgBouncer's forms. Settings PgBouncer knows but pgbun does not act on yet
// are kept in the Config and listed in Config.Warnings.
//
// Default is the configuration used without a file. Config.Database and
// Config.Pool apply PgBouncer's fallback and inheritance rules, and
// WriteEffective prints the effective configuration for `pgbun check`.
// Loading has no side effects, so a reload simply loads again and swaps
// the result in; IsReloadable says which keys a running process cannot
// change. A Config is safe for concurrent readers.
package config
