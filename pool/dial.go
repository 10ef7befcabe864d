package pool

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/internal/rawio"
	"github.com/pgbun/pgbun/internal/sockopt"
	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/tlsconf"
)

// Dialer opens logged-in server connections for one pool.
type Dialer struct {
	// Hosts are host names, IP addresses or Unix socket directories
	// (starting with "/"); tried in order, or rotated per dial when
	// RoundRobin is set.
	Hosts      []string
	Port       int
	RoundRobin bool
	TLS        *tlsconf.Server // nil = no TLS
	Timeout    time.Duration   // per attempt: connect, TLS and login
	// UserTimeout is tcp_user_timeout for server connections (0 = kernel's).
	UserTimeout time.Duration
	// Startup holds the startup packet parameters (user, database, and
	// any of client_encoding, DateStyle, TimeZone, application_name).
	Startup map[string]string
	// ConnectQuery runs once on every new connection when not empty.
	ConnectQuery string

	next atomic.Uint32
}

// Authenticator answers a server's authentication requests for one login.
type Authenticator interface {
	// Respond gets the body of an Authentication message other than
	// AuthenticationOk and returns the encoded message(s) to send back,
	// or nil to send nothing (e.g. after AuthenticationSASLFinal).
	Respond(req []byte, tls *tls.ConnectionState) ([]byte, error)
}

// LoginError is a refusal by the server itself (an ErrorResponse during
// login); the client should see it as is.
type LoginError struct {
	Addr string
	Err  *wire.Error
}

func (e *LoginError) Error() string { return fmt.Sprintf("server %s refused login: %v", e.Addr, e.Err) }
func (e *LoginError) Unwrap() error { return e.Err }

// Dial connects and logs in with auth, adding extra to the startup
// parameters. With several hosts, a host that cannot be reached is
// skipped; a login refusal is final.
func (d *Dialer) Dial(ctx context.Context, auth Authenticator, extra map[string]string) (*Server, error) {
	params := d.Startup
	if len(extra) > 0 {
		params = make(map[string]string, len(d.Startup)+len(extra))
		for k, v := range d.Startup {
			params[k] = v
		}
		for k, v := range extra {
			params[k] = v
		}
	}
	hosts := d.Hosts
	if len(hosts) == 0 {
		hosts = []string{"/tmp"}
	}
	start := 0
	if d.RoundRobin {
		start = int(d.next.Add(1)-1) % len(hosts)
	}
	var errs []error
	for i := range hosts {
		host := hosts[(start+i)%len(hosts)]
		s, err := d.dialHost(ctx, host, auth, params)
		if err == nil {
			return s, nil
		}
		var le *LoginError
		if errors.As(err, &le) || ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func (d *Dialer) dialHost(ctx context.Context, host string, auth Authenticator, params map[string]string) (*Server, error) {
	if d.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.Timeout)
		defer cancel()
	}
	network, addr := "tcp", net.JoinHostPort(host, strconv.Itoa(d.Port))
	if strings.HasPrefix(host, "/") {
		network, addr = "unix", fmt.Sprintf("%s/.s.PGSQL.%d", host, d.Port)
	}
	useTLS := network == "tcp" && d.TLS != nil && d.TLS.Wanted()
	s, err := d.attempt(ctx, network, addr, host, useTLS, auth, params)
	// sslmode=allow: plaintext first, TLS when the server insists on it.
	var le *LoginError
	if err != nil && network == "tcp" && d.TLS != nil && d.TLS.Mode == config.SSLAllow &&
		errors.As(err, &le) && le.Err.Code == wire.CodeInvalidAuthSpec {
		s, err = d.attempt(ctx, network, addr, host, true, auth, params)
	}
	return s, err
}

