package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// ThrottleConfig sets the failed-login limits. Failures has no default:
// zero (or less) turns the throttle off. The other fields take their
// defaults when zero or negative.
type ThrottleConfig struct {
	Failures   int           // failures within Window that cause a lockout; 0 = off
	Window     time.Duration // default 60s
	Lockout    time.Duration // first lockout, default 30s; doubles with each repeat offence...
	LockoutMax time.Duration // ...up to this, default 1h; also how long offences are remembered
	MaxEntries int           // addresses, and separately users, tracked at most; default 100000
}

const (
	defaultWindow     = 60 * time.Second
	defaultLockout    = 30 * time.Second
	defaultLockoutMax = time.Hour
	defaultMaxEntries = 100000
)

func (c ThrottleConfig) withDefaults() ThrottleConfig {
	c.Failures = max(c.Failures, 0)
	if c.Window <= 0 {
		c.Window = defaultWindow
	}
	if c.Lockout <= 0 {
		c.Lockout = defaultLockout
	}
	if c.LockoutMax <= 0 {
		c.LockoutMax = defaultLockoutMax
	}
	c.LockoutMax = max(c.LockoutMax, c.Lockout)
	if c.MaxEntries <= 0 {
		c.MaxEntries = defaultMaxEntries
	}
	return c
}

// off reports whether the throttle is switched off; c has its defaults.
func (c ThrottleConfig) off() bool { return c.Failures == 0 }

// lockoutFor returns the lockout of the n-th offence (n >= 1):
// Lockout*2^(n-1), capped at LockoutMax.
func (c ThrottleConfig) lockoutFor(n int) time.Duration {
	d := c.Lockout
	for i := 1; i < n && d < c.LockoutMax; i++ {
		d *= 2
	}
	return min(d, c.LockoutMax)
}

// The kinds of key a lockout applies to.
const (
	KeyAddress = "address"
	KeyUser    = "user"
)

// LockedError is the refusal of Begin, BeginWait or Confirm.
type LockedError struct {
	Key string // KeyAddress or KeyUser

	// RetryAfter is the time left in the lockout; zero when Pending.
	RetryAfter time.Duration

	// Pending is set when the address is not locked out, but the attempts
	// already in progress from it would reach the failure limit if they
	// all failed. The refusal lasts only until one of them ends;
	// BeginWait waits for that. Only an address is ever refused as
	// Pending: attempts in progress do not count against a user.
	Pending bool
}

func (e *LockedError) Error() string {
	if e.Pending {
		return "too many login attempts in progress for this " + e.Key
	}
	secs := (e.RetryAfter + time.Second - 1) / time.Second
	return "too many failed logins for this " + e.Key + ", locked for " + strconv.FormatInt(int64(secs), 10) + "s"
}

// Locked describes one current lockout, for SHOW commands and metrics.
type Locked struct {
	Kind     string    // KeyAddress or KeyUser
	Key      string    // IPv4 address, IPv6 /64, or user name
	Until    time.Time // end of the lockout
	Failures int       // failed logins recorded while the key has been tracked
	Offences int       // lockouts counted towards the doubling
}

// Throttle counts failed logins per source address and per user and locks
// out either once it has failed too often. It is safe for concurrent use;
// its memory is bounded by MaxEntries, beyond which the least recently
// seen addresses and users are forgotten. A tracked key costs up to about
// 450 bytes with Failures at 5, so 100000 entries bound the state to
// roughly 90 MB under an attack that fills both tables. A user is tracked
// only once a login as that user has failed, so naming users costs
// nothing; an address is tracked from its first attempt, and forgotten
// again when an attempt ends and leaves it with nothing worth remembering.
//
// The gateway calls Begin before it does any work on a password, Confirm
// once the client has answered and just before its proof is checked, and
// ends the Attempt with exactly one of Succeeded, Failed or Abandoned. It
// must do so for unknown users too, or lockouts would tell which users
// exist.
//
// Only a proof that failed costs a user anything: a user is locked out by
// the failures recorded against it, never by attempts still in progress,
// so that connections which name a user and then never answer cannot keep
// its owner out. Attempts in progress count against their address
// instead, which stops one source from launching a burst of parallel
// guesses. Guesses at one user sent in parallel from many addresses are
// therefore all admitted; Confirm turns away those the user's lockout
// overtook while they waited for the client, so only proofs being checked
// at the moment the limit is reached can go past it.
//
// Locking out a user protects the account against guesses spread over
// many addresses, at the price that such guesses also lock its owner out
// for a while; locking out an address stops one source trying many users.
//
// With Failures zero the throttle is off: it admits every attempt and
// records nothing.
type Throttle struct {
	now func() time.Time

	mu    sync.Mutex
	cfg   ThrottleConfig
	addrs *simplelru.LRU[netip.Prefix, *record]
	users *simplelru.LRU[string, *record]
	// gen counts the times the throttle was switched off, which drops
	// every record; an attempt begun under an older gen must not bring
	// its records back.
	gen uint64
	// wake is closed when an attempt ends, to rouse BeginWait callers;
	// nil while nobody waits.
	wake chan struct{}
}

