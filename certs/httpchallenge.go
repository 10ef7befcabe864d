package certs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/caddyserver/certmagic"
)

// httpResponder answers HTTP-01 validations on its own listener: the
// challenges this instance started (kept in memory) and those of other
// instances sharing the storage. Every other request gets 404.
type httpResponder struct {
	srv  *http.Server
	done chan struct{}
}

func startHTTPResponder(addr string, iss *certmagic.ACMEIssuer, log *slog.Logger) (*httpResponder, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("acme_http_listen: %w", err)
	}
	h := &httpResponder{
		srv: &http.Server{
			Handler: iss.HTTPChallengeHandler(http.NotFoundHandler()),
			// The only legitimate client sends one small GET: keep
			// anyone else from holding connections open.
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      10 * time.Second,
			IdleTimeout:       30 * time.Second,
			MaxHeaderBytes:    8 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(h.done)
		if err := h.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("acme http-01 responder stopped", "addr", addr, "err", err)
		}
	}()
	log.Info("acme http-01 responder listening", "addr", ln.Addr().String())
	return h, nil
}

// stop closes the listener, lets requests in flight finish for a moment,
// then closes what is left and waits for the server goroutine.
func (h *httpResponder) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		h.srv.Close()
	}
	<-h.done
}
