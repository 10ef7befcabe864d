package gateway

import (
	"context"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/pool"
)

var timeZero time.Time

// applyTimeout bounds the query that applies a client's parameters.
const applyTimeout = 30 * time.Second

// welcome finishes the login: the client's startup parameters are applied
// to the server, then the client gets AuthenticationOk, the server's
// parameters, its own cancel key and ReadyForQuery.
func (g *Gateway) welcome(c *client, st *state, rt *route, srv *pool.Server) error {
	if !srv.Dedicated() {
		if err := applyParams(c, st, srv); err != nil {
			return err
		}
	}
	out := wire.AppendAuthOK(c.out[:0])
	names := make([]string, 0, len(srv.Params))
	for k := range srv.Params {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		out = wire.AppendParameterStatus(out, k, srv.Params[k])
	}
	out = wire.AppendBackendKeyData(out, c.pid, c.secret)
	out = wire.AppendReadyForQuery(out, srv.Status)
	c.out = out
	return c.send(out)
}

// applyParams brings a shared server's session in line with what the
// client asked for in its startup packet. Reported parameters are set only
// where the server's value differs; others (search_path, ...) always,
// since the server was reset to its defaults when its last client left.
// set_config takes values exactly as a startup packet would.
func applyParams(c *client, st *state, srv *pool.Server) error {
	want, err := clientSettings(c, st)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(want))
	for k := range want {
		names = append(names, k)
	}
	slices.Sort(names)
	var q strings.Builder
	for _, name := range names {
		value := want[name]
		if cur, reported := serverParam(srv, name); reported && cur == value {
			continue
		}
		if q.Len() == 0 {
			q.WriteString("SELECT ")
		} else {
			q.WriteString(", ")
		}
		q.WriteString("pg_catalog.set_config(")
		q.WriteString(quoteLiteral(name))
		q.WriteString(", ")
		q.WriteString(quoteLiteral(value))
		q.WriteString(", false)")
	}
	if q.Len() == 0 {
		return nil
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
	return nil
}

// clientSettings are the run-time parameters a client's startup packet
// asks for, including those inside "options".
func clientSettings(c *client, st *state) (map[string]string, error) {
	out := make(map[string]string)
	for k, v := range c.params {
		switch k {
		case "user", "database", "replication":
			continue
		case "options":
			if ignored(st, k) {
				continue
			}
			opts, err := parseOptions(v)
			if err != nil {
				return nil, wire.Fatal(wire.CodeProtocolViolation, "invalid options startup parameter: %v", err)
			}
			for ok, ov := range opts {
				if !ignored(st, ok) {
					out[ok] = ov
				}
			}
			continue
		}
		if !ignored(st, k) {
			out[k] = v
		}
	}
	if st.cfg.General.ApplicationNameAddHost {
		out["application_name"] = appNameWithHost(out["application_name"], c)
	}
	return out, nil
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

// ignored reports whether ignore_startup_parameters lists name.
func ignored(st *state, name string) bool {
	for _, p := range st.cfg.General.IgnoreStartupParameters {
		if strings.EqualFold(p, name) {
			return true
		}
	}
	return false
}

// appNameWithHost appends the client's address, as PgBouncer's
// application_name_add_host does.
func appNameWithHost(app string, c *client) string {
	host, port := "unix", ""
	if h, p, err := net.SplitHostPort(c.addr); err == nil {
		host, port = h, p
	}
	suffix := host
	if port != "" {
		suffix += ":" + port
	}
	if app == "" {
		return suffix
	}
	return app + " - " + suffix
}

// quoteLiteral quotes s as an SQL string literal, safe whatever
// standard_conforming_strings says.
func quoteLiteral(s string) string {
	if strings.ContainsRune(s, '\\') {
		return "E'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", "''") + "'"
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
