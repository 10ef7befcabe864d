package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/pgbun/pgbun/internal/pgtest"
)

var (
	pg     *pgtest.Cluster
	binary string // pgbun built for process-level tests
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pgbun-bin-*")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "pgbun")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		os.Stderr.WriteString("building pgbun for the process tests failed\n")
		os.Exit(1)
	}
	code := pgtest.Main(m, pgtest.Options{}, &pg)
	os.RemoveAll(dir)
	os.Exit(code)
}
