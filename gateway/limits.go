package gateway

import (
	"sync"

	"github.com/pgbun/pgbun/internal/wire"
)

// clientCounts counts connected clients per database and per user, for
// max_db_client_connections and max_user_client_connections. Safe for
// concurrent use.
type clientCounts struct {
	mu   sync.Mutex
	db   map[string]int
	user map[string]int
}

// enter admits one more client of db and user, or refuses it when a
// limit (0 = none) is reached.
func (cc *clientCounts) enter(db, user string, maxDB, maxUser int) error {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.db == nil {
		cc.db, cc.user = make(map[string]int), make(map[string]int)
	}
	if maxDB > 0 && cc.db[db] >= maxDB {
		return wire.Fatal(wire.CodeTooManyConnections, "no more connections allowed (max_db_client_connections)")
	}
	if maxUser > 0 && cc.user[user] >= maxUser {
		return wire.Fatal(wire.CodeTooManyConnections, "no more connections allowed (max_user_client_connections)")
	}
	cc.db[db]++
	cc.user[user]++
	return nil
}

func (cc *clientCounts) leave(db, user string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.db[db]--; cc.db[db] <= 0 {
		delete(cc.db, db)
	}
	if cc.user[user]--; cc.user[user] <= 0 {
		delete(cc.user, user)
	}
}
