package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// PasswordEnc selects how CreateRole stores a password.
type PasswordEnc int

// Password encodings, as in PostgreSQL's password_encryption.
const (
	SCRAM PasswordEnc = iota // SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
	MD5                      // "md5" + md5(password + role name)
)

// setting returns the password_encryption value for e.
func (e PasswordEnc) setting() (string, error) {
	switch e {
	case SCRAM:
		return "scram-sha-256", nil
	case MD5:
		return "md5", nil
	}
	return "", fmt.Errorf("unknown password encoding %d", int(e))
}

// superSession opens a session as the superuser "postgres" on database db
// over the Unix socket, where the default pg_hba.conf trusts it.
func (c *Cluster) superSession(ctx context.Context, db string) (*session, error) {
	s, err := c.connect(ctx, db, c.port)
	if err != nil {
		return nil, fmt.Errorf("superuser connection to %q: %w", db, err)
	}
	return s, nil
}

// quoteIdent quotes name as an SQL identifier, as the server's quote_ident
// does for any name that needs quoting.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// Exec runs sql (one or more statements, simple protocol) on database
// "postgres" as the superuser. The SQL is not repeated in the error, since it
// may hold a password.
func (c *Cluster) Exec(ctx context.Context, sql string) error {
	s, err := c.superSession(ctx, "postgres")
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.exec(sql); err != nil {
		return fmt.Errorf("exec as superuser: %w", withContext(ctx, err))
	}
	return nil
}

// CreateRole creates a LOGIN role whose password is stored with enc. An
// empty password creates a role without one (for trust or cert
// authentication). The name and the password are quoted by the server
// (format with %I and %L), so any text is safe.
func (c *Cluster) CreateRole(ctx context.Context, name, password string, enc PasswordEnc) error {
	if name == "" {
		return errors.New("create role: empty name")
	}
	encName, err := enc.setting()
	if err != nil {
		return fmt.Errorf("create role %q: %w", name, err)
	}
	s, err := c.superSession(ctx, "postgres")
	if err != nil {
		return fmt.Errorf("create role %q: %w", name, err)
	}
	defer s.close()
	// The CREATE statement carries the password: keep it out of the server
	// log (which LogTail puts into error messages) whatever Options.Settings
	// chose, even if the statement fails.
	if err := s.exec("SET log_statement = 'none'; SET log_min_error_statement = 'panic'; " +
		"SET log_min_duration_statement = -1; SET log_min_duration_sample = -1; " +
		"SET log_transaction_sample_rate = 0; SET password_encryption = '" + encName + "'"); err != nil {
		return fmt.Errorf("create role %q: prepare session: %w", name, withContext(ctx, err))
	}
	var row []*string
	if password == "" {
		row, _, err = s.queryRow("SELECT pg_catalog.format('CREATE ROLE %I LOGIN', $1::text)", name)
	} else {
		row, _, err = s.queryRow("SELECT pg_catalog.format('CREATE ROLE %I LOGIN PASSWORD %L', $1::text, $2::text)",
			name, password)
	}
	if err == nil && (len(row) != 1 || row[0] == nil) {
		err = errors.New("no statement came back")
	}
	if err != nil {
		return fmt.Errorf("create role %q: quote: %w", name, withContext(ctx, err))
	}
	if err := s.exec(*row[0]); err != nil {
		return fmt.Errorf("create role %q: %w", name, withContext(ctx, err))
	}
	return nil
}

// CreateDatabase creates database name owned by owner ("" keeps the
// superuser as owner).
func (c *Cluster) CreateDatabase(ctx context.Context, name, owner string) error {
	if name == "" {
		return errors.New("create database: empty name")
	}
	sql := "CREATE DATABASE " + quoteIdent(name)
	if owner != "" {
		sql += " OWNER " + quoteIdent(owner)
	}
	if err := c.Exec(ctx, sql); err != nil {
		return fmt.Errorf("create database %q: %w", name, err)
	}
	return nil
}

// RoleSecret returns the role's stored password secret (pg_authid.rolpassword),
// or "" when the role has none.
func (c *Cluster) RoleSecret(ctx context.Context, role string) (string, error) {
	s, err := c.superSession(ctx, "postgres")
	if err != nil {
		return "", fmt.Errorf("role secret of %q: %w", role, err)
	}
	defer s.close()
	row, ok, err := s.queryRow("SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = $1", role)
	if err != nil {
		return "", fmt.Errorf("role secret of %q: %w", role, withContext(ctx, err))
	}
	if !ok {
		return "", fmt.Errorf("role secret of %q: no such role", role)
	}
	if len(row) != 1 {
		return "", fmt.Errorf("role secret of %q: %d columns came back", role, len(row))
	}
	if row[0] == nil {
		return "", nil
	}
	return *row[0], nil
}

// ConnString returns a libpq URI for user and password (either may be
// empty) on database db over TCP: with sslmode=verify-full against CAFile,
// or sslmode=disable when the cluster runs without TLS. It contains the
// password: never log it.
func (c *Cluster) ConnString(user, password, db string) string {
	u := url.URL{
		Scheme: "postgres",
		Host:   net.JoinHostPort(c.Host(), strconv.Itoa(c.port)),
		Path:   "/" + db,
	}
	switch {
	case password != "":
		u.User = url.UserPassword(user, password)
	case user != "":
		u.User = url.User(user)
	}
	q := url.Values{}
	if c.tls {
		q.Set("sslmode", "verify-full")
		q.Set("sslrootcert", c.caFile)
	} else {
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// PgbenchInit runs `pgbench -i -q -s scale` on database db as the superuser
// over the Unix socket.
func (c *Cluster) PgbenchInit(ctx context.Context, db string, scale int) error {
	if scale < 1 {
		return fmt.Errorf("pgbench init: scale %d is not positive", scale)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "pgbench"), "-i", "-q", "-s", strconv.Itoa(scale),
		"-h", c.dir, "-p", strconv.Itoa(c.port), "-U", "postgres", db)
	cmd.Dir = c.dir
	// A password from the caller's environment has no business here: the
	// socket is trusted.
	cmd.Env = envWith(os.Environ(), "PGPASSWORD=", "PGSSLMODE=disable")
	cmd.WaitDelay = killWait
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgbench init of %q at scale %d: %w\n%s", db, scale, err, tail(string(out), logTailLines))
	}
	return nil
}
