package config

import (
	"fmt"
	"strings"
)

// connParam is one key=value pair of a [databases], [users] or [peers]
// entry.
type connParam struct {
	key, value string
	start, end int // byte span of the value in the source, quotes included
}

// parseConnString splits an entry's value the way PgBouncer does: pairs
// separated by spaces, a value either bare (up to the next space) or in
// single quotes with ” standing for a quote. Empty values are refused, as
// PgBouncer refuses them. pgbun also takes a tab as a separator, and
// refuses text glued to a closing quote, which PgBouncer drops silently,
// and "key= other=value", which PgBouncer reads as key="other=value".
// Error messages name keys but never echo values, which may be passwords.
func parseConnString(s string) ([]connParam, error) {
	var out []connParam
	i := 0
	isSep := func(b byte) bool { return b == ' ' || b == '\t' }
	for {
		for i < len(s) && isSep(s[i]) {
			i++
		}
		if i == len(s) {
			return out, nil
		}
		k := i
		for i < len(s) && s[i] != '=' && !isSep(s[i]) {
			i++
		}
		key := s[k:i]
		if key == "" {
			return nil, fmt.Errorf(`syntax error: missing parameter name before "="`)
		}
		for i < len(s) && isSep(s[i]) {
			i++
		}
		if i == len(s) || s[i] != '=' {
			return nil, fmt.Errorf("syntax error: expected \"=\" after %q", clip(key))
		}
		i++
		gap := i
		for i < len(s) && isSep(s[i]) {
			i++
		}
		start := i
		var value string
		if i < len(s) && s[i] == '\'' {
			var b strings.Builder
			closed := false
			for i++; i < len(s); i++ {
				if s[i] != '\'' {
					b.WriteByte(s[i])
					continue
				}
				if i+1 < len(s) && s[i+1] == '\'' {
					b.WriteByte('\'')
					i++
					continue
				}
				closed = true
				i++
				break
			}
			if !closed {
				return nil, fmt.Errorf("syntax error: quoted value of %q has no closing quote", clip(key))
			}
			if i < len(s) && !isSep(s[i]) {
				return nil, fmt.Errorf("syntax error: text right after the closing quote of %q", clip(key))
			}
			value = b.String()
		} else {
			for i < len(s) && !isSep(s[i]) {
				i++
			}
			value = s[start:i]
			// PgBouncer skips spaces after "=", so "host= port=5432"
			// would give host the value "port=5432"; that is a typo.
			if start > gap && strings.Contains(value, "=") {
				return nil, fmt.Errorf("empty value for %q (what follows the spaces looks like the next parameter)", clip(key))
			}
		}
		if value == "" {
			return nil, fmt.Errorf("empty value for %q", clip(key))
		}
		out = append(out, connParam{key: key, value: value, start: start, end: i})
	}
}

// quoteConnValue writes v so parseConnString reads it back unchanged.
func quoteConnValue(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\n\v\f\r'") {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}

// redactRaw returns an entry's value with every password replaced.
func redactRaw(s string, params []connParam) string {
	for i := len(params) - 1; i >= 0; i-- {
		if params[i].key == "password" {
			s = s[:params[i].start] + "***" + s[params[i].end:]
		}
	}
	return s
}
