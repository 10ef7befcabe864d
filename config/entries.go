package config

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// consoleNames are the virtual databases of the admin console; no
// [databases] entry may take them.
var consoleNames = []string{"pgbouncer", "pgbun"}

func isConsoleName(name string) bool {
	for _, n := range consoleNames {
		if name == n {
			return true
		}
	}
	return false
}

// entryInt reads a per-entry integer; -1 means "not set", as PgBouncer
// documents for its per-entry settings.
func entryInt(v string) (int, error) {
	n, err := parseIntRange(v, -1, math.MaxInt32)
	return int(n), err
}

// entryDur reads a per-entry duration in seconds; -1 means "not set".
func entryDur(v string) (time.Duration, error) {
	if v == "-1" {
		return -1, nil
	}
	return parseDuration(v, time.Second)
}

// overrideInt and overrideDur store the values PgBouncer applies only
// when above zero: 0 becomes -1, "inherit".
func overrideInt(v string) (int, error) {
	n, err := entryInt(v)
	if n == 0 {
		n = -1
	}
	return n, err
}

func overrideDur(v string) (time.Duration, error) {
	d, err := entryDur(v)
	if d == 0 {
		d = -1
	}
	return d, err
}

// entryKey is one key of a [databases], [users] or [peers] entry (E is
// Database, User or Peer): its name, how its value is read into the
// entry, and whether pgbun acts on it. The tables below are the only list
// of these keys: the parser, the warnings and the documentation test all
// read them.
type entryKey[E any] struct {
	name string
	// set checks the value and stores it in the entry; keys pgbun does
	// not keep only check it.
	set func(e *E, v string) error
	// supported: the running process acts on the key. Any other key is
	// checked (a bad value is an error) but draws a warning.
	supported bool
	// alias names the key this one is another spelling of; set and
	// supported are the target's.
	alias string
}

// databaseKeys are the keys of a [databases] entry.
var databaseKeys = []entryKey[Database]{
	{name: "dbname", supported: true, set: setText(func(d *Database) *string { return &d.DBName })},
	{name: "host", supported: true, set: setHosts(func(d *Database) *[]string { return &d.Host })},
	{name: "port", supported: true, set: setPort(func(d *Database) *int { return &d.Port })},
	{name: "user", supported: true, set: setText(func(d *Database) *string { return &d.User })},
	{name: "password", supported: true, set: setText(func(d *Database) *string { return &d.Password })},
	{name: "auth_user", supported: true, set: setText(func(d *Database) *string { return &d.AuthUser })},
	{name: "auth_query", supported: true, set: setText(func(d *Database) *string { return &d.AuthQuery })},
	{name: "auth_dbname", supported: true, set: setText(func(d *Database) *string { return &d.AuthDBName })},
	{name: "pool_size", supported: true, set: setSize(func(d *Database) *int { return &d.PoolSize })},
	{name: "min_pool_size", supported: true, set: setSize(func(d *Database) *int { return &d.MinPoolSize })},
	{name: "reserve_pool_size", supported: true, set: setSize(func(d *Database) *int { return &d.ReservePoolSize })},
	{name: "reserve_pool", alias: "reserve_pool_size"},
	{name: "max_db_connections", supported: true, set: setLimit(func(d *Database) *int { return &d.MaxDBConnections })},
	{name: "max_db_client_connections", supported: true, set: setLimit(func(d *Database) *int { return &d.MaxDBClientConns })},
	{name: "server_lifetime", supported: true, set: setTimeout(func(d *Database) *time.Duration { return &d.ServerLifetime })},
	{name: "pool_mode", supported: true, set: setPoolMode(func(d *Database) *PoolMode { return &d.PoolMode })},
	{name: "connect_query", supported: true, set: setText(func(d *Database) *string { return &d.ConnectQuery })},
	{name: "load_balance_hosts", supported: true, set: setEnum(balanceModes, func(d *Database) *string { return &d.LoadBalanceHosts })},
	{name: "client_encoding", supported: true, set: setText(func(d *Database) *string { return &d.ClientEncoding })},
	{name: "datestyle", supported: true, set: setText(func(d *Database) *string { return &d.DateStyle })},
	{name: "timezone", supported: true, set: setText(func(d *Database) *string { return &d.TimeZone })},
	{name: "application_name", supported: true, set: setText(func(d *Database) *string { return &d.ApplicationName })},
	// Newer PgBouncer keys: checked so a typo fails, not yet stored.
	{name: "target_session_attrs", set: checkOnly[Database](func(v string) error { _, err := lookupEnum(v, sessionAttrs); return err })},
	{name: "query_wait_timeout", supported: true, set: setTimeout(func(d *Database) *time.Duration { return &d.QueryWaitTimeout })},
	// pgbun's own.
	{name: "sni", supported: true, set: setText(func(d *Database) *string { return &d.SNI })},
}

