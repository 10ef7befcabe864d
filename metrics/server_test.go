package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// newClient returns a client whose connections the test closes, so that
// none of its goroutines is mistaken for the server's.
func newClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true},
		Timeout:   10 * time.Second,
	}
}

func TestListenServesAndShutdownLeavesNothing(t *testing.T) {
	defer goleak.VerifyNone(t)

	s, err := Listen("127.0.0.1:0", fullSource(), nil)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	addr := s.Addr().String()
	if strings.HasSuffix(addr, ":0") {
		t.Fatalf("Addr = %s, want the bound port", addr)
	}
	base := "http://" + addr
	c := newClient()
	if code, body := get(t, c, http.MethodGet, base+"/healthz"); code != http.StatusOK || body != "ok" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, _ := get(t, c, http.MethodGet, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d, want 200", code)
	}
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	fams := parseText(t, resp.Body)
	resp.Body.Close()
	if got := value(t, fams, "pgbun_server_connects_total", counter, lbl{}); got != 20 {
		t.Errorf("pgbun_server_connects_total = %v, want 20", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Fatal("still accepting after Shutdown")
	}
}

func TestShutdownClosesIdleConnections(t *testing.T) {
	defer goleak.VerifyNone(t)

	s, err := Listen("127.0.0.1:0", fullSource(), nil)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	// A kept-alive connection stays open after the request.
	if code, _ := get(t, c, http.MethodGet, "http://"+s.Addr().String()+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with an idle connection: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %v with only an idle connection", d)
	}
}

func TestShutdownCutsOffHungScrape(t *testing.T) {
	defer goleak.VerifyNone(t)

	src := fullSource()
	entered, release := src.blockPools(t, 1)
	s, err := Listen("127.0.0.1:0", src, nil)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	scrapeErr := make(chan error, 1)
	go func() {
		resp, err := newClient().Get("http://" + s.Addr().String() + "/metrics")
		if err == nil {
			resp.Body.Close()
		}
		scrapeErr <- err
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("scrape did not reach the source")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = s.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a hung scrape = %v, want the context's deadline", err)
	}
	select {
	case err := <-scrapeErr:
		if err == nil {
			t.Error("hung scrape got an answer, want its connection closed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("hung scrape's connection was not closed")
	}
	// The handler goroutine returns once the source does.
	release()
}

func TestListenErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer taken.Close()
	for _, addr := range []string{taken.Addr().String(), "127.0.0.1:notaport", "127.0.0.1"} {
		s, err := Listen(addr, fullSource(), nil)
		if err == nil {
			s.Shutdown(context.Background())
			t.Errorf("Listen(%q) succeeded, want an error", addr)
			continue
		}
		if !strings.Contains(err.Error(), "metrics: listen on "+addr) {
			t.Errorf("Listen(%q) error %q lacks context", addr, err)
		}
	}
}
