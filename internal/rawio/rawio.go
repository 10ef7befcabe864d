// Package rawio reads and writes sockets without telling the Go scheduler
// that a system call is under way.
//
// A goroutine in an ordinary system call gives up its processor's claim:
// when the call outlasts the runtime monitor's tick (20 µs while it finds
// work) and other goroutines wait to run, the monitor hands the processor
// to another thread, waking it, and keeps polling every 20 µs while that
// goes on. A pooler's system calls are
// nonblocking socket reads and writes, but on a busy machine the kernel
// often preempts the caller inside one (the write woke the peer that
// reads it), so the call appears long, and each one costs a hand-off, a
// thread wake-up and a monitor that never backs off. Measured on two
// cores under pgbench, the monitor alone made about half of pgbun's
// voluntary context switches.
//
// A raw system call keeps the processor: nothing is handed off and the
// monitor, finding nothing to retake, backs off to its long sleep. The
// price is that goroutines queued on that processor wait for the call,
// which for a socket call is microseconds. That is safe only for calls
// that cannot block, which nonblocking sockets
// guarantee; waiting for readiness still goes through the runtime's poller
// (syscall.RawConn), so deadlines and Close behave as with net.Conn.
//
// The raw calls are Linux's. On other systems Wrap returns the connection
// unchanged, so reads and writes are net's own, and Peek is an ordinary
// recvfrom(MSG_PEEK|MSG_DONTWAIT).
package rawio