// userKeys are the keys of a [users] entry.
var userKeys = []entryKey[User]{
	{name: "pool_mode", supported: true, set: setPoolMode(func(u *User) *PoolMode { return &u.PoolMode })},
	{name: "pool_size", supported: true, set: setSize(func(u *User) *int { return &u.PoolSize })},
	{name: "reserve_pool_size", supported: true, set: setSize(func(u *User) *int { return &u.ReservePoolSize })},
	{name: "reserve_pool", alias: "reserve_pool_size"},
	{name: "max_user_connections", supported: true, set: setLimit(func(u *User) *int { return &u.MaxUserConnections })},
	{name: "max_user_client_connections", supported: true, set: setLimit(func(u *User) *int { return &u.MaxUserClientConns })},
	{name: "query_timeout", supported: true, set: setTimeout(func(u *User) *time.Duration { return &u.QueryTimeout })},
	{name: "idle_transaction_timeout", supported: true, set: setTimeout(func(u *User) *time.Duration { return &u.IdleTransactionTimeout })},
	{name: "transaction_timeout", supported: true, set: setTimeout(func(u *User) *time.Duration { return &u.TransactionTimeout })},
	{name: "client_idle_timeout", supported: true, set: setTimeout(func(u *User) *time.Duration { return &u.ClientIdleTimeout })},
	{name: "query_wait_timeout", supported: true, set: setTimeout(func(u *User) *time.Duration { return &u.QueryWaitTimeout })},
}

// peerKeys are the keys of a [peers] entry.
var peerKeys = []entryKey[Peer]{
	{name: "host", supported: true, set: setText(func(p *Peer) *string { return &p.Host })},
	{name: "port", supported: true, set: setPort(func(p *Peer) *int { return &p.Port })},
	{name: "pool_size", supported: true, set: setSize(func(p *Peer) *int { return &p.PoolSize })},
}

// The setters below build an entryKey's set from a pointer into the
// entry, so each table row stays one line.

func setText[E any](f func(*E) *string) func(*E, string) error {
	return func(e *E, v string) error { *f(e) = v; return nil }
}

func setHosts[E any](f func(*E) *[]string) func(*E, string) error {
	return func(e *E, v string) (err error) { *f(e), err = parseHosts(v); return err }
}

func setEnum[E any](choices []string, f func(*E) *string) func(*E, string) error {
	return func(e *E, v string) (err error) { *f(e), err = lookupEnum(v, choices); return err }
}

func setPort[E any](f func(*E) *int) func(*E, string) error {
	return func(e *E, v string) (err error) { *f(e), err = parsePort(v); return err }
}

// setSize stores a size that applies from 0 up; -1 inherits.
func setSize[E any](f func(*E) *int) func(*E, string) error {
	return func(e *E, v string) (err error) { *f(e), err = entryInt(v); return err }
}

// setLimit stores a connection limit that applies only above 0.
func setLimit[E any](f func(*E) *int) func(*E, string) error {
	return func(e *E, v string) (err error) { *f(e), err = overrideInt(v); return err }
}

// setTimeout stores a duration that applies only above 0.
func setTimeout[E any](f func(*E) *time.Duration) func(*E, string) error {
	return func(e *E, v string) (err error) { *f(e), err = overrideDur(v); return err }
}

func setPoolMode[E any](f func(*E) *PoolMode) func(*E, string) error {
	return func(e *E, v string) (err error) { *f(e), err = parsePoolMode(v); return err }
}

// checkOnly validates a value pgbun does not keep.
func checkOnly[E any](check func(string) error) func(*E, string) error {
	return func(_ *E, v string) error { return check(v) }
}

// lookupEntryKey finds the key name in table, an alias resolved to the
// key it stands for; nil when the table lacks it.
func lookupEntryKey[E any](table []entryKey[E], name string) *entryKey[E] {
	for i := range table {
		if table[i].name != name {
			continue
		}
		if table[i].alias != "" {
			return lookupEntryKey(table, table[i].alias)
		}
		return &table[i]
	}
	return nil
}

