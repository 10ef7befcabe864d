package session

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/pool"
)

// Why sessions end, and what the client is told: every ending a session
// can reach is named here, so its SQLSTATE and wording are decided in one
// place whichever pooling mode ran it. Reasons are worded as PgBouncer
// words them in its "closing because:" log lines, which its users' tooling
// looks for.

// Errors a client gets when its session ends for a timeout or a limit.
func errClientIdle() *wire.Error { return wire.Fatal("57P05", "client_idle_timeout") }
func errIdleInTransaction() *wire.Error {
	return wire.Fatal("25P03", "idle transaction timeout")
}
func errTransactionTimeout() *wire.Error { return wire.Fatal("25P04", "transaction timeout") }
func errServerGone() *wire.Error {
	return wire.Fatal(wire.CodeConnectionFailure, "server closed the connection unexpectedly")
}

// ErrFastClose is what a session-pooled client is told when
// server_fast_close ends its session because its server is outdated
// (RECONNECT, a changed definition), in PgBouncer's words.
func ErrFastClose() *wire.Error {
	return wire.Fatal(wire.CodeAdminShutdown, "database configuration changed")
}

// endFor is the ending of a session stopped by e, a FATAL error pgbun
// sends the client (a timeout, a kill, a server lost mid-transaction).
func endFor(e *wire.Error) End { return End{Err: e, Reason: e.Message} }

// endTooLong: the client sent a message longer than max_packet_size.
func endTooLong(clean bool) End {
	return End{clean: clean, Reason: "message longer than max_packet_size",
		Err: wire.Fatal(wire.CodeProtocolViolation, "message too long (max_packet_size)")}
}

// endClientClose: the client sent Terminate.
func endClientClose(clean bool) End { return End{clean: clean, Reason: "client close request"} }

// endClientGone: the client's connection ended or failed.
func endClientGone(err error, clean bool) End {
	if text := errText(err); text != "EOF" {
		return End{clean: clean, Reason: "client connection failed: " + text}
	}
	return End{clean: clean, Reason: "client unexpected eof"}
}

// endServerGone: the server's connection ended or failed.
func endServerGone(err error) End {
	return End{Reason: "server conn crashed? (" + errText(err) + ")", Err: errServerGone()}
}

// endAborted: pgbun closed the client's connection (shutdown, abort).
func endAborted(clean bool) End { return End{clean: clean, Reason: "server shutting down"} }

// endNoServer: no server could be had for the client's transaction.
func endNoServer(err error) End {
	if errors.Is(err, ErrClientGone) || errors.Is(err, ErrKilled) {
		return End{Reason: err.Error()}
	}
	e, reason := ServerFailure(err)
	return End{Err: e, Reason: reason}
}

// ServerFailure says what a client is told when no server could be had
// for it (err from Acquire or the pool), and why, for the log.
func ServerFailure(err error) (client *wire.Error, reason string) {
	if errors.Is(err, pool.ErrWrongPasswordType) {
		// PgBouncer's words; the log says which type was missing.
		return wire.Fatal(wire.CodeInvalidPassword, "server login failed: wrong password type"), err.Error()
	}
	var le *pool.LoginError
	if errors.As(err, &le) {
		e := *le.Err
		e.Severity = "FATAL"
		return &e, err.Error()
	}
	var rl *pool.LoginRetryError
	switch {
	case errors.As(err, &rl):
		if errors.As(rl.Err, &le) {
			e := *le.Err
			e.Severity = "FATAL"
			return &e, err.Error()
		}
		return wire.Fatal(wire.CodeConnectionFailure, "server login has been failing, try again later"), err.Error()
	case errors.Is(err, pool.ErrWaitTimeout):
		return wire.Fatal(wire.CodeProtocolViolation, "query_wait_timeout"), err.Error()
	case errors.Is(err, pool.ErrClosed):
		return wire.Fatal(wire.CodeAdminShutdown, "server shutting down"), err.Error()
	}
	return wire.Fatal(wire.CodeConnectionFailure, "server connection failed"), fmt.Sprint(err)
}

func errText(err error) string {
	var pe *wire.PumpError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if errors.Is(err, io.EOF) {
		return "EOF"
	}
	if err == nil {
		return "none"
	}
	return err.Error()
}

// isTimeout reports a deadline expiry.
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// endError carries an ending decided deep in a session through its error
// returns.
type endError struct{ end End }

func (e *endError) Error() string { return e.end.Reason }

// endOf is the ending an error returned inside a session stands for.
func endOf(err error) End {
	var ee *endError
	if errors.As(err, &ee) {
		return ee.end
	}
	var we *wire.Error
	if errors.As(err, &we) {
		return endFor(we)
	}
	return End{Reason: err.Error()}
}
