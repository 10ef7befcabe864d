// Package pebbletest runs Pebble, the ACME test CA, inside the test
// process, so that pgbun's ACME code can obtain, renew and refuse real
// certificates over loopback without any network.
//
// Start serves Pebble's ACME API behind an HTTPS httptest server and
// points its validation authority at a fake DNS server (StartDNS) that
// resolves every name to 127.0.0.1, so any DNS name a test chooses is
// validated against the test's own ports: HTTP-01 on Options.HTTPPort,
// TLS-ALPN-01 on Options.TLSPort. Validations happen at once (no random
// sleeps), no nonce is rejected on purpose, and no authorization is
// reused, so every order is validated again and tests are deterministic.
// A Server gives the directory URL for the ACME client, a PEM file of its
// HTTPS certificate (pgbun's acme_ca_root), the roots that sign issued
// certificates (for clients that verify them), and the new-order requests
// it received (for tests asserting that nothing was ordered).
//
// Nothing here imports package testing: functions take a TB, which
// *testing.T satisfies, and register their shutdown with its Cleanup.
// Start sets Pebble's environment variables with TB.Setenv, so it cannot
// be used from parallel tests. Pebble's validation queue goroutine
// (va.VAImpl.processTasks) has no stop and outlives the Server; leak
// checks must ignore it. Methods of Server are safe for concurrent use.
package pebbletest
