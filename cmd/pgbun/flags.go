package main

import (
	"fmt"
	"strings"
)

// options are pgbun's command-line settings; the flags are PgBouncer's.
type options struct {
	daemon  bool   // -d, --daemon
	quiet   bool   // -q, --quiet
	verbose int    // -v, --verbose (repeatable)
	user    string // -u, --user
	version bool   // -V, --version
	help    bool   // -h, --help
	reboot  bool   // -R, --reboot: take the listening sockets over from a running pgbun
	config  string // the configuration file, "" = built-in defaults
}

const usage = `pgbun is a PostgreSQL connection pooler and secure gateway.

Usage:
  pgbun [OPTION]... [config.ini]   run (built-in defaults without a file)
  pgbun check [config.ini]         validate a configuration, print the effective settings
  pgbun demo                       start a throwaway PostgreSQL and pgbun (TLS + SCRAM) in front of it

Options:
  -d, --daemon      run in the background
  -q, --quiet       do not log to stderr
  -v, --verbose     log more (repeat for even more)
  -u, --user=USER   run as USER (after opening listeners)
  -R, --reboot      take over the listening sockets of a running pgbun (binary upgrade);
                    the old process finishes its clients and exits
  -V, --version     print the version and exit
  -h, --help        print this help and exit
`

// parseArgs reads getopt-style arguments: short flags may be grouped
// (-dv, -vv), -u takes its value attached or next, long flags take
// --user=x or --user x, and "--" ends the options.
func parseArgs(args []string) (options, error) {
	var o options
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			rest = append(rest, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			switch name {
			case "daemon":
				o.daemon = true
			case "quiet":
				o.quiet = true
			case "verbose":
				o.verbose++
			case "version":
				o.version = true
			case "help":
				o.help = true
			case "reboot":
				o.reboot = true
			case "user":
				if !hasVal {
					if i+1 >= len(args) {
						return o, fmt.Errorf("option --user needs a value")
					}
					i++
					val = args[i]
				}
				o.user = val
			default:
				return o, fmt.Errorf("unknown option --%s", name)
			}
			if hasVal && name != "user" {
				return o, fmt.Errorf("option --%s takes no value", name)
			}
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for j := 1; j < len(a); j++ {
				switch a[j] {
				case 'd':
					o.daemon = true
				case 'q':
					o.quiet = true
				case 'v':
					o.verbose++
				case 'V':
					o.version = true
				case 'h':
					o.help = true
				case 'u':
					val := a[j+1:]
					if val == "" {
						if i+1 >= len(args) {
							return o, fmt.Errorf("option -u needs a value")
						}
						i++
						val = args[i]
					}
					o.user = val
					j = len(a)
				case 'R':
					o.reboot = true
				default:
					return o, fmt.Errorf("unknown option -%c", a[j])
				}
			}
		default:
			rest = append(rest, a)
		}
	}
	if len(rest) > 1 {
		return o, fmt.Errorf("expected at most one configuration file, got %q", rest)
	}
	if len(rest) == 1 {
		o.config = rest[0]
	}
	return o, nil
}
