package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/session"
	"github.com/pgbun/pgbun/tlsconf"
)

// acmeTLSALPN is the ALPN protocol of ACME's TLS-ALPN-01 challenge.
const acmeTLSALPN = "acme-tls/1"

// tlsRecordHandshake is the first byte of a TLS ClientHello record: a
// connection that starts with it wants direct TLS (PostgreSQL 17's
// sslnegotiation=direct) instead of an SSLRequest.
const tlsRecordHandshake = 0x16

// admit negotiates encryption and reads the startup packet, filling in
// c.minor, c.params, c.user and c.dbname. A CancelRequest is served here
// and reported as errHandled.
func (g *Gateway) admit(c *client, st *state) error {
	first, err := c.In.Peek(1)
	if err != nil {
		return err
	}
	if first[0] == tlsRecordHandshake {
		if !st.clientTLS.Enabled() || c.unix {
			return fmt.Errorf("direct TLS attempted while TLS is off: %w", errHandled)
		}
		// The ClientHello is already in c.br: hand the TLS server a
		// connection that reads the buffered bytes first.
		if err := g.startTLS(c, st, &bufferedConn{Conn: c.Conn, r: c.In}, true); err != nil {
			return err
		}
	}
	askedSSL, askedGSS := false, false
	for {
		code, body, buf, err := wire.ReadStartup(c.In, c.buf)
		c.buf = buf
		if err != nil {
			var fe *wire.FormatError
			if errors.As(err, &fe) {
				return wire.Fatal(wire.CodeProtocolViolation, "%v", err)
			}
			return err // the connection failed or timed out: nobody to tell
		}
		switch code {
		case wire.SSLRequestCode:
			if askedSSL || c.tls != nil {
				return wire.Fatal(wire.CodeProtocolViolation, "unexpected SSLRequest: encryption was already negotiated")
			}
			askedSSL = true
			// Bytes the client sent after SSLRequest without waiting for
			// the answer would be read as if they had been encrypted.
			if c.In.Buffered() > 0 {
				return wire.Fatal(wire.CodeProtocolViolation, "received unencrypted data after SSL request")
			}
			if !st.clientTLS.Enabled() || c.unix {
				if err := c.send([]byte{'N'}); err != nil {
					return err
				}
				continue
			}
			if err := c.send([]byte{'S'}); err != nil {
				return err
			}
			if err := g.startTLS(c, st, c.Conn, false); err != nil {
				return err
			}
		case wire.GSSENCRequestCode:
			if askedGSS || c.tls != nil {
				return wire.Fatal(wire.CodeProtocolViolation, "unexpected GSSENCRequest")
			}
			askedGSS = true
			if c.In.Buffered() > 0 {
				return wire.Fatal(wire.CodeProtocolViolation, "received unencrypted data after GSSAPI encryption request")
			}
			if err := c.send([]byte{'N'}); err != nil {
				return err
			}
		case wire.CancelRequestCode:
			g.handleCancel(st, body)
			return errHandled
		default:
			return g.readStartup(c, st, code, body)
		}
	}
}

// readStartup checks the protocol version and decodes the parameters.
// Protocol 3.0 to 3.2 are served as PostgreSQL 18 serves them (3.2 brings
// long cancel keys); a later 3.x minor or _pq_ options get a
// NegotiateProtocolVersion answer, so the client may continue with 3.2.
func (g *Gateway) readStartup(c *client, st *state, code uint32, body []byte) error {
	major, minor := wire.SplitProtocolVersion(code)
	if major != 3 {
		return wire.Fatal(wire.CodeFeatureNotSupported,
			"unsupported frontend protocol %d.%d: server supports 3.0 to 3.2", major, minor)
	}
	su, err := parseStartup(minor, body)
	if err != nil {
		return wire.Fatal(wire.CodeProtocolViolation, "%v", err)
	}
	if minor > 2 || len(su.options) > 0 {
		minor = min(minor, 2)
		if err := c.send(wire.AppendNegotiateProtocolVersion(nil, minor, su.options)); err != nil {
			return err
		}
	}
	c.minor, c.params = minor, su.params
	if (st.clientTLS.Required() || st.cfg.General.ClientTLS.SNIRequired) && c.tls == nil && !c.unix {
		return wire.Fatal(wire.CodeInvalidAuthSpec, "SSL required")
	}
	if su.params["user"] == "" {
		return wire.Fatal(wire.CodeInvalidAuthSpec, "no PostgreSQL user name specified in startup packet")
	}
	if su.params["database"] == "" {
		su.params["database"] = su.params["user"]
	}
	// Cut as PostgreSQL cuts them, before any lookup, throttle key or log
	// line sees them: "name" and "name + anything" are one role there, so
	// they must be one user here too.
	c.User = cutName(su.params["user"])
	c.dbname = cutName(su.params["database"])
	su.params["user"], su.params["database"] = c.User, c.dbname
	if r, ok := su.params["replication"]; ok && r != "false" && r != "0" && r != "off" && r != "no" {
		return wire.Fatal(wire.CodeFeatureNotSupported, "replication connections are not supported by pgbun")
	}
	return nil
}

