package gateway_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestResumeChannelBinding: a client that keeps a TLS session cache and
// requires channel binding logs in again and again. pgbun issues no
// session ticket, so every connection makes a full handshake and pgbun
// knows the certificate SCRAM-SHA-256-PLUS binds to.
func TestResumeChannelBinding(t *testing.T) {
	p := start(t, setup{})
	for _, v := range []struct {
		name    string
		version uint16
	}{{"TLS1.3", tls.VersionTLS13}, {"TLS1.2", tls.VersionTLS12}} {
		t.Run(v.name, func(t *testing.T) {
			cache := newTicketCache()
			cfg, err := pgx.ParseConfig(p.url(scramUser, scramPass, appDB, "channel_binding", "require"))
			if err != nil {
				t.Fatal(err)
			}
			// Every TLS configuration pgx may dial with shares the cache.
			cfg.TLSConfig.MinVersion, cfg.TLSConfig.MaxVersion = v.version, v.version
			cfg.TLSConfig.ClientSessionCache = cache
			for _, fb := range cfg.Fallbacks {
				if fb.TLSConfig != nil {
					fb.TLSConfig.MinVersion, fb.TLSConfig.MaxVersion = v.version, v.version
					fb.TLSConfig.ClientSessionCache = cache
				}
			}
			for i := 1; i <= 3; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				c, err := pgx.ConnectConfig(ctx, cfg)
				cancel()
				if err != nil {
					t.Fatalf("connection %d with channel_binding=require: %v", i, err)
				}
				cs := clientTLS(t, c)
				user := queryString(t, c, "select current_user")
				c.Close(context.Background())
				if user != scramUser {
					t.Fatalf("connection %d logged in as %q", i, user)
				}
				if cs.Version != v.version {
					t.Fatalf("connection %d negotiated %s", i, tls.VersionName(cs.Version))
				}
				if cs.DidResume {
					t.Fatalf("connection %d resumed a TLS session", i)
				}
			}
			if n := cache.stored(); n != 0 {
				t.Fatalf("the client was given %d session tickets", n)
			}
		})
	}
}

// TestResumeRawHandshake: at the TLS level, a client with a session cache
// gets no ticket from pgbun (TLS 1.3 sends tickets after the handshake, so
// the client reads pgbun's first message before looking), cannot resume,
// and is offered SCRAM-SHA-256-PLUS on every connection.
func TestResumeRawHandshake(t *testing.T) {
	p := start(t, setup{})
	roots := getFixture(t).ca.Pool()
	for _, v := range []struct {
		name    string
		version uint16
	}{{"TLS1.3", tls.VersionTLS13}, {"TLS1.2", tls.VersionTLS12}} {
		t.Run(v.name, func(t *testing.T) {
			cache := newTicketCache()
			cfg := &tls.Config{
				ServerName:         "localhost",
				RootCAs:            roots,
				MinVersion:         v.version,
				MaxVersion:         v.version,
				NextProtos:         []string{"postgresql"},
				ClientSessionCache: cache,
			}
			for i := 1; i <= 2; i++ {
				cs, mechs, err := rawLoginStart(p.port, cfg)
				if err != nil {
					t.Fatalf("connection %d: %v", i, err)
				}
				if !slices.Contains(mechs, "SCRAM-SHA-256-PLUS") {
					t.Errorf("connection %d offered %q, without SCRAM-SHA-256-PLUS", i, mechs)
				}
				if cs.DidResume {
					t.Fatalf("connection %d resumed a TLS session", i)
				}
			}
			if n := cache.stored(); n != 0 {
				t.Fatalf("the client was given %d session tickets", n)
			}
		})
	}
}

// rawLoginStart sends SSLRequest, makes a TLS handshake with cfg and
// sends a startup packet for scramUser on appDB. It returns the TLS state
// and the SASL mechanisms pgbun offers, then hangs up.
func rawLoginStart(port int, cfg *tls.Config) (tls.ConnectionState, []string, error) {
	var cs tls.ConnectionState
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second)
	if err != nil {
		return cs, nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	// SSLRequest: length 8, code 80877103.
	if _, err := conn.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}); err != nil {
		return cs, nil, err
	}
	answer := make([]byte, 1)
	if _, err := io.ReadFull(conn, answer); err != nil {
		return cs, nil, err
	}
	if answer[0] != 'S' {
		return cs, nil, fmt.Errorf("SSLRequest answered %q", answer)
	}
	tc := tls.Client(conn, cfg)
	if err := tc.Handshake(); err != nil {
		return cs, nil, fmt.Errorf("handshake: %w", err)
	}
	cs = tc.ConnectionState()
	// Startup packet, protocol 3.0.
	startup := []byte{0, 0, 0, 0, 0, 3, 0, 0}
	for _, s := range []string{"user", scramUser, "database", appDB} {
		startup = append(append(startup, s...), 0)
	}
	startup = append(startup, 0)
	binary.BigEndian.PutUint32(startup, uint32(len(startup)))
	if _, err := tc.Write(startup); err != nil {
		return cs, nil, err
	}
	// Reading the answer also reads whatever pgbun sent before it.
	head := make([]byte, 5)
	if _, err := io.ReadFull(tc, head); err != nil {
		return cs, nil, fmt.Errorf("read authentication request: %w", err)
	}
	n := int(binary.BigEndian.Uint32(head[1:]))
	if head[0] != 'R' || n < 8 || n > 1024 {
		return cs, nil, fmt.Errorf("unexpected message %q, length %d", head[0], n)
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(tc, body); err != nil {
		return cs, nil, err
	}
	if code := binary.BigEndian.Uint32(body); code != 10 {
		return cs, nil, fmt.Errorf("authentication request %d, not SASL", code)
	}
	var mechs []string
	for _, m := range bytes.Split(body[4:], []byte{0}) {
		if len(m) > 0 {
			mechs = append(mechs, string(m))
		}
	}
	return cs, mechs, nil
}

// ticketCache is a client session cache that counts the sessions (TLS
// tickets) it was given to keep.
type ticketCache struct {
	tls.ClientSessionCache
	mu sync.Mutex
	n  int
}

func newTicketCache() *ticketCache {
	return &ticketCache{ClientSessionCache: tls.NewLRUClientSessionCache(8)}
}

func (c *ticketCache) Put(key string, cs *tls.ClientSessionState) {
	if cs != nil {
		c.mu.Lock()
		c.n++
		c.mu.Unlock()
	}
	c.ClientSessionCache.Put(key, cs)
}

func (c *ticketCache) stored() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
