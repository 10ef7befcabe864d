//go:build !linux

package authn

import (
	"context"
	"time"
)

// preciseSleep is QueryCache's real sleep: where no finer clock is at
// hand, a timer (timerSleep), which may fire up to about a millisecond
// late.
func preciseSleep(ctx context.Context, d time.Duration) error {
	return timerSleep(ctx, d)
}
