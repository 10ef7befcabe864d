package gateway

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/pgbun/pgbun/internal/wire"
)

// maxStartupParams bounds the number of parameters in one startup packet;
// real drivers send fewer than twenty.
const maxStartupParams = 64

// startup is a decoded StartupMessage.
type startup struct {
	minor   uint16            // protocol minor version (major is always 3)
	params  map[string]string // all name/value pairs, names as sent
	options []string          // _pq_.* protocol options the client asked for
}

// parseStartup decodes the body of a StartupMessage after its protocol
// code: NUL-terminated name/value pairs ending with an empty name. A
// repeated name keeps its last value, as PostgreSQL does.
func parseStartup(minor uint16, body []byte) (*startup, error) {
	st := &startup{minor: minor, params: make(map[string]string)}
	for {
		name, rest, ok := wire.CString(body)
		if !ok {
			return nil, errors.New("invalid startup packet layout: expected terminator as last byte")
		}
		if name == "" {
			if len(rest) != 0 {
				return nil, errors.New("invalid startup packet layout: data after the terminator")
			}
			return st, nil
		}
		value, rest2, ok := wire.CString(rest)
		if !ok {
			return nil, fmt.Errorf("invalid startup packet layout: no value for parameter %q", clip(name))
		}
		body = rest2
		if strings.HasPrefix(name, "_pq_.") {
			st.options = append(st.options, name)
			continue
		}
		if _, dup := st.params[name]; !dup && len(st.params) >= maxStartupParams {
			return nil, fmt.Errorf("too many startup parameters (more than %d)", maxStartupParams)
		}
		st.params[name] = value
	}
}

// parseOptions splits the libpq "options" parameter into settings. It
// understands the forms drivers send: "-c name=value", "-cname=value" and
// "--name=value", with backslash-escaped spaces, as PostgreSQL's own
// pg_split_opts does. Other switches are refused.
func parseOptions(s string) (map[string]string, error) {
	words := splitOptions(s)
	out := make(map[string]string)
	for i := 0; i < len(words); i++ {
		w := words[i]
		var kv string
		switch {
		case w == "-c":
			if i+1 >= len(words) {
				return nil, errors.New(`"-c" without a setting in options`)
			}
			i++
			kv = words[i]
		case strings.HasPrefix(w, "-c"):
			kv = w[2:]
		case strings.HasPrefix(w, "--"):
			kv = w[2:]
		default:
			return nil, fmt.Errorf("unsupported switch %q in options (only -c name=value and --name=value)", clip(w))
		}
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("invalid setting %q in options (want name=value)", clip(kv))
		}
		out[strings.ReplaceAll(name, "-", "_")] = value
	}
	return out, nil
}

// splitOptions splits on unescaped whitespace; a backslash takes the next
// character literally.
func splitOptions(s string) []string {
	var words []string
	var cur strings.Builder
	in := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			in = true
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(ch)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// maxNameLen is PostgreSQL's longest identifier, NAMEDATALEN - 1 bytes.
const maxNameLen = 63

// cutName shortens a user or database name to maxNameLen bytes, as
// PostgreSQL does before it looks the name up. The cut never splits a
// UTF-8 sequence: PostgreSQL stores names cut on a character boundary, so
// a name cut in the middle of one could match no role.
func cutName(s string) string {
	if len(s) <= maxNameLen {
		return s
	}
	n := maxNameLen
	for n > 0 && s[n]&0xc0 == 0x80 { // s[n] continues the character before it
		n--
	}
	return s[:n]
}

// clip shortens client-supplied text before it goes into a message or log.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
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
				// PgBouncer's words; the detail says what was wrong.
				e := wire.Fatal(wire.CodeProtocolViolation, "unsupported options startup parameter: only '-c config=val' and '--config=val' are allowed")
				e.Detail = err.Error()
				return nil, e
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

// relayParams are the startup parameters a dedicated server gets: the
// client's own, less those pgbun handles or is told to ignore.
func (g *Gateway) relayParams(c *client, st *state) map[string]string {
	out := make(map[string]string)
	for k, v := range c.params {
		if k == "user" || k == "database" || k == "replication" || ignored(st, k) {
			continue
		}
		out[k] = v
	}
	if st.cfg.General.ApplicationNameAddHost {
		out["application_name"] = appNameWithHost(out["application_name"], c)
	}
	return out
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
	if h, p, err := net.SplitHostPort(c.Addr); err == nil {
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
