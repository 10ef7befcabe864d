package config

import (
	"strings"
	"testing"
)

func TestWithAndKeepUnreloadable(t *testing.T) {
	c := Default()
	n, err := With(c, "default_pool_size", "7")
	if err != nil || n.General.DefaultPoolSize != 7 || c.General.DefaultPoolSize == 7 {
		t.Fatalf("With: %v %d", err, n.General.DefaultPoolSize)
	}
	if _, err := With(c, "listen_port", "7000"); err == nil || !strings.Contains(err.Error(), "restart") {
		t.Fatalf("listen_port at run time: %v", err)
	}
	if _, err := With(c, "default_pool_size", "many"); err == nil {
		t.Fatal("bad value accepted")
	}
	if _, err := With(c, "no_such_key", "1"); err == nil {
		t.Fatal("unknown key accepted")
	}
	next := *c
	next.General.ListenPort = 7000
	next.General.DefaultPoolSize = 9
	held := KeepUnreloadable(c, &next)
	if len(held) != 1 || held[0] != "listen_port" || next.General.ListenPort != c.General.ListenPort || next.General.DefaultPoolSize != 9 {
		t.Fatalf("held %v, port %d, pool %d", held, next.General.ListenPort, next.General.DefaultPoolSize)
	}
	var found bool
	for _, s := range Settings(c) {
		if s.Key == "default_pool_size" && s.Value == "25" && s.Default == "20" && s.Reloadable {
			found = true
		}
	}
	if !found {
		t.Fatal("Settings lacks default_pool_size")
	}
}

// TestWithTLSKeysOneAtATime: console SET takes a TLS pair one key at a
// time, key first, as PgBouncer does; TLS to clients can be required only
// once both are there.
func TestWithTLSKeysOneAtATime(t *testing.T) {
	c := Default()
	c, err := With(c, "client_tls_key_file", "/tls/key")
	if err != nil {
		t.Fatalf("key first: %v", err)
	}
	if _, err := With(c, "client_tls_sslmode", "require"); err == nil {
		t.Fatal("require with half a pair accepted")
	}
	if c, err = With(c, "client_tls_cert_file", "/tls/crt"); err != nil {
		t.Fatalf("cert second: %v", err)
	}
	if _, err := With(c, "client_tls_sslmode", "require"); err != nil {
		t.Fatalf("require with the pair: %v", err)
	}
	if _, err := With(Default(), "server_tls_key_file", "/tls/key"); err != nil {
		t.Fatalf("server key first: %v", err)
	}
}
