package session

import (
	"bufio"
	"io"
	"net"
	"sync"
	"syscall"

	"github.com/pgbun/pgbun/internal/rawio"
)

// readers holds the clients' read buffers. A client takes one while it
// has bytes to read; in transaction pooling it gives it back each time it
// goes idle, so thousands of idle clients hold no read buffer between
// them, and a burst of logins reuses a few buffers instead of allocating
// one per connection.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufferSize) }}

func NewReader(r io.Reader) *bufio.Reader {
	br := readers.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

// dropReader gives the client's read buffer back, discarding what it
// holds; callers make sure that is nothing they need.
func (c *Client) dropReader() {
	if c.In == nil {
		return
	}
	c.In.Reset(nil)
	readers.Put(c.In)
	c.In = nil
}

// leadReader reads a client connection, first returning the byte that
// awaitInput took to learn that a TLS client had sent something.
type leadReader struct {
	conn net.Conn
	b    [1]byte
	has  bool
}

func (l *leadReader) Read(p []byte) (int, error) {
	if l.has && len(p) > 0 {
		p[0], l.has = l.b[0], false
		return 1, nil
	}
	return l.conn.Read(p)
}

// awaitInput blocks, holding no read buffer, until the client sends
// something (or its connection fails, or a deadline passes), then gives it
// a buffer to read the message with. Call it only when c.br holds nothing.
// The read that follows reports the connection's state: data, end of
// stream or the error.
func (c *Client) awaitInput() error {
	c.dropReader()
	c.lead.conn = c.Conn
	if c.lead.has {
		c.In = NewReader(&c.lead)
		return nil
	}
	var err error
	if c.Encrypted {
		// A TLS connection may hold decrypted bytes the socket does not
		// show, so the wait is a read through TLS: one byte, kept for the
		// reader. TLS decrypts the whole record into its own buffer, so
		// the rest costs no further system call.
		var n int
		n, err = c.Conn.Read(c.lead.b[:])
		c.lead.has = n == 1
	} else {
		err = c.waitReadable()
	}
	c.In = NewReader(&c.lead)
	return err
}

// waitReadable waits for the plain socket to become readable without
// reading from it. It costs the same system calls as the blocking read it
// precedes would have: a peek that finds nothing, the wait, and the read.
func (c *Client) waitReadable() error {
	if c.rc == nil {
		rc, err := rawConn(c.Raw)
		if err != nil {
			return nil // not a socket: the read itself will wait
		}
		c.rc = rc
		c.peekFn = c.peek // one method value per client, not one per wait
	}
	c.peeked = false
	return c.rc.Read(c.peekFn)
}

// peek is waitReadable's callback: it reports whether the wait is over. The
// first call looks without consuming; a call after the poller's wake-up
// ends the wait, since the read that follows handles a spurious one.
func (c *Client) peek(fd uintptr) bool {
	if c.peeked {
		return true
	}
	c.peeked = true
	// Anything but "nothing yet" (data, end of stream, an error) ends the
	// wait: the read that follows sees it.
	return rawio.Peek(fd, c.lead.b[:]) != syscall.EAGAIN
}
