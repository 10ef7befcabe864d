package gateway_test

import (
	"strconv"
	"sync"
	"testing"
)

// TestConcurrentSetKeepsEveryChange: console SETs of different keys at
// the same time each build on the other's result, so none is lost.
func TestConcurrentSetKeepsEveryChange(t *testing.T) {
	p := start(t, setup{})
	const n = 40
	var wg sync.WaitGroup
	for _, key := range []string{"query_timeout", "client_idle_timeout", "idle_transaction_timeout"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= n; i++ {
				if err := p.gw.SetKey(key, strconv.Itoa(i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got := map[string]string{}
	for _, c := range p.gw.Config() {
		got[c.Key] = c.Value
	}
	for _, key := range []string{"query_timeout", "client_idle_timeout", "idle_transaction_timeout"} {
		if got[key] != strconv.Itoa(n) {
			t.Errorf("%s = %q after its last SET to %d", key, got[key], n)
		}
	}
}
