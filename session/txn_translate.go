package session

import (
	"time"

	"github.com/pgbun/pgbun/internal/wire"
)

// nopStatement is the name pgbun prepares an empty query under when a
// client's Parse needs a ParseComplete but the server already has the
// statement: the server then answers it in order, like any other.
const nopStatement = "pgbun_nop"

// translate queues one client message for the linked server, rewritten
// as prepared statements require, and records the answers to expect.
// Called with s.mu held.
func (s *txnSession) translate(typ byte, body []byte) {
	s.closeJunk()
	prepared := s.maxPrepared > 0
	switch typ {
	case 'P':
		if prepared {
			s.parse(body)
			return
		}
		s.q.push(expect{kind: '1'})
	case 'B':
		s.cfg.Stats.Binds.Add(1)
		if prepared && s.bind(body) {
			return
		}
	case 'D':
		if prepared && s.describe(body) {
			return
		}
	case 'C':
		s.closeMsg(body, prepared)
		return
	case 'S':
		s.syncPoint()
		s.unsynced = false
		s.out = wire.AppendMessage(s.out, typ, body)
		return
	case 'Q', 'F':
		s.syncPoint()
		s.out = wire.AppendMessage(s.out, typ, body)
		return
	case 'd', 'c', 'f':
		// COPY data: answered by the command that started the COPY.
		s.out = wire.AppendMessage(s.out, typ, body)
		return
	}
	s.unsynced = true
	s.out = wire.AppendMessage(s.out, typ, body)
}

// syncPoint records a message the server answers with ReadyForQuery.
func (s *txnSession) syncPoint() {
	if s.pending == 0 {
		now := time.Now().UnixNano()
		s.qStart = now
		if s.xStart == 0 {
			s.xStart = now
		}
		s.c.RequestTime.Store(now)
		s.clock.startQuery()
	}
	s.pending++
	s.q.push(expect{kind: 'Z'})
}

// parse handles a client's Parse.
func (s *txnSession) parse(body []byte) {
	s.unsynced = true
	s.cfg.Stats.ClientParses.Add(1)
	name, query, types, ok := parseParse(body)
	if !ok || name == "" {
		// The unnamed statement lives only until the next Parse or Query
		// and drivers send it with its Bind: it needs no renaming. A
		// malformed Parse is left for the server to refuse.
		s.out = wire.AppendMessage(s.out, 'P', body)
		s.q.push(expect{kind: '1'})
		s.cfg.Stats.ServerParses.Add(1)
		return
	}
	if _, dup := s.stmts[name]; dup {
		// PostgreSQL answers a reused name with 42P05 and skips to the
		// next Sync. Let the server say exactly that: prepare the name
		// twice; the first (hidden) succeeds, the second fails. The first
		// leaves a statement of that name behind, closed before the
		// server's next use.
		s.out = appendParse(s.out, name, "", nil)
		s.q.push(expect{kind: '1', drop: true, junk: name})
		s.out = appendParse(s.out, name, "", nil)
		s.q.push(expect{kind: '1'})
		return
	}
	e := s.e.stmts.acquire(query, types)
	if s.stmts == nil {
		s.stmts = make(map[string]*stmtEntry)
	}
	s.stmts[name] = e
	if x := s.ss.prepared.lookup(e); x != nil {
		// The server has it: answer with a ParseComplete of nothing.
		s.out = appendClose(s.out, 'S', nopStatement)
		s.q.push(expect{kind: '3', drop: true})
		s.out = appendParse(s.out, nopStatement, "", nil)
		s.q.push(expect{kind: '1', client: name, entry: e})
		return
	}
	s.prepareOnServer(e, false, name)
}

// prepareOnServer prepares e on the linked server under its server name,
// closing the least recently used statement first when the cache is full.
// drop hides the ParseComplete from the client (pgbun's own Parse).
func (s *txnSession) prepareOnServer(e *stmtEntry, drop bool, client string) *cached {
	x, evict := s.ss.prepared.add(e)
	if evict != nil {
		s.out = appendClose(s.out, 'S', evict.name)
		s.q.push(expect{kind: '3', drop: true})
	}
	s.out = appendParse(s.out, x.name, e.query, e.types)
	s.q.push(expect{kind: '1', drop: drop, stmt: x, client: client, entry: e})
	s.cfg.Stats.ServerParses.Add(1)
	return x
}

// serverName returns the name of the client's statement on the linked
// server, preparing it there first when needed; "" when the client has no
// such statement (the message then goes as is, and the server answers
// 26000 with the client's own name).
func (s *txnSession) serverName(name string) string {
	e := s.stmts[name]
	if e == nil {
		return ""
	}
	x := s.ss.prepared.lookup(e)
	if x == nil {
		s.cfg.Stats.PreparedMisses.Add(1)
		x = s.prepareOnServer(e, true, "")
	} else {
		s.cfg.Stats.PreparedHits.Add(1)
	}
	return x.name
}

// bind rewrites a Bind of a named statement; false leaves it as is.
func (s *txnSession) bind(body []byte) bool {
	portal, rest, ok := wire.CString(body)
	if !ok {
		return false
	}
	stmt, rest, ok := wire.CString(rest)
	if !ok || stmt == "" {
		return false
	}
	sn := s.serverName(stmt)
	if sn == "" {
		return false
	}
	s.unsynced = true
	s.out = appendBind(s.out, portal, sn, rest)
	return true
}

// describe rewrites a Describe of a named statement; false leaves it.
func (s *txnSession) describe(body []byte) bool {
	if len(body) < 2 || body[0] != 'S' {
		return false
	}
	name, _, ok := wire.CString(body[1:])
	if !ok || name == "" {
		return false
	}
	sn := s.serverName(name)
	if sn == "" {
		return false
	}
	s.unsynced = true
	s.out = appendDescribe(s.out, 'S', sn)
	return true
}

// closeMsg forgets a client's statement name. The Close still goes to
// the server under the client's name, which the server does not have
// (closing a missing statement is not an error): its CloseComplete then
// comes back in order with everything else.
func (s *txnSession) closeMsg(body []byte, prepared bool) {
	s.unsynced = true
	unjunk := ""
	if prepared && len(body) >= 2 && body[0] == 'S' {
		if name, _, ok := wire.CString(body[1:]); ok && name != "" {
			if e := s.stmts[name]; e != nil {
				delete(s.stmts, name)
				s.e.stmts.release(e)
			}
			unjunk = name
		}
	}
	s.out = wire.AppendMessage(s.out, 'C', body)
	s.q.push(expect{kind: '3', unjunk: unjunk})
}

// closeJunk closes statements the 42P05 answer left on the server.
func (s *txnSession) closeJunk() {
	if len(s.ss.junk) == 0 {
		return
	}
	for _, name := range s.ss.junk {
		s.out = appendClose(s.out, 'S', name)
		s.q.push(expect{kind: '3', drop: true, unjunk: name})
	}
	s.ss.closing = append(s.ss.closing, s.ss.junk...)
	s.ss.junk = s.ss.junk[:0]
}
