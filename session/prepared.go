package session

import (
	"container/list"
	"strconv"
	"sync"

	"github.com/pgbun/pgbun/internal/wire"
)

// Prepared statements under transaction and statement pooling.
//
// A client's named statements live in the client's session at pgbun, not
// on any one server. Each distinct (query text, parameter types) becomes a
// stmtEntry with a pgbun-wide id; on a server it is prepared under a name
// of pgbun's own, at most once, and kept in the server's stmtCache (an LRU
// of max_prepared_statements). Client messages are rewritten on the way:
// Parse of a new name prepares the statement where needed, Bind and
// Describe use the server's name and prepare it first when the server
// lacks it, Close only forgets the client's name. The server answers every
// message pgbun sends, in order; answers to messages pgbun added are
// removed from what the client sees (see expect).

// stmtEntry is one distinct statement. Entries live as long as a client
// names them; servers may keep them prepared longer.
type stmtEntry struct {
	id    uint64
	key   string
	query string
	types []byte // the Parse message's parameter types: int16 count, then OIDs
	refs  int    // client names pointing here (guarded by the registry)
}

// stmtRegistry maps statement text to entries, shared by all clients.
type stmtRegistry struct {
	mu   sync.Mutex
	m    map[string]*stmtEntry
	next uint64
}

func (r *stmtRegistry) acquire(query string, types []byte) *stmtEntry {
	key := query + "\x00" + string(types)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[string]*stmtEntry)
	}
	e, ok := r.m[key]
	if !ok {
		r.next++
		e = &stmtEntry{id: r.next, key: key, query: query, types: []byte(string(types))}
		r.m[key] = e
	}
	e.refs++
	return e
}

func (r *stmtRegistry) release(e *stmtEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.refs--
	if e.refs <= 0 && r.m[e.key] == e {
		delete(r.m, e.key)
	}
}

// size reports how many distinct statements clients hold.
func (r *stmtRegistry) size() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}

// stmtCache is one server's prepared statements, least recently used
// first out. A statement is pending until its ParseComplete arrives.
type stmtCache struct {
	cap    int
	gen    uint32
	m      map[uint64]*list.Element
	lru    list.List // of *cached, front = most recent
	pinned []*cached // used since the last ReadyForQuery: not evicted
}

type cached struct {
	e         *stmtEntry
	name      string // the statement's name on this server
	confirmed bool
	pin       bool
}

func newStmtCache(capacity int, gen uint32) *stmtCache {
	return &stmtCache{cap: capacity, gen: gen, m: make(map[uint64]*list.Element)}
}

// lookup returns e's cache entry and marks it used.
func (c *stmtCache) lookup(e *stmtEntry) *cached {
	el, ok := c.m[e.id]
	if !ok {
		return nil
	}
	c.lru.MoveToFront(el)
	x := el.Value.(*cached)
	c.pinLocked(x)
	return x
}

func (c *stmtCache) pinLocked(x *cached) {
	if !x.pin {
		x.pin = true
		c.pinned = append(c.pinned, x)
	}
}

// add records e as being prepared on the server and returns the entry
// to evict first (to be closed on the server), if the cache is full.
func (c *stmtCache) add(e *stmtEntry) (x *cached, evict *cached) {
	if c.cap > 0 && c.lru.Len() >= c.cap {
		for el := c.lru.Back(); el != nil; el = el.Prev() {
			if old := el.Value.(*cached); !old.pin {
				c.lru.Remove(el)
				delete(c.m, old.e.id)
				evict = old
				break
			}
		}
	}
	x = &cached{e: e, name: "pgbun_" + strconv.FormatUint(uint64(c.gen), 36) + "_" + strconv.FormatUint(e.id, 10)}
	c.m[e.id] = c.lru.PushFront(x)
	c.pinLocked(x)
	return x, evict
}

func (c *stmtCache) remove(x *cached) {
	if el, ok := c.m[x.e.id]; ok && el.Value.(*cached) == x {
		c.lru.Remove(el)
		delete(c.m, x.e.id)
	}
}

// unpin ends a batch: every statement becomes evictable again.
func (c *stmtCache) unpin() {
	for _, x := range c.pinned {
		x.pin = false
	}
	clear(c.pinned)
	c.pinned = c.pinned[:0]
}

func (c *stmtCache) clear() {
	c.m = make(map[uint64]*list.Element)
	c.lru.Init()
	c.pinned = c.pinned[:0]
}

func (c *stmtCache) len() int { return c.lru.Len() }

// expect is one answer the server owes for a message pgbun sent that
// needs attention: ParseComplete ('1'), CloseComplete ('3') and
// ReadyForQuery ('Z'), in the order the messages went out.
type expect struct {
	kind   byte
	drop   bool    // pgbun added the message: the client must not see the answer
	stmt   *cached // a Parse of a server statement: confirmed by ParseComplete
	client string  // a client's Parse of this name: forgotten if it fails
	junk   string  // a statement name left on the server by this Parse...
	unjunk string  // ...or removed by this Close
	entry  *stmtEntry
}

// expectQueue is a FIFO that reuses its storage.
type expectQueue struct {
	q []expect
	h int
}

func (q *expectQueue) push(e expect) { q.q = append(q.q, e) }

func (q *expectQueue) len() int { return len(q.q) - q.h }

func (q *expectQueue) peek() *expect {
	if q.h >= len(q.q) {
		return nil
	}
	return &q.q[q.h]
}

func (q *expectQueue) pop() expect {
	e := q.q[q.h]
	q.q[q.h] = expect{}
	q.h++
	if q.h == len(q.q) {
		q.q, q.h = q.q[:0], 0
	}
	return e
}

// Message builders for what pgbun sends in a client's name.

func appendParse(dst []byte, name, query string, types []byte) []byte {
	dst, s := wire.AppendHeader(dst, 'P')
	dst = append(append(dst, name...), 0)
	dst = append(append(dst, query...), 0)
	if len(types) == 0 {
		dst = append(dst, 0, 0)
	} else {
		dst = append(dst, types...)
	}
	return wire.Finish(dst, s)
}

func appendClose(dst []byte, kind byte, name string) []byte {
	dst, s := wire.AppendHeader(dst, 'C')
	dst = append(dst, kind)
	dst = append(append(dst, name...), 0)
	return wire.Finish(dst, s)
}

func appendDescribe(dst []byte, kind byte, name string) []byte {
	dst, s := wire.AppendHeader(dst, 'D')
	dst = append(dst, kind)
	dst = append(append(dst, name...), 0)
	return wire.Finish(dst, s)
}

// appendBind re-encodes a Bind with another statement name; rest is
// everything after the statement name (formats, parameters, results).
func appendBind(dst []byte, portal, stmt string, rest []byte) []byte {
	dst, s := wire.AppendHeader(dst, 'B')
	dst = append(append(dst, portal...), 0)
	dst = append(append(dst, stmt...), 0)
	dst = append(dst, rest...)
	return wire.Finish(dst, s)
}

// parseParse splits a Parse body: name, query, parameter types.
func parseParse(body []byte) (name, query string, types []byte, ok bool) {
	name, rest, ok := wire.CString(body)
	if !ok {
		return
	}
	query, rest, ok = wire.CString(rest)
	if !ok {
		return "", "", nil, false
	}
	n, oids, ok := wire.Uint16(rest)
	if !ok || len(oids) != 4*int(n) {
		return "", "", nil, false
	}
	return name, query, rest, true
}
