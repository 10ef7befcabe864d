package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// managedSetting reports whether the harness itself chooses the parameter:
// the accessors (Port, SocketDir) and the readiness check depend on these, so
// Options.Settings may not override them. Parameter names are
// case-insensitive.
func managedSetting(name string) bool {
	switch strings.ToLower(name) {
	case "port", "unix_socket_directories", "data_directory", "config_file", "hba_file", "ident_file":
		return true
	}
	return false
}

// settingName is the shape of a PostgreSQL parameter name, including
// extension-qualified names such as "auto_explain.log_min_duration".
var settingName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$`)

// defaultHBA trusts the Unix socket (the superuser's path for Exec and the
// readiness probe) and asks for a password over TCP. The md5 method also
// accepts roles whose secret is SCRAM (the server then runs SCRAM), so both
// kinds of roles log in.
func defaultHBA(tls bool) []string {
	lines := []string{"local all all trust"}
	for _, addr := range []string{"127.0.0.1/32", "::1/128"} {
		if tls {
			lines = append(lines, "hostssl all all "+addr+" md5")
		}
		// Without TLS the hostssl lines are left out: the server logs a
		// complaint for each one that can never match.
		lines = append(lines, "host all all "+addr+" md5")
	}
	return lines
}

// validateOptions rejects what would make a broken cluster or a broken
// configuration file, before anything is created.
func validateOptions(opts Options) error {
	for name := range opts.Settings {
		if !settingName.MatchString(name) {
			return fmt.Errorf("setting %q: not a parameter name", name)
		}
		if managedSetting(name) {
			return fmt.Errorf("setting %q is chosen by the cluster harness and cannot be overridden", name)
		}
		if strings.ContainsRune(opts.Settings[name], 0) {
			return fmt.Errorf("setting %q: value contains a NUL byte", name)
		}
	}
	for _, line := range opts.HBA {
		if strings.ContainsAny(line, "\r\n") {
			return fmt.Errorf("pg_hba.conf line %q: contains a line break", line)
		}
	}
	return nil
}

// writeConfig appends the cluster's settings to data/postgresql.conf (a later
// line wins over the defaults initdb wrote) and replaces data/pg_hba.conf.
func (c *Cluster) writeConfig(opts Options) error {
	settings := [][2]string{
		{"listen_addresses", "127.0.0.1"},
		{"unix_socket_directories", c.dir},
		{"fsync", "off"},
		{"synchronous_commit", "off"},
		{"full_page_writes", "off"},
		{"max_connections", "300"},
		{"password_encryption", "scram-sha-256"},
		{"log_min_messages", "warning"},
	}
	if c.tls {
		settings = append(settings,
			[2]string{"ssl", "on"},
			[2]string{"ssl_cert_file", filepath.Join(c.dir, "server.crt")},
			[2]string{"ssl_key_file", filepath.Join(c.dir, "server.key")},
			// The cluster CA also vouches for client certificates, so a
			// test can use the "cert" method with CA().IssueClient.
			[2]string{"ssl_ca_file", c.caFile},
		)
	} else {
		settings = append(settings, [2]string{"ssl", "off"})
	}
	names := make([]string, 0, len(opts.Settings))
	for name := range opts.Settings {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		settings = append(settings, [2]string{name, opts.Settings[name]})
	}

	var b strings.Builder
	b.WriteString("\n# Settings of the cluster harness.\n")
	for _, kv := range settings {
		fmt.Fprintf(&b, "%s = %s\n", kv[0], quoteConf(kv[1]))
	}
	conf := filepath.Join(c.dataDir(), "postgresql.conf")
	f, err := os.OpenFile(conf, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("write postgresql.conf: %w", err)
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return fmt.Errorf("write postgresql.conf: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write postgresql.conf: %w", err)
	}

	hba := opts.HBA
	if hba == nil {
		hba = defaultHBA(c.tls)
	}
	hbaFile := filepath.Join(c.dataDir(), "pg_hba.conf")
	// initdb created the file as the server's user; truncating it in place
	// keeps that owner and its mode.
	if err := writeExisting(hbaFile, []byte(strings.Join(hba, "\n")+"\n")); err != nil {
		return fmt.Errorf("write pg_hba.conf: %w", err)
	}
	return nil
}

// quoteConf renders v as a single-quoted postgresql.conf value. The
// configuration scanner accepts quoted values for every parameter type and
// treats a backslash as an escape inside quotes, so both ' and \ are escaped.
func quoteConf(v string) string {
	v = strings.ReplaceAll(v, `\`, `\\`)
	v = strings.ReplaceAll(v, `'`, `''`)
	v = strings.ReplaceAll(v, "\n", `\n`)
	v = strings.ReplaceAll(v, "\r", `\r`)
	return "'" + v + "'"
}

func writeExisting(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
