package cluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// debianBinGlob is where Debian and Ubuntu install each PostgreSQL major
// version's server binaries.
const debianBinGlob = "/usr/lib/postgresql/*/bin"

// BinDir returns the directory holding PostgreSQL's server binaries: $PGBIN
// when set, else the newest /usr/lib/postgresql/*/bin that holds both initdb
// and postgres.
func BinDir() (string, error) {
	if dir := os.Getenv("PGBIN"); dir != "" {
		if hasServerBinaries(dir) {
			return dir, nil
		}
		return "", binariesNotFound("PGBIN=" + dir)
	}
	dirs, err := filepath.Glob(debianBinGlob)
	if err != nil {
		return "", fmt.Errorf("find postgresql binaries: %w", err)
	}
	best, bestVer := "", -1.0
	for _, d := range dirs {
		if !hasServerBinaries(d) {
			continue
		}
		if v := majorVersion(d); v > bestVer {
			best, bestVer = d, v
		}
	}
	if best == "" {
		return "", binariesNotFound(debianBinGlob)
	}
	return best, nil
}

func binariesNotFound(where string) error {
	return errors.New("PostgreSQL server binaries not found (looked in " + where +
		"): install them with `apt-get install -y postgresql` or set PGBIN.")
}

// majorVersion parses the version directory above bin ("15", "9.6"); an
// unparsable name sorts below every real version.
func majorVersion(binDir string) float64 {
	v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	if err != nil {
		return 0
	}
	return v
}

func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Another
// process may take it before the caller binds it; Start retries for that.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	return p, nil
}

// envWith returns env with each key=value of set replacing any earlier
// entry of that key.
func envWith(env []string, set ...string) []string {
	out := make([]string, 0, len(env)+len(set))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for _, s := range set {
			if sk, _, _ := strings.Cut(s, "="); sk == k {
				replaced = true
				break
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return append(out, set...)
}