// failure is one failed login; src is the address key it came from
// (zero for the Unix socket), so that a user's success can forgive its
// own typos without forgiving other sources.
type failure struct {
	at  time.Time
	src netip.Prefix
}

// record is the state of one address or user.
type record struct {
	failures []failure // within the window, oldest first
	inFlight int       // attempts begun and not yet ended; addresses only
	until    time.Time // end of the current or last lockout
	offences int
	total    int // failures recorded while the key has been tracked
}

// NewThrottle returns a Throttle with cfg's limits. now is the clock; nil
// means time.Now.
func NewThrottle(cfg ThrottleConfig, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	cfg = cfg.withDefaults()
	return &Throttle{
		now:   now,
		cfg:   cfg,
		addrs: newLRU[netip.Prefix, *record](cfg.MaxEntries),
		users: newLRU[string, *record](cfg.MaxEntries),
	}
}

// SetConfig applies new limits, keeping the failures and lockouts already
// recorded, so that a configuration reload does not pardon anybody. The
// exception is switching the throttle off (Failures zero): that forgets
// every failure and lockout, and switching it on again starts afresh.
func (t *Throttle) SetConfig(cfg ThrottleConfig) {
	cfg = cfg.withDefaults()
	t.mu.Lock()
	defer t.mu.Unlock()
	if cfg.off() && !t.cfg.off() {
		t.addrs.Purge()
		t.users.Purge()
		t.gen++
	}
	t.cfg = cfg
	t.addrs.Resize(cfg.MaxEntries)
	t.users.Resize(cfg.MaxEntries)
	t.wakeWaiters() // a higher limit, or none, may admit them
}

// Attempt is one login attempt admitted by Begin. A nil Attempt, or one
// from a nil Throttle or from one that was off, does nothing.
type Attempt struct {
	t       *Throttle
	gen     uint64 // t.gen at Begin
	ak      netip.Prefix
	hasAddr bool
	uk      string
	ar      *record // the address record counting this attempt; nil without an address
	ur      *record // the user's record at Begin; nil if it had none
	done    bool    // guarded by t.mu
}

