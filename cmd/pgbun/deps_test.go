package main

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// forbiddenDeps are packages the pgbun binary must not link, by import path
// or path prefix (ending in "/"): the test harnesses and the pgx driver.
// The binary speaks the protocol itself (package internal/wire), and `pgbun
// demo` runs its cluster through internal/cluster, which needs no driver.
var forbiddenDeps = []string{
	"testing",
	"testing/",
	"github.com/pgbun/pgbun/internal/pgtest",
	"github.com/pgbun/pgbun/internal/pebbletest",
	"github.com/jackc/pgx/v5",
	"github.com/jackc/pgx/v5/pgconn",
	"github.com/jackc/pgx/v5/pgconn/",
	"github.com/jackc/pgx/v5/pgtype",
	"github.com/jackc/pgx/v5/pgtype/",
	"github.com/jackc/pgx/v5/pgxpool",
	"github.com/jackc/pgx/v5/stdlib",
}

// testingImporters are the third-party packages allowed to bring package
// testing into the binary, with the reason. Only testing's initialisation
// is linked through them: nothing calls into it.
var testingImporters = map[string]string{
	// prometheus/common's expfmt (client_golang's text and OpenMetrics
	// formats) parses OpenMetrics with go-abnf, whose fuzzing helpers sit
	// in non-test files that import testing.
	"github.com/pandatix/go-abnf": "imported by github.com/prometheus/common/expfmt",
}

// forbidden reports whether pkg matches an entry of forbiddenDeps.
func forbidden(pkg string) bool {
	for _, f := range forbiddenDeps {
		if pkg == f || (strings.HasSuffix(f, "/") && strings.HasPrefix(pkg, f)) {
			return true
		}
	}
	return false
}

// TestBinaryCarriesNoTestCode lists the binary's dependencies with `go list
// -deps`, as `make build` compiles it, and fails on any forbidden package,
// printing the chain of imports that brings it in.
func TestBinaryCarriesNoTestCode(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found in PATH")
	}
	cmd := exec.CommandContext(t.Context(), goBin, "list", "-deps",
		"-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	imports := map[string][]string{}
	var pkgs []string // in go list's order: dependencies first
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) > 0 {
			imports[f[0]] = f[1:]
			pkgs = append(pkgs, f[0])
		}
	}
	if len(pkgs) == 0 {
		t.Fatal("go list printed nothing")
	}
	root := pkgs[len(pkgs)-1] // -deps lists the named package last
	if root != "github.com/pgbun/pgbun/cmd/pgbun" {
		t.Fatalf("go list ended with %q, want the pgbun command", root)
	}
	chain := importChains(root, imports)
	usedImporters := map[string]bool{}
	for _, pkg := range pkgs {
		if !forbidden(pkg) {
			continue
		}
		if pkg == "testing" || strings.HasPrefix(pkg, "testing/") {
			// Allowed only when every importer is a known third-party one.
			for _, importer := range pkgs {
				if !slices.Contains(imports[importer], pkg) {
					continue
				}
				if _, ok := testingImporters[importer]; ok {
					usedImporters[importer] = true
					continue
				}
				t.Errorf("the binary links %s, imported by %s: %s",
					pkg, importer, strings.Join(append(chain(importer), pkg), " -> "))
			}
			continue
		}
		t.Errorf("the binary links %s: %s", pkg, strings.Join(chain(pkg), " -> "))
	}
	for importer, why := range testingImporters {
		if !usedImporters[importer] {
			t.Logf("%s (%s) no longer brings in testing: its entry can go", importer, why)
		}
	}
}

// importChains returns a function giving a shortest chain of imports from
// root to a package, found breadth first over imports.
func importChains(root string, imports map[string][]string) func(string) []string {
	parent := map[string]string{root: ""}
	queue := []string{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, d := range imports[p] {
			if _, seen := parent[d]; !seen {
				parent[d] = p
				queue = append(queue, d)
			}
		}
	}
	return func(pkg string) []string {
		var chain []string
		for p := pkg; p != ""; p = parent[p] {
			chain = append(chain, p)
			if _, ok := parent[p]; !ok {
				break
			}
		}
		slices.Reverse(chain)
		return chain
	}
}
