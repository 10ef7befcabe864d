package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// The constructors below build the parse and format functions of one
// setting from a pointer into General, so the table in keys.go stays one
// line per key.

func boolKey(name, def string, f func(*General) *bool) setting {
	return setting{name: name, def: def,
		parse: func(g *General, v string) error {
			b, err := parseBool(v)
			if err == nil {
				*f(g) = b
			}
			return err
		},
		fmt: func(g *General) string { return formatBool(*f(g)) },
	}
}

func intKey(name, def string, min, max int64, f func(*General) *int) setting {
	return setting{name: name, def: def,
		parse: func(g *General, v string) error {
			n, err := parseIntRange(v, min, max)
			if err == nil {
				*f(g) = int(n)
			}
			return err
		},
		fmt: func(g *General) string { return strconv.Itoa(*f(g)) },
	}
}

func durKey(name, def string, unit time.Duration, f func(*General) *time.Duration) setting {
	return setting{name: name, def: def,
		parse: func(g *General, v string) error {
			d, err := parseDuration(v, unit)
			if err == nil {
				*f(g) = d
			}
			return err
		},
		fmt: func(g *General) string { return formatDuration(*f(g), unit) },
	}
}

func strKey(name, def string, f func(*General) *string) setting {
	return setting{name: name, def: def,
		parse: func(g *General, v string) error { *f(g) = v; return nil },
		fmt:   func(g *General) string { return *f(g) },
	}
}

func listKey(name, def string, f func(*General) *[]string) setting {
	return setting{name: name, def: def,
		parse: func(g *General, v string) error { *f(g) = parseList(v); return nil },
		fmt:   func(g *General) string { return formatList(*f(g)) },
	}
}

func modeKey(name, def string, f func(*General) *os.FileMode) setting {
	return setting{name: name, def: def,
		parse: func(g *General, v string) error {
			m, err := parseFileMode(v)
			if err == nil {
				*f(g) = m
			}
			return err
		},
		fmt: func(g *General) string { return formatFileMode(*f(g)) },
	}
}

func protocolsKey(name string, f func(*General) *string) setting {
	return setting{name: name, def: "secure",
		parse: func(g *General, v string) error {
			if err := checkTLSProtocols(v); err != nil {
				return err
			}
			*f(g) = v
			return nil
		},
		fmt: func(g *General) string { return *f(g) },
	}
}

func sslModeKey(name, def string, f func(*General) *SSLMode) setting {
	return setting{name: name, def: def,
		parse: func(g *General, v string) error {
			m, err := parseSSLMode(v)
			if err == nil {
				*f(g) = m
			}
			return err
		},
		fmt: func(g *General) string { return string(*f(g)) },
	}
}

func poolModeKey(name, def string) setting {
	return setting{name: name, def: def,
		parse: func(g *General, v string) error {
			m, err := parsePoolMode(v)
			if err == nil {
				g.PoolMode = m
			}
			return err
		},
		fmt: func(g *General) string { return string(g.PoolMode) },
	}
}

func authTypeKey(name, def string) setting {
	return setting{name: name, def: def,
		parse: func(g *General, v string) error {
			a, err := parseAuthType(v)
			if err == nil {
				g.AuthType = a
			}
			return err
		},
		fmt: func(g *General) string { return string(g.AuthType) },
	}
}

// checkQueryKey reads server_check_query, which has three states in
// PgBouncer: "<empty>" sends an empty query, nothing at all turns the
// check off, anything else is the query.
func checkQueryKey(name, def string) setting {
	return setting{name: name, def: def,
		parse: func(g *General, v string) error {
			switch v {
			case "<empty>":
				g.ServerCheckQuery, g.ServerCheckDisabled = "", false
			case "":
				g.ServerCheckQuery, g.ServerCheckDisabled = "", true
			default:
				g.ServerCheckQuery, g.ServerCheckDisabled = v, false
			}
			return nil
		},
		fmt: func(g *General) string {
			switch {
			case g.ServerCheckDisabled:
				return ""
			case g.ServerCheckQuery == "":
				return "<empty>"
			}
			return g.ServerCheckQuery
		},
	}
}

func aliasKey(name, target string) setting {
	return setting{name: name, alias: target}
}

func keep(s setting) setting      { s.keep = true; return s }
func noReload(s setting) setting  { s.noReload = true; return s }
func supported(s setting) setting { s.supported = true; return s }

func withRedact(s setting, r func(string) string) setting {
	s.redact = r
	return s
}

// effective returns the key's value as WriteEffective shows it.
func (s *setting) effective(g *General) string {
	v := s.fmt(g)
	if s.redact != nil {
		v = s.redact(v)
	}
	return v
}

func floatKey(name, def string, min, max float64, f func(*General) *float64) setting {
	return setting{name: name, def: def,
		parse: func(g *General, v string) error {
			x, err := strconv.ParseFloat(trimCSpace(v), 64)
			if err != nil || x != x {
				return fmt.Errorf("not a number: %q", v)
			}
			if x < min || x > max {
				return fmt.Errorf("%g is out of range (%g to %g)", x, min, max)
			}
			*f(g) = x
			return nil
		},
		fmt: func(g *General) string { return strconv.FormatFloat(*f(g), 'g', -1, 64) },
	}
}

func enumKey(name, def string, choices []string, f func(*General) *string) setting {
	return setting{name: name, def: def,
		parse: func(g *General, v string) error {
			c, err := lookupEnum(v, choices)
			if err == nil {
				*f(g) = c
			}
			return err
		},
		fmt: func(g *General) string { return *f(g) },
	}
}

// pairListKey is a comma-separated list whose items may hold spaces
// ("cert.pem key.pem, cert2.pem key2.pem").
func pairListKey(name, def string, f func(*General) *[]string) setting {
	return setting{name: name, def: def,
		parse: func(g *General, v string) error {
			var out []string
			for _, item := range strings.Split(v, ",") {
				if item = strings.Join(strings.Fields(item), " "); item != "" {
					out = append(out, item)
				}
			}
			*f(g) = out
			return nil
		},
		fmt: func(g *General) string { return strings.Join(*f(g), ", ") },
	}
}
