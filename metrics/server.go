package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Timeouts of the metrics listener. Scrapes and probes are small requests
// from monitoring systems; the limits keep idle or slow peers from holding
// connections and goroutines.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 16 << 10
)

// Server is a running metrics listener. Its methods are safe for concurrent
// use.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{} // closed when the serving goroutine has returned
}

// Listen binds addr (host:port; port 0 picks a free one) now, so that a bad
// address fails at startup, and serves NewHandler(src) on it in a goroutine
// until Shutdown. A nil log discards the listener's messages.
func Listen(addr string, src Source, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	s := &Server{
		srv: &http.Server{
			Handler:           newHandler(src, log),
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		ln:   ln,
		done: make(chan struct{}),
	}
	go s.serve(log)
	log.Info("metrics: listening", "addr", ln.Addr().String())
	return s, nil
}

func (s *Server) serve(log *slog.Logger) {
	defer close(s.done)
	// Serve returns ErrServerClosed once Shutdown or Close has begun; any
	// other error means the listener broke and the endpoint is gone.
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		log.Error("metrics: serve stopped", "addr", s.ln.Addr().String(), "err", err)
	}
}

// Addr is the address the server listens on, with the port chosen when
// Listen was given port 0.
func (s *Server) Addr() net.Addr {
	return s.ln.Addr()
}

// Shutdown stops accepting, lets requests in progress finish until ctx is
// done, then closes whatever connections remain, and returns once the
// serving goroutine has exited. It returns ctx's error if requests had to
// be cut off; a request stuck inside a Source call then ends when that call
// returns, as no goroutine can be stopped from outside. Calling it again is
// harmless.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		// The deadline passed with requests still running: close their
		// connections so that no goroutine outlives the server.
		if cerr := s.srv.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		err = fmt.Errorf("metrics: shutdown: %w", err)
	}
	<-s.done
	return err
}
