package admin

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pgbun/pgbun/internal/wire"
)

// query answers one Query message: its statements run in order, the first
// error ends the batch, one ReadyForQuery closes it.
func (s *session) query(q string) error {
	cmds := parseQuery(q)
	if len(cmds) == 0 {
		s.out = wire.AppendEmptyQueryResponse(s.out)
		s.ready()
		return nil
	}
	for i := range cmds {
		err := s.exec(&cmds[i])
		if e, ok := err.(*wire.Error); ok {
			s.out = e.Append(s.out)
			break
		}
		if err != nil {
			return err
		}
	}
	s.ready()
	return nil
}

// consoleError is an error the client sees, in PgBouncer's form.
func consoleError(format string, args ...any) *wire.Error {
	return &wire.Error{Severity: "ERROR", Code: codeAdmin, Message: fmt.Sprintf(format, args...)}
}

// errAdminNeeded answers a stats user's attempt at a control command.
var errAdminNeeded = consoleError("admin access needed")

// maxEcho bounds how much of a query an error message repeats.
const maxEcho = 1000

func invalid(c *command) *wire.Error {
	text := c.text
	if len(text) > maxEcho {
		text = text[:maxEcho] + "..."
	}
	return consoleError("invalid command '%s', use SHOW HELP;", text)
}

// exec runs one statement. A *wire.Error is for the client and stops the
// batch; any other error ends the session.
func (s *session) exec(c *command) error {
	switch c.bad {
	case badSyntax:
		return invalid(c)
	case badArgs:
		return consoleError("bad arguments")
	}
	switch c.verb {
	case "show", "select":
		return s.show(c)
	case "set":
		return s.set(c)
	}
	ctl, ok := controls[c.verb]
	if !ok {
		return invalid(c)
	}
	if ctl.noArg && c.hasArg {
		return invalid(c)
	}
	if !s.opts.Admin {
		return errAdminNeeded
	}
	return ctl.run(s, c)
}

// control is a command that changes pgbun's state.
type control struct {
	noArg bool // an argument is a syntax error, as PgBouncer's RELOAD and SUSPEND
	run   func(s *session, c *command) error
}

// controls maps command names to what they do.
var controls = map[string]control{
	"pause": {run: func(s *session, c *command) error {
		if isConsoleDB(c.arg) {
			return consoleError("cannot pause admin db: %s", c.arg)
		}
		if err := s.flush(); err != nil {
			return err
		}
		return s.finishWait("PAUSE", c.arg, s.ctl.Pause(s.watchClient(), c.arg))
	}},
	"resume": {run: func(s *session, c *command) error {
		if isConsoleDB(c.arg) {
			return consoleError("database %s is not paused", c.arg)
		}
		return s.done("RESUME", c.arg, s.ctl.Resume(c.arg))
	}},
	"disable": {run: func(s *session, c *command) error {
		if c.arg == "" {
			return consoleError("a database is required")
		}
		if isConsoleDB(c.arg) {
			return consoleError("cannot disable admin db: %s", c.arg)
		}
		return s.done("DISABLE", c.arg, s.ctl.Disable(c.arg))
	}},
	"enable": {run: func(s *session, c *command) error {
		if c.arg == "" {
			return consoleError("a database is required")
		}
		if isConsoleDB(c.arg) {
			return consoleError("cannot enable admin db: %s", c.arg)
		}
		return s.done("ENABLE", c.arg, s.ctl.Enable(c.arg))
	}},
	"reconnect": {run: func(s *session, c *command) error {
		if isConsoleDB(c.arg) {
			return consoleError("cannot reconnect admin db: %s", c.arg)
		}
		return s.done("RECONNECT", c.arg, s.ctl.Reconnect(c.arg))
	}},
	"kill": {run: func(s *session, c *command) error {
		if isConsoleDB(c.arg) {
			return consoleError("cannot kill admin db: %s", c.arg)
		}
		return s.done("KILL", c.arg, s.ctl.Kill(c.arg))
	}},
	"kill_client": {run: func(s *session, c *command) error {
		id, err := strconv.ParseUint(c.arg, 10, 64)
		if err != nil {
			return consoleError("invalid client pointer supplied")
		}
		return s.done("KILL_CLIENT", "", s.ctl.KillClient(id))
	}},
	"wait_close": {run: func(s *session, c *command) error {
		if isConsoleDB(c.arg) {
			return consoleError("cannot wait in admin db: %s", c.arg)
		}
		if err := s.flush(); err != nil {
			return err
		}
		return s.finishWait("WAIT_CLOSE", c.arg, s.ctl.WaitClose(s.watchClient(), c.arg))
	}},
	"suspend": {noArg: true, run: func(s *session, c *command) error {
		if err := s.flush(); err != nil {
			return err
		}
		return s.finishWait("SUSPEND", "", s.ctl.Suspend(s.watchClient()))
	}},
	"reload": {noArg: true, run: func(s *session, c *command) error {
		if err := s.ctl.Reload(); err != nil {
			return &wire.Error{Severity: "ERROR", Code: "F0000",
				Message: "RELOAD failed, see logs for additional details", Detail: err.Error()}
		}
		s.complete("RELOAD")
		return nil
	}},
	"shutdown": {run: func(s *session, c *command) error {
		mode := strings.ToUpper(c.arg)
		if c.hasArg && mode != "WAIT_FOR_SERVERS" && mode != "WAIT_FOR_CLIENTS" {
			return invalid(c)
		}
		return s.done("SHUTDOWN", "", s.ctl.Shutdown(mode))
	}},
}