// applyEntry reads the key=value pairs of one entry into e through table.
// A key the table lacks draws a warning, or is an error when it differs
// from a known key only in case; a bad value is an error; a key pgbun does
// not act on yet draws a warning.
func applyEntry[E any](p *parser, table []entryKey[E], e *E, params []connParam, at loc) error {
	for _, prm := range params {
		k := lookupEntryKey(table, prm.key)
		if k == nil {
			for _, known := range table {
				if strings.EqualFold(known.name, prm.key) {
					return p.errorf(at, clip(prm.key), "parameter names are case-sensitive: did you mean %s?", known.name)
				}
			}
			p.warn(at, clip(prm.key), msgUnknown)
			continue
		}
		if err := k.set(e, prm.value); err != nil {
			return p.errorf(at, clip(prm.key), "%s", err.Error())
		}
		if !k.supported {
			p.warn(at, prm.key, msgUnsupported)
		}
	}
	return nil
}

// newDatabase is a [databases] entry before its pairs are read: every
// per-entry setting is "not set here".
func newDatabase(name string) *Database {
	return &Database{
		Name: name, Port: 5432,
		PoolSize: -1, MinPoolSize: -1, ReservePoolSize: -1, MaxDBConnections: -1,
		MaxDBClientConns: -1, ServerLifetime: -1, QueryWaitTimeout: -1, LoadBalanceHosts: "round-robin",
	}
}

func (p *parser) addDatabase(name, value string, at loc) error {
	if isConsoleName(name) {
		return p.errorf(at, name, "database name is reserved for the admin console")
	}
	params, err := parseConnString(value)
	if err != nil {
		return p.errorf(at, name, "%s", err.Error())
	}
	db := newDatabase(name)
	db.File, db.Line, db.Raw = at.file, at.line, redactRaw(value, params)
	if err := applyEntry(p, databaseKeys, db, params, at); err != nil {
		return err
	}
	p.cfg.Databases[name] = db
	return nil
}

// newUser is a [users] entry before its pairs are read.
func newUser(name string) *User {
	return &User{
		Name: name, PoolSize: -1, ReservePoolSize: -1, MaxUserConnections: -1, MaxUserClientConns: -1,
		QueryTimeout: -1, IdleTransactionTimeout: -1, TransactionTimeout: -1, ClientIdleTimeout: -1,
		QueryWaitTimeout: -1,
	}
}

// newPeer is a [peers] entry before its pairs are read; finish gives an
// unset pool_size the value of default_pool_size.
func newPeer(id int) *Peer {
	return &Peer{ID: id, Port: 6432, PoolSize: -1}
}

func (p *parser) addUser(name, value string, at loc) error {
	params, err := parseConnString(value)
	if err != nil {
		return p.errorf(at, name, "%s", err.Error())
	}
	u := newUser(name)
	u.File, u.Line = at.file, at.line
	if err := applyEntry(p, userKeys, u, params, at); err != nil {
		return err
	}
	p.cfg.Users[name] = u
	return nil
}

func (p *parser) addPeer(name, value string, at loc) error {
	id, err := strconv.Atoi(name)
	if err != nil || id < 1 || id > 65535 || strings.TrimLeft(name, "0123456789") != "" {
		return p.errorf(at, name, "peer id must be a number from 1 to 65535")
	}
	params, err := parseConnString(value)
	if err != nil {
		return p.errorf(at, name, "%s", err.Error())
	}
	peer := newPeer(id)
	peer.File, peer.Line = at.file, at.line
	if err := applyEntry(p, peerKeys, peer, params, at); err != nil {
		return err
	}
	if peer.Host == "" {
		return p.errorf(at, "host", "missing: a [peers] entry needs host=")
	}
	p.cfg.Peers[id] = peer
	return nil
}

func parsePort(v string) (int, error) {
	n, err := parseIntRange(v, 1, 65535)
	return int(n), err
}

// parseHosts splits host's comma list; an empty item is an error.
func parseHosts(v string) ([]string, error) {
	hosts := strings.Split(v, ",")
	for i, h := range hosts {
		hosts[i] = strings.TrimSpace(h)
		if hosts[i] == "" {
			return nil, errors.New("empty host name in list")
		}
	}
	return hosts, nil
}
