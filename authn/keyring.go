package authn

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"sync"
)

// keyringCacheSize bounds the cache of SCRAM secrets derived from plaintext
// passwords: one PBKDF2 run per user and password, then map lookups.
const keyringCacheSize = 10000

// Keyring holds what pgbun's SCRAM server needs beyond stored secrets: a
// random per-process mock key, from which salts for plaintext passwords and
// the mock secrets of unknown users are derived, and a bounded cache of
// SCRAM secrets derived from plaintext passwords. It is safe for concurrent
// use. Create one per process: a new Keyring changes every derived salt, so
// clients that cache SCRAM keys (libpq does not) would recompute them.
type Keyring struct {
	mockKey [sha256.Size]byte

	mu    sync.Mutex
	cache map[[sha256.Size]byte]*SCRAMSecret // keyed by HMAC(mockKey, user, password)
	max   int

	// nonceGen replaces the SCRAM engine's server nonces when set (tests
	// replaying RFC 7677's exchange); nil means random nonces.
	nonceGen func() string
}

// NewKeyring returns a Keyring with a fresh random mock key.
func NewKeyring() *Keyring {
	k := &Keyring{cache: make(map[[sha256.Size]byte]*SCRAMSecret), max: keyringCacheSize}
	_, _ = rand.Read(k.mockKey[:]) // never fails: crypto/rand.Read crashes the program instead
	return k
}

// SCRAMFor returns the SCRAM secret that verifies a SCRAM login of user
// whose stored secret is sec:
//
//   - a usable SCRAM secret is returned as is;
//   - a plaintext password yields a secret derived with a salt of
//     HMAC(mock key, user) and 4096 iterations, computed once per user and
//     password and cached (the cache holds 10,000 secrets and evicts an
//     arbitrary one when full); the salt is the one an unknown user of the
//     same name gets, so adding or removing a user does not show in salts;
//   - an md5 hash, an empty password, an unusable SCRAM secret or no secret
//     yield (nil, false): the login must run as a mock exchange.
//
// The returned secret is shared: treat it as read-only.
func (k *Keyring) SCRAMFor(user string, sec Secret) (*SCRAMSecret, bool) {
	switch sec.Kind {
	case SecretSCRAM:
		if sc, _ := sec.SCRAM(); sc.usable() {
			return sc, true
		}
	case SecretPlain:
		if pw, ok := sec.plaintext(); ok {
			return k.derived(user, pw)
		}
	}
	return nil, false
}

func (k *Keyring) derived(user, password string) (*SCRAMSecret, bool) {
	key := k.cacheKey(user, password)
	k.mu.Lock()
	sc, ok := k.cache[key]
	k.mu.Unlock()
	if ok {
		return sc, true
	}
	// PBKDF2 runs outside the lock; two logins racing on a miss both derive
	// the same secret, and the second store is harmless.
	sc = SCRAMSecretFromPassword(password, k.salt(user), defaultIterations)
	if sc == nil {
		return nil, false
	}
	k.mu.Lock()
	if _, present := k.cache[key]; !present && len(k.cache) >= k.max {
		for victim := range k.cache { // map iteration order is random: evict any entry
			delete(k.cache, victim)
			break
		}
	}
	k.cache[key] = sc
	k.mu.Unlock()
	return sc, true
}

// cacheKey keys the cache by a hash keyed with the secret mock key rather
// than by the password, so the cache holds nothing that could be attacked
// offline. (Length extension does not matter: the keys never leave here.)
func (k *Keyring) cacheKey(user, password string) [sha256.Size]byte {
	const domain = "pgbun scram cache\x00"
	buf := make([]byte, 0, len(k.mockKey)+len(domain)+binary.MaxVarintLen64+len(user)+len(password))
	buf = append(buf, k.mockKey[:]...)
	buf = append(buf, domain...)
	buf = binary.AppendUvarint(buf, uint64(len(user)))
	buf = append(buf, user...)
	buf = append(buf, password...)
	key := sha256.Sum256(buf)
	clear(buf)
	return key
}

// salt is the salt of user's derived and mock secrets: the same for the
// same name for the life of the process, like PostgreSQL's mock salt.
func (k *Keyring) salt(user string) []byte {
	return hmacSHA256(k.mockKey[:], "pgbun scram salt\x00", user)[:defaultSaltLen]
}

// mockSecret is the secret an exchange for an unknown user runs with. It
// looks like a real secret (16-byte salt, 4096 iterations) and its keys are
// derived from the mock key, so no client proof can match it in practice;
// the server fails such an exchange regardless.
func (k *Keyring) mockSecret(user string) *SCRAMSecret {
	return &SCRAMSecret{
		Iterations: defaultIterations,
		Salt:       k.salt(user),
		StoredKey:  hmacSHA256(k.mockKey[:], "pgbun scram mock stored key\x00", user),
		ServerKey:  hmacSHA256(k.mockKey[:], "pgbun scram mock server key\x00", user),
	}
}
