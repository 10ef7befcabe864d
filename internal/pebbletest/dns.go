package pebbletest

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Bounds of one DNS connection: Pebble's resolver opens a connection per
// query, so these only stop a stuck or chatty peer from holding a
// goroutine for long.
const (
	dnsQueriesPerConn = 64
	dnsIdleTimeout    = 10 * time.Second
)

// StartDNS serves DNS over TCP on 127.0.0.1 (Pebble's validation
// authority asks over TCP) until the test ends, and returns its address.
// Every A question is answered with 127.0.0.1, so each name a test uses
// is validated on loopback; other types get an empty answer, which keeps
// the CA from dialing ::1 for AAAA.
func StartDNS(t TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pebbletest: dns listener: %v", err)
	}
	d := &dnsServer{ln: ln, conns: map[net.Conn]bool{}}
	d.wg.Add(1)
	go d.accept()
	t.Cleanup(d.close)
	return ln.Addr().String()
}

// dnsServer tracks its connections so that close can end them and wait
// for their goroutines.
type dnsServer struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
}

func (d *dnsServer) accept() {
	defer d.wg.Done()
	for {
		c, err := d.ln.Accept()
		if err != nil {
			return
		}
		d.mu.Lock()
		d.conns[c] = true
		d.mu.Unlock()
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			defer d.drop(c)
			serveDNS(c)
		}()
	}
}

func (d *dnsServer) drop(c net.Conn) {
	d.mu.Lock()
	delete(d.conns, c)
	d.mu.Unlock()
	c.Close()
}

func (d *dnsServer) close() {
	d.ln.Close()
	d.mu.Lock()
	for c := range d.conns {
		c.Close()
	}
	d.mu.Unlock()
	d.wg.Wait()
}

// serveDNS answers length-prefixed queries (RFC 1035 4.2.2) on c until it
// closes, fails, idles or reaches the query bound.
func serveDNS(c net.Conn) {
	for range dnsQueriesPerConn {
		c.SetDeadline(time.Now().Add(dnsIdleTimeout))
		var n uint16
		if err := binary.Read(c, binary.BigEndian, &n); err != nil {
			return
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		out, err := answer(buf)
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

// answer builds the reply to one packed query.
func answer(query []byte) ([]byte, error) {
	var q dns.Msg
	if err := q.Unpack(query); err != nil {
		return nil, err
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
	return r.Pack()
}
