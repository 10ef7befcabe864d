package config

import (
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// WriteEffective writes the configuration as `pgbun check` shows it:
// every [pgbouncer] key with its effective value, sorted by name (aliases
// left out), then the [databases], [users] and [peers] entries in a
// normalised form, sorted. Passwords are written as ***. The output is
// itself a valid configuration file with the same settings.
func (c *Config) WriteEffective(w io.Writer) error {
	var b strings.Builder
	b.WriteString("[pgbouncer]\n")
	for _, name := range settingNames {
		writeEntry(&b, name, settingByName[name].effective(&c.General))
	}

	b.WriteString("\n[databases]\n")
	for _, name := range sortedKeys(c.Databases) {
		writeEntry(&b, quoteName(name), databaseValue(c.Databases[name]))
	}

	b.WriteString("\n[users]\n")
	for _, name := range sortedKeys(c.Users) {
		writeEntry(&b, quoteName(name), userValue(c.Users[name]))
	}

	b.WriteString("\n[peers]\n")
	ids := make([]int, 0, len(c.Peers))
	for id := range c.Peers {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		pr := c.Peers[id]
		var kv pairs
		kv.add("host", pr.Host)
		kv.add("port", strconv.Itoa(pr.Port))
		kv.add("pool_size", strconv.Itoa(pr.PoolSize))
		writeEntry(&b, strconv.Itoa(id), kv.String())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeEntry(b *strings.Builder, key, value string) {
	b.WriteString(key)
	if value == "" {
		b.WriteString(" =\n")
		return
	}
	b.WriteString(" = ")
	b.WriteString(value)
	b.WriteByte('\n')
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// quoteName writes an entry name bare when PgBouncer would read it so,
// else in double quotes.
func quoteName(name string) string {
	bare := name != ""
	for i := 0; i < len(name) && bare; i++ {
		bare = isKeyByte(name[i])
	}
	if bare {
		return name
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// pairs builds an entry value in a fixed key order.
type pairs []string

func (kv *pairs) add(key, value string) { *kv = append(*kv, key+"="+quoteConnValue(value)) }

func (kv *pairs) addString(key, value string) {
	if value != "" {
		kv.add(key, value)
	}
}

func (kv *pairs) addSize(key string, n int) {
	if n >= 0 {
		kv.add(key, strconv.Itoa(n))
	}
}

func (kv *pairs) addLimit(key string, n int) {
	if n > 0 {
		kv.add(key, strconv.Itoa(n))
	}
}

func (kv *pairs) addTimeout(key string, d time.Duration) {
	if d > 0 {
		kv.add(key, formatDuration(d, time.Second))
	}
}

func (kv pairs) String() string { return strings.Join(kv, " ") }

func databaseValue(db *Database) string {
	var kv pairs
	if len(db.Host) > 0 {
		kv.add("host", strings.Join(db.Host, ","))
	}
	kv.add("port", strconv.Itoa(db.Port))
	kv.addString("dbname", db.DBName)
	kv.addString("user", db.User)
	if db.Password != "" {
		kv = append(kv, "password=***")
	}
	kv.addString("auth_user", db.AuthUser)
	kv.addString("auth_dbname", db.AuthDBName)
	kv.addString("auth_query", db.AuthQuery)
	kv.addSize("pool_size", db.PoolSize)
	kv.addSize("min_pool_size", db.MinPoolSize)
	kv.addSize("reserve_pool_size", db.ReservePoolSize)
	kv.addLimit("max_db_connections", db.MaxDBConnections)
	kv.addLimit("max_db_client_connections", db.MaxDBClientConns)
	kv.addTimeout("server_lifetime", db.ServerLifetime)
	kv.addString("pool_mode", string(db.PoolMode))
	if db.LoadBalanceHosts != "round-robin" {
		kv.addString("load_balance_hosts", db.LoadBalanceHosts)
	}
	kv.addString("connect_query", db.ConnectQuery)
	kv.addString("client_encoding", db.ClientEncoding)
	kv.addString("datestyle", db.DateStyle)
	kv.addString("timezone", db.TimeZone)
	kv.addString("application_name", db.ApplicationName)
	kv.addString("sni", db.SNI)
	return kv.String()
}

func userValue(u *User) string {
	var kv pairs
	kv.addString("pool_mode", string(u.PoolMode))
	kv.addSize("pool_size", u.PoolSize)
	kv.addSize("reserve_pool_size", u.ReservePoolSize)
	kv.addLimit("max_user_connections", u.MaxUserConnections)
	kv.addLimit("max_user_client_connections", u.MaxUserClientConns)
	kv.addTimeout("query_timeout", u.QueryTimeout)
	kv.addTimeout("idle_transaction_timeout", u.IdleTransactionTimeout)
	kv.addTimeout("transaction_timeout", u.TransactionTimeout)
	kv.addTimeout("client_idle_timeout", u.ClientIdleTimeout)
	return kv.String()
}
