package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
)

// pebble is an ACME CA running in-process behind an httptest TLS server,
// validating against ports on 127.0.0.1 through a DNS server that maps
// every name there.
type pebble struct {
	dirURL string         // ACME directory
	caRoot string         // PEM file of the HTTPS server's certificate (acme_ca_root)
	roots  *x509.CertPool // the root that signs issued certificates
	orders atomic.Int64   // new-order requests seen
	logs   *syncBuffer
}

// startPebble starts a CA whose validation authority connects to httpPort
// (HTTP-01) and tlsPort (TLS-ALPN-01) and which issues certificates valid
// for validity seconds.
func startPebble(t *testing.T, httpPort, tlsPort int, validity uint64) *pebble {
	t.Helper()
	// Deterministic and quick: no random validation sleeps, no bad-nonce
	// injection, no reuse of earlier authorizations.
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	t.Setenv("PEBBLE_AUTHZREUSE", "0")

	p := &pebble{logs: &syncBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pebble log:\n%s", p.logs.tail(8000))
		}
	})
	logger := log.New(p.logs, "pebble ", log.Lmicroseconds)
	resolver := startFakeDNS(t)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{
		"default": {Description: "test profile", ValidityPeriod: validity},
	})
	validator := va.New(logger, httpPort, tlsPort, false, resolver, store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.test"}, false, false, 0, 0)
	api := front.Handler()

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/order-plz" {
			p.orders.Add(1)
		}
		api.ServeHTTP(w, r)
	}))
	srv.Config.ErrorLog = log.New(p.logs, "pebble-http ", log.Lmicroseconds)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	p.dirURL = srv.URL + wfe.DirectoryPath

	p.caRoot = filepath.Join(t.TempDir(), "pebble-https.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(p.caRoot, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	p.roots = x509.NewCertPool()
	p.roots.AddCert(authority.GetRootCert(0).Cert)
	return p
}

// startFakeDNS serves DNS over TCP on 127.0.0.1 (Pebble's VA asks over
// TCP): A records say 127.0.0.1 for every name, other types are empty.
func startFakeDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				serveDNS(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// serveDNS answers length-prefixed queries on c until it closes.
func serveDNS(c net.Conn) {
	for range 64 {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		var n uint16
		if err := binary.Read(c, binary.BigEndian, &n); err != nil {
			return
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		var q dns.Msg
		if err := q.Unpack(buf); err != nil {
			return
		}
		r := new(dns.Msg)
		r.SetReply(&q)
		for _, qq := range q.Question {
			if qq.Qtype == dns.TypeA {
				r.Answer = append(r.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1},
					A:   net.IPv4(127, 0, 0, 1),
				})
			}
		}
		out, err := r.Pack()
		if err != nil {
			return
		}
		if err := binary.Write(c, binary.BigEndian, uint16(len(out))); err != nil {
			return
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tail returns at most the last n bytes written.
func (s *syncBuffer) tail(n int) string {
	str := s.String()
	if len(str) > n {
		return "..." + str[len(str)-n:]
	}
	return str
}