// startTLS runs the server side of a TLS handshake over under, recording
// which certificate was served (channel binding hashes it).
func (g *Gateway) startTLS(c *client, st *state, under net.Conn, direct bool) error {
	// GetCertificate (see recordServed) leaves the served certificate in
	// c.servedCert through the handshake's context: the configuration is
	// shared, not copied per connection.
	tc := tls.Server(under, st.clientTLS.Config)
	if err := tc.HandshakeContext(context.WithValue(c.Context(), servedKey{}, &c.servedCert)); err != nil {
		g.tlsFailures.Add(1)
		g.audit.event("tls_handshake_failed", "addr", c.Addr, "error", err.Error())
		return fmt.Errorf("TLS handshake: %w", err)
	}
	cs := tc.ConnectionState()
	if cs.NegotiatedProtocol == acmeTLSALPN {
		// An ACME server validating TLS-ALPN-01: the handshake itself was
		// the answer.
		return fmt.Errorf("ACME TLS-ALPN-01 validation: %w", errHandled)
	}
	// Direct TLS skips the SSLRequest that says "this is PostgreSQL", so
	// PostgreSQL insists on ALPN there; so do we.
	if direct && cs.NegotiatedProtocol != tlsconf.ALPNPostgres {
		return fmt.Errorf("direct TLS without ALPN %q: %w", tlsconf.ALPNPostgres, errHandled)
	}
	c.Conn, c.tls = tc, &tlsState{Version: cs.Version, CipherSuite: cs.CipherSuite}
	c.Encrypted = true
	g.tlsHandshakes.Add(tlsVersionName(cs.Version))
	c.sni = strings.ToLower(strings.TrimSuffix(cs.ServerName, "."))
	if c.servedCert != nil {
		c.served = c.servedCert.Leaf
		c.servedCert = nil
	}
	if len(cs.VerifiedChains) > 0 && len(cs.PeerCertificates) > 0 {
		c.certCN = cs.PeerCertificates[0].Subject.CommonName
	}
	// The reader that read the plaintext start now reads TLS. After
	// direct TLS it may still hold bytes that arrived with the
	// ClientHello: it then stays with the TLS connection until drained,
	// and the client reads with another.
	if b, ok := under.(*bufferedConn); ok && b.r != nil {
		if b.r.Buffered() > 0 {
			c.In = session.NewReader(tc)
			return nil
		}
		b.r = nil
	}
	c.In.Reset(tc)
	return nil
}

// servedKey is the context key under which startTLS passes the handshake
// a place for the certificate it serves.
type servedKey struct{}

// recordServed wraps getCert to leave the chosen certificate where the
// handshake's context says.
func recordServed(getCert tlsconf.GetCertificateFunc) tlsconf.GetCertificateFunc {
	return func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		cert, err := getCert(hello)
		if slot, ok := hello.Context().Value(servedKey{}).(**tls.Certificate); ok {
			*slot = cert
		}
		return cert, err
	}
}

// bufferedConn is a net.Conn whose reads drain r first; r reads the
// same connection.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) {
	if b.r != nil {
		if b.r.Buffered() > 0 {
			return b.r.Read(p)
		}
		b.r = nil // drained: let its buffer go
	}
	return b.Conn.Read(p)
}
