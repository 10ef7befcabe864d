//go:build linux

package main

import (
	"fmt"
	"strings"
)

// benchUser and benchDB are the role and database pgbench uses.
const (
	benchUser = "bench"
	benchDB   = "bench"
)

// iniParams are the values of the shared configuration of both poolers.
type iniParams struct {
	PGPort   int    // PostgreSQL's TCP port on 127.0.0.1
	AuthFile string // userlist with the plaintext password
	CertFile string // server certificate offered to clients
	KeyFile  string
	Mode     string // pool_mode
	PoolSize int    // default_pool_size
}

// commonINI is the configuration PgBouncer and pgbun share. It ends inside
// its [pgbouncer] section so the wrappers can add keys after including it:
// a second [pgbouncer] header would reset every key to its default.
func commonINI(p iniParams) string {
	var b strings.Builder
	b.WriteString("; Shared by PgBouncer and pgbun; each includes it from a wrapper that sets\n")
	b.WriteString("; listen_port, pidfile and logfile.\n")
	b.WriteString("[databases]\n")
	fmt.Fprintf(&b, "%s = host=127.0.0.1 port=%d dbname=%s\n", benchDB, p.PGPort, benchDB)
	b.WriteString("\n[pgbouncer]\n")
	kv := [][2]string{
		{"listen_addr", "127.0.0.1"},
		{"unix_socket_dir", ""},
		{"auth_type", "scram-sha-256"},
		{"auth_file", p.AuthFile},
		{"pool_mode", p.Mode},
		{"default_pool_size", fmt.Sprint(p.PoolSize)},
		{"max_client_conn", fmt.Sprint(maxClientConn)},
		// Drivers such as JDBC send it at startup, and a pooler refuses
		// startup parameters it does not know unless told to ignore them.
		{"ignore_startup_parameters", "extra_float_digits"},
		{"log_connections", "0"},
		{"log_disconnections", "0"},
		{"client_tls_sslmode", "prefer"},
		{"client_tls_cert_file", p.CertFile},
		{"client_tls_key_file", p.KeyFile},
		// Pooler to PostgreSQL is plain TCP on loopback for both, so the
		// TLS rows measure the client side only.
		{"server_tls_sslmode", "disable"},
	}
	for _, e := range kv {
		if e[1] == "" {
			fmt.Fprintf(&b, "%s =\n", e[0])
			continue
		}
		fmt.Fprintf(&b, "%s = %s\n", e[0], e[1])
	}
	return b.String()
}

// wrapperINI is one program's configuration: the shared file, then what
// must differ between the two programs. The [pgbouncer] section of the
// included file stays open, in PgBouncer and in pgbun.
func wrapperINI(commonPath string, port int, pidfile, logfile string) string {
	return fmt.Sprintf("%%include %s\nlisten_port = %d\npidfile = %s\nlogfile = %s\n",
		commonPath, port, pidfile, logfile)
}

// userlistLine is one auth_file entry; a double quote inside a field is
// written twice, as PgBouncer reads it.
func userlistLine(user, secret string) string {
	q := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	return q(user) + " " + q(secret) + "\n"
}
