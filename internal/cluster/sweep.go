package cluster

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pgbun/pgbun/internal/localca"
)

// A cluster directory outlives its creator when that process dies without
// calling Stop (SIGKILL, a test binary's timeout, the fuzzing engine ending a
// worker). The kernel then stops the server (Pdeathsig), but nobody removes
// the files. Each directory therefore records its creator in ownerFile, and
// Start removes the directories of creators that are gone.

const (
	tempPrefix = "pgbun-pg-"
	ownerFile  = "owner"
)

// ownerID identifies the current process across pid reuse and reboots: pid,
// start time in clock ticks since boot, pid namespace and boot id. A
// directory whose owner sits in another pid namespace (a container sharing
// the temporary directory) is never judged, because its pid means nothing
// here.
func ownerID(pid int) (string, bool) {
	start, ok := processStart(pid)
	if !ok {
		return "", false
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return "", false
	}
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", false
	}
	return strconv.Itoa(pid) + " " + start + " " + ns + " " + strings.TrimSpace(string(boot)), true
}

// writeOwner records the current process as the creator of dir. Where /proc
// is unavailable it writes nothing, and the directory is never swept.
func writeOwner(dir string) error {
	id, ok := ownerID(os.Getpid())
	if !ok {
		return nil
	}
	return localca.WriteFileMode(filepath.Join(dir, ownerFile), []byte(id+"\n"), 0o644)
}

// sweepStale removes the cluster directories in tmp whose creator has exited
// and whose server is not running. It is best effort: anything it cannot
// read or judge is left alone.
func sweepStale(tmp string) {
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		dir := filepath.Join(tmp, e.Name())
		if ownerGone(dir) && !postmasterRunning(filepath.Join(dir, "data")) {
			_ = os.RemoveAll(dir)
		}
	}
}

// ownerGone reports whether dir's recorded creator is known to have exited.
func ownerGone(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		return false
	}
	f := strings.Fields(string(data))
	if len(f) != 4 {
		return false
	}
	self, ok := ownerID(os.Getpid())
	if !ok {
		return false
	}
	sf := strings.Fields(self)
	if f[2] != sf[2] {
		return false // another pid namespace
	}
	if f[3] != sf[3] {
		return true // recorded before the last boot
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return false
	}
	start, alive := processStart(pid)
	return !alive || start != f[1]
}

// postmasterRunning reports whether the server named in dataDir's
// postmaster.pid still runs on that data directory.
func postmasterRunning(dataDir string) bool {
	data, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return false
	}
	line, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return false
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	return bytes.Contains(cmdline, []byte(dataDir))
}

// processStart returns the start time of pid (field 22 of /proc/pid/stat, in
// clock ticks since boot); ok is false if the process does not exist or is a
// zombie.
func processStart(pid int) (start string, ok bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", false
	}
	// The fields after the parenthesised command start at field 3 (state).
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return "", false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 20 || f[0] == "Z" {
		return "", false
	}
	return f[19], true
}