// Begin admits a login attempt from addr (the zero Addr for the Unix
// socket, which is tracked by user only) as user, or refuses it with a
// *LockedError. It is called before any password work, so that a locked
// out source learns nothing, not even whether the right password would
// have worked.
//
// An attempt is refused while its address or its user is locked out, and
// a user is locked out only by failures. Attempts in flight count against
// the address alone: one is admitted only while the address's failures in
// the window plus its attempts in flight stay below Failures, or else a
// burst of concurrent guesses from one source would all be admitted
// before the first of them was recorded as failed. A user is never held
// back by attempts in flight, which may never answer; Confirm refuses
// the attempts a lockout of their user overtakes. A nil Throttle, or one
// that is off, admits everything.
func (t *Throttle) Begin(addr netip.Addr, user string) (*Attempt, error) {
	a, _, err := t.begin(addr, user)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// BeginWait is Begin, except that a Pending refusal waits, until an
// attempt in flight ends or ctx is done, and then tries again. ctx should
// carry the client's login timeout. When ctx ends first, the last refusal
// is returned.
func (t *Throttle) BeginWait(ctx context.Context, addr netip.Addr, user string) (*Attempt, error) {
	for {
		a, wake, err := t.begin(addr, user)
		if wake == nil {
			if err != nil {
				return nil, err
			}
			return a, nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, err
		}
	}
}

// begin returns the attempt, or the refusal and, for a Pending refusal,
// a channel closed when it may be worth trying again.
func (t *Throttle) begin(addr netip.Addr, user string) (*Attempt, <-chan struct{}, *LockedError) {
	if t == nil {
		return &Attempt{}, nil, nil
	}
	now := t.now()
	ak, hasAddr := sourceKey(addr)
	uk := userKey(user)

	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cfg.off() {
		return &Attempt{}, nil, nil
	}
	var ar *record
	if hasAddr {
		ar, _ = t.addrs.Get(ak)
	}
	// Looking the user up does not add it: only a failure does.
	ur, _ := t.users.Get(uk)

	// A lockout is reported before a Pending refusal: it is the firmer answer.
	if le := lockout(now, ar, ur); le != nil {
		return nil, nil, le
	}
	if ar != nil {
		ar.prune(now, t.cfg.Window)
		if len(ar.failures)+ar.inFlight >= t.cfg.Failures {
			if t.wake == nil {
				t.wake = make(chan struct{})
			}
			return nil, t.wake, &LockedError{Key: KeyAddress, Pending: true}
		}
	}
	if hasAddr {
		if ar == nil {
			ar = &record{}
			t.addrs.Add(ak, ar)
		}
		ar.inFlight++
	}
	return &Attempt{t: t, gen: t.gen, ak: ak, hasAddr: hasAddr, uk: uk, ar: ar, ur: ur}, nil, nil
}

// lockout returns the refusal for a lockout in force on the address
// record ar or the user record ur, the address's first; either may be nil.
func lockout(now time.Time, ar, ur *record) *LockedError {
	if ar != nil && now.Before(ar.until) {
		return &LockedError{Key: KeyAddress, RetryAfter: ar.until.Sub(now)}
	}
	if ur != nil && now.Before(ur.until) {
		return &LockedError{Key: KeyUser, RetryAfter: ur.until.Sub(now)}
	}
	return nil
}

// Confirm is called once the client has sent its proof, just before the
// proof is checked. Between Begin and this point other attempts may have
// failed and locked out the address or, since attempts in flight do not
// count against a user, the user; Confirm then returns the lockout as a
// *LockedError and ends the attempt as Abandoned, so the proof must not
// be checked, and ending the attempt again changes nothing. Otherwise it
// returns nil and the attempt goes on. It returns nil for a nil Attempt,
// one that has ended, and one from a nil Throttle or from one that is off.
func (a *Attempt) Confirm() error {
	if a == nil || a.t == nil {
		return nil
	}
	t := a.t
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if a.done || t.cfg.off() {
		return nil
	}
	ar, ur := a.records(t)
	var cur *record
	if a.hasAddr {
		cur = current(t.addrs, a.ak, ar)
	}
	if le := lockout(now, cur, current(t.users, a.uk, ur)); le != nil {
		t.finish(a, outcomeAbandoned, now)
		return le
	}
	return nil
}

// records returns the records a kept from Begin, or nils once the
// throttle dropped them by being switched off.
func (a *Attempt) records(t *Throttle) (ar, ur *record) {
	if a.gen != t.gen {
		return nil, nil
	}
	return a.ar, a.ur
}

// current returns the record under k, or orig if there is none (it was
// evicted).
func current[K comparable](l *simplelru.LRU[K, *record], k K, orig *record) *record {
	if r, ok := l.Peek(k); ok {
		return r
	}
	return orig
}

// Succeeded ends the attempt as a successful login. The address keeps its
// failures: an attacker holding one valid account could otherwise wipe
// out the address's record of its guesses at other accounts. The user
// forgets the failures that came from this same address, which are most
// likely its owner's own typos; failures from other addresses stay,
// because an application that logs in every few seconds would otherwise
// keep resetting the count for an attacker guessing its password from
// elsewhere. Offences are not forgotten early.
func (a *Attempt) Succeeded() { a.end(outcomeSucceeded) }

// Failed ends the attempt as a failed login, counted for the address and
// for the user.
func (a *Attempt) Failed() { a.end(outcomeFailed) }

// Abandoned ends the attempt without a verdict: the client left before a
// password was checked. libpq does this routinely, disconnecting when the
// server asks for a password it has not got and reconnecting once the
// user typed it, so it must not count as a failure.
func (a *Attempt) Abandoned() { a.end(outcomeAbandoned) }

type outcome int

const (
	outcomeSucceeded outcome = iota
	outcomeFailed
	outcomeAbandoned
)

func (a *Attempt) end(o outcome) {
	if a == nil || a.t == nil {
		return
	}
	t := a.t
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.finish(a, o, now)
}

// finish records the outcome of a, with t.mu held; only the first end of
// an attempt counts. Nothing is recorded while the throttle is off.
func (t *Throttle) finish(a *Attempt, o outcome, now time.Time) {
	if a.done {
		return
	}
	a.done = true
	if a.ar != nil {
		a.ar.inFlight--
	}
	ar, ur := a.records(t)
	switch {
	case t.cfg.off():
	case o == outcomeFailed:
		if a.hasAddr {
			lruGetOrAdd(t.addrs, a.ak, ar).fail(now, a.ak, t.cfg)
		}
		lruGetOrAdd(t.users, a.uk, ur).fail(now, a.ak, t.cfg)
	default:
		if o == outcomeSucceeded {
			if r, ok := t.users.Peek(a.uk); ok {
				r.forgive(a.ak)
				dropIdle(t.users, a.uk, r, now, t.cfg)
			}
		}
		if a.hasAddr {
			if r, ok := t.addrs.Peek(a.ak); ok {
				dropIdle(t.addrs, a.ak, r, now, t.cfg)
			}
		}
	}
	t.wakeWaiters()
}

func (t *Throttle) wakeWaiters() {
	if t.wake != nil {
		close(t.wake)
		t.wake = nil
	}
}

// lruGetOrAdd returns the record under k, adding orig (or a new record if
// orig is nil) when there is none. An attempt that ends after its record
// was evicted puts that record back with its history, unless a newer one
// took its place meanwhile.
func lruGetOrAdd[K comparable](l *simplelru.LRU[K, *record], k K, orig *record) *record {
	if r, ok := l.Get(k); ok {
		return r
	}
	if orig == nil {
		orig = &record{}
	}
	l.Add(k, orig)
	return orig
}

// dropIdle removes r, the record under k, when it holds nothing that
// still matters: no attempt in flight, no failure in the window and no
// offence still remembered. Such a record would only wait for eviction.
func dropIdle[K comparable](l *simplelru.LRU[K, *record], k K, r *record, now time.Time, cfg ThrottleConfig) {
	if r.inFlight > 0 {
		return
	}
	r.prune(now, cfg.Window)
	if len(r.failures) > 0 || (r.offences > 0 && now.Sub(r.until) < cfg.LockoutMax) {
		return
	}
	l.Remove(k)
}

func (r *record) prune(now time.Time, window time.Duration) {
	k := 0
	for k < len(r.failures) && now.Sub(r.failures[k].at) >= window {
		k++
	}
	if k > 0 {
		r.failures = r.failures[:copy(r.failures, r.failures[k:])]
	}
}

// fail records a failure and starts a lockout when it completes an
// offence. The failures of an offence are cleared, so that its end gives
// a fresh allowance rather than the rest of the old window.
func (r *record) fail(now time.Time, src netip.Prefix, cfg ThrottleConfig) {
	r.total++
	r.prune(now, cfg.Window)
	r.failures = append(r.failures, failure{at: now, src: src})
	if len(r.failures) < cfg.Failures {
		return
	}
	// Offences are forgotten LockoutMax after the last lockout ended; by
	// the lockout's end rather than its start, or a source that reached
	// the cap would be pardoned the moment it was let back in.
	if r.offences > 0 && now.Sub(r.until) >= cfg.LockoutMax {
		r.offences = 0
	}
	r.offences++
	r.until = now.Add(cfg.lockoutFor(r.offences))
	r.failures = r.failures[:0]
}

func (r *record) forgive(src netip.Prefix) {
	kept := r.failures[:0]
	for _, f := range r.failures {
		if f.src != src {
			kept = append(kept, f)
		}
	}
	r.failures = kept
}

// Locked lists the current lockouts, addresses first, each kind sorted by
// key. It walks every tracked entry: meant for occasional SHOW commands
// and metric scrapes, not for each login.
func (t *Throttle) Locked() []Locked {
	if t == nil {
		return nil
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Locked
	for _, k := range t.addrs.Keys() {
		if r, ok := t.addrs.Peek(k); ok && now.Before(r.until) {
			out = append(out, Locked{Kind: KeyAddress, Key: sourceString(k), Until: r.until, Failures: r.total, Offences: r.offences})
		}
	}
	nAddr := len(out)
	for _, k := range t.users.Keys() {
		if r, ok := t.users.Peek(k); ok && now.Before(r.until) {
			out = append(out, Locked{Kind: KeyUser, Key: k, Until: r.until, Failures: r.total, Offences: r.offences})
		}
	}
	sort.Slice(out[:nAddr], func(i, j int) bool { return out[i].Key < out[j].Key })
	users := out[nAddr:]
	sort.Slice(users, func(i, j int) bool { return users[i].Key < users[j].Key })
	return out
}

// maxUserKey bounds the length of user keys. User names come from the
// client; without the bound, MaxEntries long names would cost far more
// memory than MaxEntries short ones. PostgreSQL truncates names to 63
// bytes, so real user names fit.
const maxUserKey = 64

// userKey returns the key for a user name: the name itself, or for an
// over-long name a readable prefix plus a hash of the whole, so distinct
// names still get distinct keys.
func userKey(u string) string {
	if len(u) <= maxUserKey {
		return u
	}
	sum := sha256.Sum256([]byte(u))
	p := u[:32]
	for len(p) > 0 && !utf8.ValidString(p) {
		p = p[:len(p)-1]
	}
	return p + "…" + hex.EncodeToString(sum[:8])
}