// isConsoleDB reports whether db names the console itself.
func isConsoleDB(db string) bool {
	return db == "pgbouncer" || db == "pgbun"
}

// done finishes a control command: its tag on success, else the error in
// PgBouncer's words.
func (s *session) done(tag, db string, err error) error {
	if err != nil {
		return controlError(db, err)
	}
	s.complete(tag)
	return nil
}

// finishWait is done for a command that ran under watchClient: if the
// client went away meanwhile, the session ends instead.
func (s *session) finishWait(tag, db string, err error) error {
	if err != nil && s.gone.Err() != nil {
		return fmt.Errorf("admin: %s interrupted: %w", tag, err)
	}
	return s.done(tag, db, err)
}

// controlError words a Controller's error for the client.
func controlError(db string, err error) *wire.Error {
	switch {
	case errors.Is(err, ErrNoDatabase):
		return consoleError("no such database: %s", db)
	case errors.Is(err, ErrNotPaused):
		if db == "" {
			return consoleError("pooler is not paused/suspended")
		}
		return consoleError("database %s is not paused", db)
	case errors.Is(err, ErrAlreadyPaused):
		return consoleError("%s", ErrAlreadyPaused.Error())
	case errors.Is(err, ErrPausedDatabases):
		return consoleError("%s", ErrPausedDatabases.Error())
	case errors.Is(err, ErrShuttingDown):
		return consoleError("%s", ErrShuttingDown.Error())
	case errors.Is(err, ErrNoClient):
		return consoleError("%s", ErrNoClient.Error())
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return consoleError("canceled while waiting: %v", err)
	}
	return consoleError("%s", err.Error())
}

// fakeParams are settings some client libraries read or set on connect;
// the console answers them without a real setting behind, as PgBouncer.
var fakeParams = []struct{ name, value string }{
	{"client_encoding", "UTF-8"},
	{"default_transaction_isolation", "read committed"},
	{"standard_conforming_strings", "on"},
	{"datestyle", "ISO"},
	{"timezone", "GMT"},
	{"extra_float_digits", "2"},
}

func fakeParam(name string) (string, string, bool) {
	for _, p := range fakeParams {
		if strings.EqualFold(p.name, name) {
			return p.name, p.value, true
		}
	}
	return "", "", false
}

// set runs SET key = value.
func (s *session) set(c *command) error {
	if _, _, ok := fakeParam(c.arg); ok {
		s.notice("SET ignored", "")
		s.complete("SET")
		return nil
	}
	if !s.opts.Admin {
		return errAdminNeeded
	}
	if err := s.ctl.Set(c.arg, c.value); err != nil {
		return &wire.Error{Severity: "ERROR", Code: codeAdmin, Message: "SET failed", Detail: err.Error()}
	}
	// PgBouncer's tag names the setting and its new value.
	s.complete("SET " + c.arg + "=" + c.value)
	return nil
}
