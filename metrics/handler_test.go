package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgbun/pgbun/internal/snapshot"
)

func get(t *testing.T, c *http.Client, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, string(body)
}

func TestHealthAndReadiness(t *testing.T) {
	src := fullSource()
	src.setReady(false)
	srv := httptest.NewServer(NewHandler(src))
	defer srv.Close()
	c := srv.Client()

	if code, body := get(t, c, http.MethodGet, srv.URL+"/healthz"); code != http.StatusOK || body != "ok" {
		t.Errorf("/healthz = %d %q, want 200 \"ok\"", code, body)
	}
	if code, _ := get(t, c, http.MethodGet, srv.URL+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while not ready = %d, want 503", code)
	}
	// Not ready is no reason to stop answering liveness probes.
	if code, _ := get(t, c, http.MethodGet, srv.URL+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while not ready = %d, want 200", code)
	}
	src.setReady(true)
	if code, body := get(t, c, http.MethodGet, srv.URL+"/readyz"); code != http.StatusOK || body != "ready" {
		t.Errorf("/readyz while ready = %d %q, want 200 \"ready\"", code, body)
	}
	if code, _ := get(t, c, http.MethodHead, srv.URL+"/readyz"); code != http.StatusOK {
		t.Errorf("HEAD /readyz = %d, want 200", code)
	}
	src.setReady(false)
	if code, _ := get(t, c, http.MethodGet, srv.URL+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz after readiness was lost = %d, want 503", code)
	}
}

func TestRoutes(t *testing.T) {
	srv := httptest.NewServer(NewHandler(fullSource()))
	defer srv.Close()
	c := srv.Client()
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/metrics", http.StatusOK},
		{http.MethodPost, "/metrics", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/healthz", http.StatusMethodNotAllowed},
		{http.MethodGet, "/", http.StatusNotFound},
		{http.MethodGet, "/metrics/extra", http.StatusNotFound},
		{http.MethodGet, "/debug/pprof/", http.StatusNotFound},
	}
	for _, tc := range tests {
		if code, _ := get(t, c, tc.method, srv.URL+tc.path); code != tc.want {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, code, tc.want)
		}
	}
}

func TestConcurrentScrapesWhileStateChanges(t *testing.T) {
	src := fullSource()
	srv := httptest.NewServer(NewHandler(src))
	defer srv.Close()

	const scrapers, rounds = 3, 5
	var wg sync.WaitGroup
	errs := make(chan string, scrapers*rounds)
	for range scrapers {
		wg.Go(func() {
			for range rounds {
				resp, err := srv.Client().Get(srv.URL + "/metrics")
				if err != nil {
					errs <- err.Error()
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "pgbun_pool_clients") {
					errs <- "bad scrape: " + resp.Status
				}
			}
		})
	}
	for i := range rounds * 4 {
		src.mu.Lock()
		src.pools = append([]snapshot.Pool(nil), src.pools...)
		src.pools = append(src.pools, snapshot.Pool{Database: "db", User: string(rune('a' + i)), ClActive: i})
		src.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestScrapeConcurrencyIsBounded(t *testing.T) {
	src := fullSource()
	entered, release := src.blockPools(t, maxScrapes)
	srv := httptest.NewServer(NewHandler(src))
	defer srv.Close()

	var wg sync.WaitGroup
	codes := make(chan int, maxScrapes)
	for range maxScrapes {
		wg.Go(func() {
			resp, err := srv.Client().Get(srv.URL + "/metrics")
			if err != nil {
				codes <- 0
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes <- resp.StatusCode
		})
	}
	timeout := time.After(10 * time.Second)
	for range maxScrapes {
		select {
		case <-entered:
		case <-timeout:
			t.Fatal("scrapes did not reach the source")
		}
	}
	if code, _ := get(t, srv.Client(), http.MethodGet, srv.URL+"/metrics"); code != http.StatusServiceUnavailable {
		t.Errorf("scrape beyond the limit = %d, want 503", code)
	}
	// Health probes are not scrapes and stay answered.
	if code, _ := get(t, srv.Client(), http.MethodGet, srv.URL+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz during scrapes = %d, want 200", code)
	}
	release()
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusOK {
			t.Errorf("held scrape = %d, want 200", code)
		}
	}
}
