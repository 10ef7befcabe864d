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

// ThrottleConfig sets the failed-login limits. Zero fields take their
// defaults; negative ones are treated as zero.
type ThrottleConfig struct {
	Failures   int           // failures within Window that cause a lockout; default 5
	Window     time.Duration // default 60s
	Lockout    time.Duration // first lockout, default 30s; doubles with each repeat offence...
	LockoutMax time.Duration // ...up to this, default 1h; also how long offences are remembered
	MaxEntries int           // addresses, and separately users, tracked at most; default 100000
}

const (
	defaultFailures   = 5
	defaultWindow     = 60 * time.Second
	defaultLockout    = 30 * time.Second
	defaultLockoutMax = time.Hour
	defaultMaxEntries = 100000
)

func (c ThrottleConfig) withDefaults() ThrottleConfig {
	if c.Failures <= 0 {
		c.Failures = defaultFailures
	}
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

// LockedError is Begin's refusal.
type LockedError struct {
	Key string // KeyAddress or KeyUser

	// RetryAfter is the time left in the lockout; zero when Pending.
	RetryAfter time.Duration

	// Pending is set when the key is not locked out, but the attempts
	// already in progress for it would reach the failure limit if they
	// all failed. The refusal lasts only until one of them ends;
	// BeginWait waits for that.
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
// 450 bytes with the default Failures, so the defaults bound the state to
// roughly 90 MB under an attack that fills both tables.
//
// The gateway calls Begin before it does any work on a password, and ends
// the Attempt with exactly one of Succeeded, Failed or Abandoned. It must
// do so for unknown users too, or lockouts would tell which users exist.
//
// Locking out a user protects the account against guesses spread over
// many addresses, at the price that such guesses also lock its owner out
// for a while; locking out an address stops one source trying many users.
type Throttle struct {
	now func() time.Time

	mu    sync.Mutex
	cfg   ThrottleConfig
	addrs *simplelru.LRU[netip.Prefix, *record]
	users *simplelru.LRU[string, *record]
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
	inFlight int       // attempts begun and not yet ended
	until    time.Time // end of the current or last lockout
	offences int
	total    int // failures ever recorded for this key
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
// recorded, so that a configuration reload does not pardon anybody.
func (t *Throttle) SetConfig(cfg ThrottleConfig) {
	cfg = cfg.withDefaults()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cfg = cfg
	t.addrs.Resize(cfg.MaxEntries)
	t.users.Resize(cfg.MaxEntries)
	t.wakeWaiters() // a higher limit may admit them
}

// Attempt is one login attempt admitted by Begin. A nil Attempt, or one
// from a nil Throttle, does nothing.
type Attempt struct {
	t       *Throttle
	ak      netip.Prefix
	hasAddr bool
	uk      string
	ar, ur  *record // the records counted at Begin; ar is nil without an address
	done    bool    // guarded by t.mu
}

// Begin admits a login attempt from addr (the zero Addr for the Unix
// socket, which is tracked by user only) as user, or refuses it with a
// *LockedError. It is called before any password work, so that a locked
// out source learns nothing, not even whether the right password would
// have worked.
//
// Attempts in flight count against the limit: one is admitted only while
// failures in the window plus attempts in flight stay below Failures, for
// both the address and the user. Otherwise a burst of N concurrent guesses
// would all be admitted before the first of them was recorded as failed.
// A nil Throttle admits everything.
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
	var ar *record
	if hasAddr {
		ar = lruGetOrAdd(t.addrs, ak, nil)
	}
	ur := lruGetOrAdd(t.users, uk, nil)

	// A lockout is reported before a Pending refusal: it is the firmer answer.
	for _, c := range [...]struct {
		r   *record
		key string
	}{{ar, KeyAddress}, {ur, KeyUser}} {
		if c.r != nil && now.Before(c.r.until) {
			return nil, nil, &LockedError{Key: c.key, RetryAfter: c.r.until.Sub(now)}
		}
	}
	for _, c := range [...]struct {
		r   *record
		key string
	}{{ar, KeyAddress}, {ur, KeyUser}} {
		if c.r == nil {
			continue
		}
		c.r.prune(now, t.cfg.Window)
		if len(c.r.failures)+c.r.inFlight >= t.cfg.Failures {
			if t.wake == nil {
				t.wake = make(chan struct{})
			}
			return nil, t.wake, &LockedError{Key: c.key, Pending: true}
		}
	}
	if ar != nil {
		ar.inFlight++
	}
	ur.inFlight++
	return &Attempt{t: t, ak: ak, hasAddr: hasAddr, uk: uk, ar: ar, ur: ur}, nil, nil
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

// end records the outcome; only the first call of an attempt counts.
func (a *Attempt) end(o outcome) {
	if a == nil || a.t == nil {
		return
	}
	t := a.t
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if a.done {
		return
	}
	a.done = true
	if a.ar != nil {
		a.ar.inFlight--
	}
	a.ur.inFlight--
	switch o {
	case outcomeFailed:
		if a.hasAddr {
			lruGetOrAdd(t.addrs, a.ak, a.ar).fail(now, a.ak, t.cfg)
		}
		lruGetOrAdd(t.users, a.uk, a.ur).fail(now, a.ak, t.cfg)
	case outcomeSucceeded:
		if ur, ok := t.users.Peek(a.uk); ok {
			ur.forgive(a.ak)
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