func (d *Dialer) attempt(ctx context.Context, network, addr, host string, useTLS bool, auth Authenticator, params map[string]string) (*Server, error) {
	var nd net.Dialer
	conn, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	if err := sockopt.UserTimeout(conn, d.UserTimeout); err != nil {
		conn.Close()
		return nil, fmt.Errorf("tcp_user_timeout on %s: %w", addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	s := &Server{
		ID:      serverIDs.Add(1),
		Addr:    addr,
		Network: network,
		Host:    host,
		conn:    rawio.Wrap(conn),
		raw:     conn,
		Created: time.Now(),
	}
	s.cancel = d.cancelDialer(network, addr, host, useTLS)
	if useTLS {
		if err := s.startTLS(d.TLS, host); err != nil {
			conn.Close()
			return nil, err
		}
	}
	s.br = bufio.NewReaderSize(s.conn, 16384)
	if err := s.login(params, auth); err != nil {
		s.conn.Close()
		return nil, err
	}
	if d.ConnectQuery != "" {
		if err := s.Exec(ctx, d.ConnectQuery); err != nil {
			s.Close()
			return nil, fmt.Errorf("connect_query on %s: %w", addr, err)
		}
	}
	s.conn.SetDeadline(time.Time{})
	s.LastUsed = time.Now()
	return s, nil
}

// startTLS sends SSLRequest and, when the server agrees, upgrades the
// connection; a refusal is an error only when TLS is required.
func (s *Server) startTLS(t *tlsconf.Server, host string) error {
	if _, err := s.conn.Write(wire.AppendSSLRequest(nil)); err != nil {
		return fmt.Errorf("send SSLRequest to %s: %w", s.Addr, err)
	}
	// Read exactly one byte: anything after it belongs to TLS.
	var ans [1]byte
	if _, err := s.conn.Read(ans[:]); err != nil {
		return fmt.Errorf("read SSLRequest answer from %s: %w", s.Addr, err)
	}
	switch ans[0] {
	case 'S':
		tc := tls.Client(s.conn, t.Config(host))
		if err := tc.Handshake(); err != nil {
			return fmt.Errorf("TLS handshake with %s: %w", s.Addr, err)
		}
		st := tc.ConnectionState()
		s.conn, s.tls = tc, &st
		return nil
	case 'N':
		if t.Required() {
			return fmt.Errorf("server %s does not support TLS, and server_tls_sslmode is %s", s.Addr, t.Mode)
		}
		return nil
	default:
		return fmt.Errorf("server %s answered SSLRequest with %q", s.Addr, ans[0])
	}
}

// login sends the startup packet, runs the authentication exchange and
// reads the server's parameters up to its first ReadyForQuery.
func (s *Server) login(params map[string]string, auth Authenticator) error {
	pkt, st := wire.AppendStartupHeader(nil, wire.ProtocolVersion(3, 0))
	for k, v := range params {
		if v == "" && k != "database" {
			continue
		}
		pkt = wire.AppendCString(pkt, k)
		pkt = wire.AppendCString(pkt, v)
	}
	pkt = wire.FinishStartup(append(pkt, 0), st)
	if _, err := s.conn.Write(pkt); err != nil {
		return fmt.Errorf("send startup to %s: %w", s.Addr, err)
	}
	for {
		typ, body, buf, err := wire.ReadMessage(s.br, s.buf, maxServerMessage)
		s.buf = buf
		if err != nil {
			return fmt.Errorf("login to %s: %w", s.Addr, err)
		}
		switch typ {
		case 'R':
			code, _, ok := wire.ParseAuth(body)
			if !ok {
				return fmt.Errorf("login to %s: short authentication message", s.Addr)
			}
			if code == wire.AuthOK {
				continue
			}
			if auth == nil {
				return fmt.Errorf("login to %s: %w: server asks for a password and none is known", s.Addr, ErrWrongPasswordType)
			}
			reply, err := auth.Respond(body, s.tls)
			if err != nil {
				return fmt.Errorf("login to %s: %w", s.Addr, err)
			}
			if len(reply) > 0 {
				if _, err := s.conn.Write(reply); err != nil {
					return fmt.Errorf("login to %s: %w", s.Addr, err)
				}
			}
		case 'E':
			return &LoginError{Addr: s.Addr, Err: wire.ParseError(body)}
		case 'S':
			s.setParam(body)
		case 'K':
			pid, key, ok := wire.ParseBackendKeyData(body)
			if !ok {
				return fmt.Errorf("login to %s: short BackendKeyData", s.Addr)
			}
			s.PID, s.Key = pid, append([]byte(nil), key...)
		case 'Z':
			if len(body) == 1 {
				s.Status = body[0]
			}
			if s.br.Buffered() > 0 {
				return fmt.Errorf("login to %s: unexpected data after ReadyForQuery", s.Addr)
			}
			return nil
		case 'N', 'v':
			// NoticeResponse, NegotiateProtocolVersion: nothing to act on
			// for a 3.0 startup without protocol options.
		default:
			return fmt.Errorf("login to %s: unexpected message %q", s.Addr, typ)
		}
	}
}

// cancelDialer returns how to reach the same server for a CancelRequest:
// the same address, through TLS when the session used it (PostgreSQL
// accepts cancels on either).
func (d *Dialer) cancelDialer(network, addr, host string, useTLS bool) func(context.Context) (net.Conn, error) {
	t := d.TLS
	return func(ctx context.Context) (net.Conn, error) {
		var nd net.Dialer
		c, err := nd.DialContext(ctx, network, addr)
		if err != nil || !useTLS {
			return c, err
		}
		s := &Server{conn: c, Addr: addr}
		if dl, ok := ctx.Deadline(); ok {
			c.SetDeadline(dl)
		}
		if err := s.startTLS(t, host); err != nil {
			c.Close()
			return nil, err
		}
		return s.conn, nil
	}
}
