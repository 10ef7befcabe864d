package cluster

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestBinDirErrorNamesTheFix(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PGBIN", dir)
	_, err := BinDir()
	if err == nil {
		t.Fatal("BinDir succeeded with an empty PGBIN directory")
	}
	want := "PostgreSQL server binaries not found (looked in PGBIN=" + dir +
		"): install them with `apt-get install -y postgresql` or set PGBIN."
	if err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}
	// Start reports the same error before touching anything.
	if _, err := Start(t.Context(), Options{}); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Start error = %v, want it to contain %q", err, want)
	}
}

func TestBinDirHonoursPGBIN(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"initdb", "postgres"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PGBIN", dir)
	got, err := BinDir()
	if err != nil {
		t.Fatal(err)
	}
	if got != dir {
		t.Errorf("BinDir = %q, want %q", got, dir)
	}
	// Without the execute bit the binaries do not count.
	if err := os.Chmod(filepath.Join(dir, "postgres"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := BinDir(); err == nil {
		t.Error("BinDir accepted a non-executable postgres")
	}
}

func TestBinDirDefaultHoldsServerBinaries(t *testing.T) {
	t.Setenv("PGBIN", "")
	dir, err := BinDir()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dir, "/usr/lib/postgresql/") || !hasServerBinaries(dir) {
		t.Errorf("BinDir = %q", dir)
	}
}

func TestMajorVersionOrder(t *testing.T) {
	t.Parallel()
	v96 := majorVersion("/usr/lib/postgresql/9.6/bin")
	v15 := majorVersion("/usr/lib/postgresql/15/bin")
	v17 := majorVersion("/usr/lib/postgresql/17/bin")
	bad := majorVersion("/usr/lib/postgresql/devel/bin")
	if !(bad < v96 && v96 < v15 && v15 < v17) {
		t.Errorf("order wrong: devel=%v 9.6=%v 15=%v 17=%v", bad, v96, v15, v17)
	}
}

func TestFreePortIsBindable(t *testing.T) {
	t.Parallel()
	p, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	if p <= 0 || p > 65535 {
		t.Fatalf("port %d out of range", p)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		t.Fatalf("bind returned port: %v", err)
	}
	l.Close()
}

func TestAsPostgres(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("/bin/sh", "-c", `echo "$(id -u) $(id -g) $HOME $USER $(pwd)"`)
	cmd.Env = []string{"HOME=/nonexistent", "USER=someone", "KEEP=1"}
	if err := AsPostgres(cmd); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	fields := strings.Fields(string(out))
	if os.Geteuid() != 0 {
		if cmd.SysProcAttr != nil {
			t.Error("AsPostgres changed the command for a non-root caller")
		}
		return
	}
	u, err := postgresUser()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{strconv.Itoa(int(u.uid)), strconv.Itoa(int(u.gid)), u.home, "postgres", u.home}
	if strings.Join(fields, " ") != strings.Join(want, " ") {
		t.Errorf("child saw %q, want %q", fields, want)
	}
	if !strings.Contains(strings.Join(cmd.Env, "\n"), "KEEP=1") {
		t.Error("AsPostgres dropped an unrelated environment variable")
	}
	if strings.Contains(strings.Join(cmd.Env, "\n"), "HOME=/nonexistent") {
		t.Error("AsPostgres kept the old HOME")
	}
}

func TestEnvWith(t *testing.T) {
	t.Parallel()
	got := envWith([]string{"A=1", "B=2", "AB=3"}, "B=x", "C=y")
	want := "A=1 AB=3 B=x C=y"
	if strings.Join(got, " ") != want {
		t.Errorf("envWith = %v, want %s", got, want)
	}
}
