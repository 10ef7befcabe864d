package pebbletest

import "net"

// TB is the part of testing.TB the harness uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Failed() bool
	Cleanup(func())
	Setenv(key, value string)
	TempDir() string
}

// FreePort returns a TCP port that was free on 127.0.0.1 a moment ago,
// for a server whose port the CA (or a configuration file) must know
// before the server starts.
func FreePort(t TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pebbletest: reserve a port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
