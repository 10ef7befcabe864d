package cluster

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// makeClusterDir creates tmp/name with a data directory and, unless owner is
// empty, an owner file holding owner.
func makeClusterDir(t *testing.T, tmp, name, owner string) string {
	t.Helper()
	dir := filepath.Join(tmp, name)
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if owner != "" {
		if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(owner+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// selfOwner returns the current process's owner fields.
func selfOwner(t *testing.T) []string {
	t.Helper()
	id, ok := ownerID(os.Getpid())
	if !ok {
		t.Fatal("ownerID of the current process failed")
	}
	return strings.Fields(id)
}

// deadOwner returns an owner line for a process that has exited.
func deadOwner(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	f := selfOwner(t)
	f[0], f[1] = strconv.Itoa(cmd.Process.Pid), "1"
	return strings.Join(f, " ")
}

func TestSweepStale(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	self := selfOwner(t)
	with := func(i int, v string) string {
		f := append([]string(nil), self...)
		f[i] = v
		return strings.Join(f, " ")
	}
	dead := deadOwner(t)

	// A process whose command line names a data directory stands in for a
	// postmaster that survived its owner.
	runningDir := makeClusterDir(t, tmp, tempPrefix+"running", dead)
	sh := exec.Command("/bin/sh", "-c", "sleep 60", filepath.Join(runningDir, "data"))
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sh.Process.Kill()
		sh.Wait()
	})
	if err := os.WriteFile(filepath.Join(runningDir, "data", "postmaster.pid"),
		[]byte(strconv.Itoa(sh.Process.Pid)+"\n"+runningDir+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	keep := []string{
		runningDir,
		makeClusterDir(t, tmp, tempPrefix+"alive", strings.Join(self, " ")),
		makeClusterDir(t, tmp, tempPrefix+"no-owner", ""),
		makeClusterDir(t, tmp, tempPrefix+"garbled", "not an owner line"),
		makeClusterDir(t, tmp, tempPrefix+"other-ns", with(2, "pid:[1]")),
		makeClusterDir(t, tmp, "unrelated-dir", dead),
	}
	remove := []string{
		makeClusterDir(t, tmp, tempPrefix+"dead", dead),
		makeClusterDir(t, tmp, tempPrefix+"pid-reused", with(1, "1")),
		makeClusterDir(t, tmp, tempPrefix+"old-boot", with(3, "00000000-0000-0000-0000-000000000000")),
	}
	// A dead owner whose postmaster.pid names a process that is not its
	// server (the pid was reused) does not keep the directory.
	reused := makeClusterDir(t, tmp, tempPrefix+"reused-postmaster-pid", dead)
	if err := os.WriteFile(filepath.Join(reused, "data", "postmaster.pid"),
		[]byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	remove = append(remove, reused)

	sweepStale(tmp)
	for _, d := range keep {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(d), err)
		}
	}
	for _, d := range remove {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was kept: %v", filepath.Base(d), err)
		}
	}
}

func TestClusterDirRecordsOwner(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(pg.Dir(), ownerFile))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Fields(string(data)), selfOwner(t); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("owner = %q, want %q", got, want)
	}
	if ownerGone(pg.Dir()) {
		t.Error("the running test process is judged gone")
	}
}
