// Command pgbun runs the pgbun PostgreSQL pooler and gateway.
package main

import (
	"fmt"
	"os"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "0.1.0-dev"

func main() {
	os.Exit(dispatch(os.Args[1:]))
}

func dispatch(args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "check":
			return check(args[1:])
		case "demo":
			return demo(args[1:])
		}
	}
	o, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgbun: %v\n\n%s", err, usage)
		return 2
	}
	switch {
	case o.help:
		fmt.Print(usage)
		return 0
	case o.version:
		fmt.Printf("pgbun %s\n", version)
		return 0
	}
	return run(o)
}
