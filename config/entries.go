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

// Keys each kind of entry knows, for the case-sensitivity hint.
var (
	databaseKeys = []string{"dbname", "host", "port", "user", "password", "auth_user", "auth_query",
		"auth_dbname", "pool_size", "min_pool_size", "reserve_pool_size", "reserve_pool",
		"max_db_connections", "max_db_client_connections", "server_lifetime", "pool_mode",
		"connect_query", "load_balance_hosts", "client_encoding", "datestyle", "timezone",
		"application_name", "target_session_attrs", "query_wait_timeout", "sni"}
	userKeys = []string{"pool_mode", "pool_size", "reserve_pool_size", "reserve_pool",
		"max_user_connections", "max_user_client_connections", "query_timeout",
		"idle_transaction_timeout", "transaction_timeout", "client_idle_timeout", "query_wait_timeout"}
	peerKeys = []string{"host", "port", "pool_size"}
)

// errUnknownParam marks a key the entry does not know; the caller warns.
var errUnknownParam = errors.New("unknown parameter")

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

// applyParams runs set on each pair of an entry and turns its verdicts
// into errors and warnings. section qualifies keys in implemented.
func (p *parser) applyParams(section string, params []connParam, known []string, at loc, set func(key, value string) error) error {
	for _, prm := range params {
		err := set(prm.key, prm.value)
		if errors.Is(err, errUnknownParam) {
			for _, k := range known {
				if strings.EqualFold(k, prm.key) {
					return p.errorf(at, clip(prm.key), "parameter names are case-sensitive: did you mean %s?", k)
				}
			}
			p.warn(at, clip(prm.key), msgUnknown)
			continue
		}
		if err != nil {
			return p.errorf(at, clip(prm.key), "%s", err.Error())
		}
		key := prm.key
		if key == "reserve_pool" {
			key = "reserve_pool_size"
		}
		if !implemented[section+"."+key] {
			p.warn(at, prm.key, msgUnsupported)
		}
	}
	return nil
}

func (p *parser) addDatabase(name, value string, at loc) error {
	if isConsoleName(name) {
		return p.errorf(at, name, "database name is reserved for the admin console")
	}
	params, err := parseConnString(value)
	if err != nil {
		return p.errorf(at, name, "%s", err.Error())
	}
	db := &Database{
		Name: name, File: at.file, Line: at.line, Port: 5432,
		PoolSize: -1, MinPoolSize: -1, ReservePoolSize: -1, MaxDBConnections: -1,
		MaxDBClientConns: -1, ServerLifetime: -1, LoadBalanceHosts: "round-robin",
		Raw: redactRaw(value, params),
	}
	err = p.applyParams("databases", params, databaseKeys, at, func(k, v string) error {
		var err error
		switch k {
		case "dbname":
			db.DBName = v
		case "host":
			db.Host, err = parseHosts(v)
		case "port":
			db.Port, err = parsePort(v)
		case "user":
			db.User = v
		case "password":
			db.Password = v
		case "auth_user":
			db.AuthUser = v
		case "auth_query":
			db.AuthQuery = v
		case "auth_dbname":
			db.AuthDBName = v
		case "pool_size":
			db.PoolSize, err = entryInt(v)
		case "min_pool_size":
			db.MinPoolSize, err = entryInt(v)
		case "reserve_pool_size", "reserve_pool":
			db.ReservePoolSize, err = entryInt(v)
		case "max_db_connections":
			db.MaxDBConnections, err = overrideInt(v)
		case "max_db_client_connections":
			db.MaxDBClientConns, err = overrideInt(v)
		case "server_lifetime":
			db.ServerLifetime, err = overrideDur(v)
		case "pool_mode":
			db.PoolMode, err = parsePoolMode(v)
		case "connect_query":
			db.ConnectQuery = v
		case "load_balance_hosts":
			db.LoadBalanceHosts, err = lookupEnum(v, balanceModes)
		case "client_encoding":
			db.ClientEncoding = v
		case "datestyle":
			db.DateStyle = v
		case "timezone":
			db.TimeZone = v
		case "application_name":
			db.ApplicationName = v
		case "sni":
			db.SNI = v
		case "target_session_attrs":
			// Newer PgBouncer: checked so a typo fails, not yet stored.
			_, err = lookupEnum(v, sessionAttrs)
		case "query_wait_timeout":
			_, err = entryDur(v)
		default:
			return errUnknownParam
		}
		return err
	})
	if err != nil {
		return err
	}
	p.cfg.Databases[name] = db
	return nil
}

func (p *parser) addUser(name, value string, at loc) error {
	params, err := parseConnString(value)
	if err != nil {
		return p.errorf(at, name, "%s", err.Error())
	}
	u := &User{
		Name: name, File: at.file, Line: at.line,
		PoolSize: -1, ReservePoolSize: -1, MaxUserConnections: -1, MaxUserClientConns: -1,
		QueryTimeout: -1, IdleTransactionTimeout: -1, TransactionTimeout: -1, ClientIdleTimeout: -1,
	}
	err = p.applyParams("users", params, userKeys, at, func(k, v string) error {
		var err error
		switch k {
		case "pool_mode":
			u.PoolMode, err = parsePoolMode(v)
		case "pool_size":
			u.PoolSize, err = entryInt(v)
		case "reserve_pool_size", "reserve_pool":
			u.ReservePoolSize, err = entryInt(v)
		case "max_user_connections":
			u.MaxUserConnections, err = overrideInt(v)
		case "max_user_client_connections":
			u.MaxUserClientConns, err = overrideInt(v)
		case "query_timeout":
			u.QueryTimeout, err = overrideDur(v)
		case "idle_transaction_timeout":
			u.IdleTransactionTimeout, err = overrideDur(v)
		case "transaction_timeout":
			u.TransactionTimeout, err = overrideDur(v)
		case "client_idle_timeout":
			u.ClientIdleTimeout, err = overrideDur(v)
		case "query_wait_timeout":
			_, err = entryDur(v)
		default:
			return errUnknownParam
		}
		return err
	})
	if err != nil {
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
	peer := &Peer{ID: id, File: at.file, Line: at.line, Port: 6432, PoolSize: -1}
	err = p.applyParams("peers", params, peerKeys, at, func(k, v string) error {
		var err error
		switch k {
		case "host":
			peer.Host = v
		case "port":
			peer.Port, err = parsePort(v)
		case "pool_size":
			peer.PoolSize, err = entryInt(v)
		default:
			return errUnknownParam
		}
		return err
	})
	if err != nil {
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
