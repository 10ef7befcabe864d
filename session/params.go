package session

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/pool"
)

// applyTimeout bounds the query that brings a server's settings in line
// with a client's.
const applyTimeout = 30 * time.Second

// trackedParams are the reported (GUC_REPORT) settings pgbun keeps per
// client and re-applies when the client lands on a server whose value
// differs, as PgBouncer does; track_extra_parameters adds to them.
var trackedParams = []string{"client_encoding", "DateStyle", "TimeZone", "IntervalStyle",
	"standard_conforming_strings", "application_name"}

// serverState is what pgbun remembers about one server across the
// clients that use it. Only the server's current owner touches it.
type serverState struct {
	gen uint32 // names this server's prepared statements (see stmtCache)
	// fp is the settings fingerprint of the client the server was last
	// brought in line with, "" when unknown or changed since.
	fp string
	// applied holds the settings pgbun set that the server does not
	// report back (search_path, statement_timeout, ...), so the next
	// client can have them set or reset.
	applied  map[string]string
	prepared *stmtCache // prepared statements (transaction/statement pooling)
	junk     []string   // statement names to close before the server's next use
	closing  []string   // junk whose Close is in flight
}

var serverGen atomic.Uint32

// stateOf returns srv's state, making it on first use and after the pool
// reset the server (which drops Aux: the session is back to defaults).
func stateOf(srv *pool.Server) *serverState {
	if ss, ok := srv.Aux.(*serverState); ok {
		return ss
	}
	ss := &serverState{applied: make(map[string]string), gen: serverGen.Add(1)}
	srv.Aux = ss
	return ss
}

// ApplySettings sets on srv every setting of want the server does not have:
// reported settings are compared with what the server last reported,
// others with what pgbun last applied there. Settings pgbun applied for an
// earlier client and absent from want are reset. set_config takes values
// exactly as a startup packet would (a list such as search_path stays a
// list).
func ApplySettings(srv *pool.Server, want map[string]string) error {
	ss := stateOf(srv)
	names := make([]string, 0, len(want))
	for k := range want {
		names = append(names, k)
	}
	slices.Sort(names)
	var sets []string
	next := make(map[string]string)
	for _, name := range names {
		value := want[name]
		if cur, ok := serverParam(srv, name); ok {
			if cur != value {
				sets = append(sets, name, value)
			}
			continue
		}
		next[name] = value
		if prev, ok := ss.applied[name]; !ok || prev != value {
			sets = append(sets, name, value)
		}
	}
	var resets []string
	for name := range ss.applied {
		if _, ok := next[name]; !ok {
			resets = append(resets, name)
		}
	}
	if len(sets) == 0 && len(resets) == 0 {
		return nil
	}
	slices.Sort(resets)
	var q strings.Builder
	for i := 0; i < len(sets); i += 2 {
		if i == 0 {
			q.WriteString("SELECT ")
		} else {
			q.WriteString(", ")
		}
		q.WriteString("pg_catalog.set_config(")
		q.WriteString(quoteLiteral(sets[i]))
		q.WriteString(", ")
		q.WriteString(quoteLiteral(sets[i+1]))
		q.WriteString(", false)")
	}
	for _, name := range resets {
		if q.Len() > 0 {
			q.WriteString("; ")
		}
		q.WriteString("RESET ")
		q.WriteString(quoteIdent(name))
	}
	ctx, cancel := context.WithTimeout(context.Background(), applyTimeout)
	defer cancel()
	if err := srv.Exec(ctx, q.String()); err != nil {
		if we, ok := wire.AsError(err); ok {
			e := *we
			e.Severity = "FATAL"
			return &e
		}
		return err
	}
	ss.applied = next
	return nil
}

// serverParam finds a reported parameter by name, ignoring case (GUC
// names are case-insensitive; servers report DateStyle, clients may send
// datestyle).
func serverParam(srv *pool.Server, name string) (string, bool) {
	if v, ok := srv.Params[name]; ok {
		return v, true
	}
	for k, v := range srv.Params {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// quoteLiteral quotes s as an SQL string literal, safe whatever
// standard_conforming_strings says.
func quoteLiteral(s string) string {
	if strings.ContainsRune(s, '\\') {
		return "E'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", "''") + "'"
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// quoteIdent quotes s as an SQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
