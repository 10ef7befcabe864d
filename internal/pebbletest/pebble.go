package pebbletest

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"

	"github.com/pgbun/pgbun/internal/pgtest"
)

// newOrderPath is where Pebble's API takes new orders (RFC 8555 7.4);
// the wfe package does not export it.
const newOrderPath = "/order-plz"

// maxOrderBody bounds what is read of a new-order request to see its
// names; ACME clients send a few hundred bytes.
const maxOrderBody = 1 << 20

// defaultValidity is the lifetime of issued certificates when Options
// leaves it zero: Let's Encrypt's 90 days.
const defaultValidity = 90 * 24 * time.Hour

// logTail is how much of Pebble's log a failed test prints.
const logTail = 8000

// Options says where Pebble validates and what it issues.
type Options struct {
	// HTTPPort is the port on 127.0.0.1 to which HTTP-01 validations
	// connect (certmagic's AltHTTPPort, pgbun's acme_http_listen port).
	// Zero points them at port 0, where no validation can succeed.
	HTTPPort int
	// TLSPort is the port on 127.0.0.1 to which TLS-ALPN-01 validations
	// connect (pgbun's acme_tls_alpn_port). Zero as for HTTPPort.
	TLSPort int
	// Validity is the lifetime of issued certificates, in whole seconds.
	// Zero means 90 days.
	Validity time.Duration
}

// Server is a running Pebble. Start builds it; it stops when the test
// ends.
type Server struct {
	dirURL string
	caRoot string
	roots  *x509.CertPool
	logs   *pgtest.LogBuffer

	mu     sync.Mutex
	orders [][]string // names asked for by each new-order request
}

// Start runs Pebble for the rest of the test t: its ACME API over HTTPS
// on 127.0.0.1, its validation authority resolving names through a fresh
// StartDNS server. Pebble's log is printed through t when t fails.
func Start(t TB, o Options) *Server {
	t.Helper()
	validity := o.Validity
	if validity == 0 {
		validity = defaultValidity
	}
	if validity < time.Second || validity%time.Second != 0 {
		t.Fatalf("pebbletest: validity %v is not a whole number of seconds", validity)
	}
	// Read by va.New and wfe.New below: validate at once, reject no nonce
	// on purpose, validate every order anew.
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	t.Setenv("PEBBLE_AUTHZREUSE", "0")

	s := &Server{logs: &pgtest.LogBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pebble log:\n%s", s.logs.Tail(logTail))
		}
	})
	logger := log.New(s.logs, "pebble ", log.Lmicroseconds)
	resolver := StartDNS(t)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{
		"default": {Description: "pebbletest", ValidityPeriod: uint64(validity / time.Second)},
	})
	validator := va.New(logger, o.HTTPPort, o.TLSPort, false, resolver, store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.test"}, false, false, 0, 0)
	api := front.Handler()

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == newOrderPath {
			s.recordOrder(r)
		}
		api.ServeHTTP(w, r)
	}))
	srv.Config.ErrorLog = log.New(s.logs, "pebble-http ", log.Lmicroseconds)
	// One connection per request: an ACME client's idle keep-alive
	// connections would otherwise keep goroutines on both ends alive
	// after the client stopped, until the test's cleanup closes Pebble,
	// which runs after the leak checks of servers started later.
	srv.Config.SetKeepAlivesEnabled(false)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s.dirURL = srv.URL + wfe.DirectoryPath

	s.caRoot = filepath.Join(t.TempDir(), "pebble-https.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(s.caRoot, pemBytes, 0o644); err != nil {
		t.Fatalf("pebbletest: write the HTTPS root: %v", err)
	}
	s.roots = x509.NewCertPool()
	for i := range authority.GetNumberOfRootCerts() {
		s.roots.AddCert(authority.GetRootCert(i).Cert)
	}
	return s
}

// DirectoryURL is the ACME directory (acme_ca).
func (s *Server) DirectoryURL() string { return s.dirURL }

// CARootFile is a PEM file holding the certificate of Pebble's HTTPS
// server, the only root an ACME client needs to talk to it
// (acme_ca_root). It is removed when the test ends.
func (s *Server) CARootFile() string { return s.caRoot }

// Roots holds the roots that sign the certificates Pebble issues. They are
// made anew by every Start, so only this Server's certificates verify.
func (s *Server) Roots() *x509.CertPool { return s.roots }

// Orders is the number of new-order requests received, whatever became
// of them.
func (s *Server) Orders() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.orders)
}

// OrderedNames lists the identifiers named by every new-order request,
// in arrival order, repeats included.
func (s *Server) OrderedNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, o := range s.orders {
		out = append(out, o...)
	}
	return out
}

// recordOrder notes a new-order request and the names it asks for, and
// leaves r's body for Pebble to read. A body that does not decode is
// still counted, with no names: Pebble will answer it with an error.
func (s *Server) recordOrder(r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxOrderBody))
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	var names []string
	if err == nil {
		names = orderNames(body)
	}
	s.mu.Lock()
	s.orders = append(s.orders, names)
	s.mu.Unlock()
}

// orderNames decodes the identifiers of a new-order request: a JWS in
// flattened JSON form (RFC 8555 6.2) whose payload is the order object.
// The signature is Pebble's to check.
func orderNames(body []byte) []string {
	var jws struct {
		Payload string `json:"payload"`
	}
	if json.Unmarshal(body, &jws) != nil {
		return nil
	}
	payload, err := base64.RawURLEncoding.DecodeString(jws.Payload)
	if err != nil {
		return nil
	}
	var order struct {
		Identifiers []struct {
			Value string `json:"value"`
		} `json:"identifiers"`
	}
	if json.Unmarshal(payload, &order) != nil {
		return nil
	}
	names := make([]string, 0, len(order.Identifiers))
	for _, id := range order.Identifiers {
		names = append(names, id.Value)
	}
	return names
}
