package pgtest

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// SuperConn connects to database db as the superuser "postgres" over the Unix
// socket, where the default pg_hba.conf trusts it. The caller closes the
// connection.
func (c *Cluster) SuperConn(ctx context.Context, db string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(superConnString(c.SocketDir(), c.Port(), db))
	if err != nil {
		return nil, fmt.Errorf("superuser connection to %q: %w", db, err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("superuser connection to %q: %w", db, err)
	}
	return conn, nil
}

// superConnString is a keyword/value connection string for the superuser
// over the Unix socket in dir. Every key that matters is given so the PG*
// environment variables of the caller cannot redirect it.
func superConnString(dir string, port int, db string) string {
	return "host=" + quoteConnValue(dir) +
		" port=" + strconv.Itoa(port) +
		" user=postgres dbname=" + quoteConnValue(db) +
		" sslmode=disable target_session_attrs=any"
}

// quoteConnValue quotes a value for a keyword/value connection string.
func quoteConnValue(v string) string {
	v = strings.ReplaceAll(v, `\`, `\\`)
	v = strings.ReplaceAll(v, `'`, `\'`)
	return "'" + v + "'"
}
