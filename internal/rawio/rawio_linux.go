package rawio

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// Conn is a socket whose Read and Write use raw system calls. Everything
// else (deadlines, addresses, Close) is the wrapped connection's.
type Conn struct {
	net.Conn
	rc syscall.RawConn

	rmu     sync.Mutex // guards the read state below across one Read
	rbuf    []byte
	rn      int
	rerr    syscall.Errno
	readFn  func(fd uintptr) bool
	wmu     sync.Mutex // guards the write state below across one Write
	wbuf    []byte
	wn      int
	werr    syscall.Errno
	writeFn func(fd uintptr) bool
}

// wraps says that Wrap wraps sockets on this system.
const wraps = true

// Wrap returns c reading and writing through raw system calls, or c itself
// when it is not a socket.
func Wrap(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	rw := &Conn{Conn: c, rc: rc}
	// Method values made once: a closure per call would allocate.
	rw.readFn, rw.writeFn = rw.read, rw.write
	return rw
}

func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.rbuf, c.rn, c.rerr = p, 0, 0
	err := c.rc.Read(c.readFn)
	c.rbuf = nil
	if err == nil && c.rerr == 0 && c.rn == 0 {
		return 0, io.EOF
	}
	return c.result("read", c.rn, err, c.rerr)
}

// read is the poller's callback: false asks it to wait for readability.
func (c *Conn) read(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&c.rbuf[0])), uintptr(len(c.rbuf)))
		switch e {
		case 0:
			c.rn = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		c.rerr = e
		return true
	}
}

func (c *Conn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf, c.wn, c.werr = p, 0, 0
	err := c.rc.Write(c.writeFn)
	c.wbuf = nil
	return c.result("write", c.wn, err, c.werr)
}

// write is the poller's callback: it writes until everything is out, and
// returns false to wait for room when the socket's buffer is full.
func (c *Conn) write(fd uintptr) bool {
	for c.wn < len(c.wbuf) {
		rest := c.wbuf[c.wn:]
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&rest[0])), uintptr(len(rest)))
		switch e {
		case 0:
			c.wn += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.werr = e
			return true
		}
	}
	return true
}

// result reports a call's outcome: n bytes, then the poller's error
// (deadline, closed) or the system call's.
func (c *Conn) result(op string, n int, err error, errno syscall.Errno) (int, error) {
	switch {
	case err != nil:
		return n, c.opError(op, err)
	case errno != 0:
		return n, c.opError(op, os.NewSyscallError(op, errno))
	}
	return n, nil
}

// opError reports err as net does, under the plain operation's name (the
// poller's own errors, deadlines and closing, come wrapped as "raw-read"
// or "raw-write").
func (c *Conn) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		err = oe.Err
	}
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Peek looks at the socket's next byte without consuming it or waiting,
// as recv(MSG_PEEK|MSG_DONTWAIT) through a raw system call. It returns 0
// when there is data or the stream has ended, the error number otherwise
// (EAGAIN: nothing to read yet).
func Peek(fd uintptr, b []byte) syscall.Errno {
	for {
		_, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		if e != syscall.EINTR {
			return e
		}
	}
}
