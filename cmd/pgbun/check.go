package main

import (
	"fmt"
	"os"

	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/gateway"
)

// check validates a configuration and the files it names, printing
// warnings to stderr and the effective settings to stdout.
func check(args []string) int {
	if len(args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: pgbun check [config.ini]")
		return 2
	}
	cfg, err := loadConfig(firstOr(args, ""))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(os.Stderr, "warning: %s\n", w)
	}
	notes, err := gateway.Validate(cfg)
	for _, n := range notes {
		fmt.Fprintf(os.Stderr, "warning: %s\n", n)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", firstOr(cfg.Files, "defaults"), err)
		return 1
	}
	if err := cfg.WriteEffective(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}
