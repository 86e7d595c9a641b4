package resend

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/flowrun/flowrun/registry"
)

var errDown = errors.New("server restarting")

// Messages that fail for a while are sent again, only they, until they
// pass; one refused for good is not sent again and is the only one named.
func TestSendResendsOnlyTheFailedAndNamesWhatFailedForGood(t *testing.T) {
	p := Policy{For: time.Minute, Initial: time.Millisecond, Max: time.Millisecond, What: "test sink"}
	sent := map[int]int{}
	errs := make([]error, 5)
	err := p.Send(context.Background(), errs, func(_ context.Context, todo []int) {
		for _, i := range todo {
			sent[i]++
			switch {
			case i == 3:
				errs[i] = Permanent(errors.New("too large"))
			case i == 1 && sent[i] < 3:
				errs[i] = errDown
			default:
				errs[i] = nil
			}
		}
	})
	var we *registry.WriteError
	if !errors.As(err, &we) || !slices.Equal(we.Failed, []int{3}) || !IsPermanent(we.Err) {
		t.Fatalf("Send = %v, want a permanent WriteError naming message 3", err)
	}
	if want := map[int]int{0: 1, 1: 3, 2: 1, 3: 1, 4: 1}; !maps(sent, want) {
		t.Fatalf("sends per message = %v, want %v", sent, want)
	}
}

// Past retry_for, what still fails is named, and not permanent: the
// retry middleware may try it again later.
func TestSendGivesUpAfterRetryFor(t *testing.T) {
	p := Policy{For: 0, What: "test sink"}
	errs := make([]error, 3)
	errs[2] = Permanent(errors.New("does not convert")) // found before sending
	calls := 0
	err := p.Send(context.Background(), errs, func(_ context.Context, todo []int) {
		calls++
		if !slices.Equal(todo, []int{0, 1}) {
			t.Errorf("send got %v, want [0 1]", todo)
		}
		errs[0], errs[1] = nil, errDown
	})
	var we *registry.WriteError
	if !errors.As(err, &we) || !slices.Equal(we.Failed, []int{1, 2}) || IsPermanent(we.Err) || !errors.Is(err, errDown) {
		t.Fatalf("Send = %v, want a transient WriteError naming 1 and 2", err)
	}
	if calls != 1 {
		t.Fatalf("retry_for 0 sent %d times, want once", calls)
	}
}

// When nothing was delivered the error is plain: all failed.
func TestSendAllFailedIsNoWriteError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := Policy{For: time.Hour, Initial: time.Hour, What: "test sink"}
	errs := make([]error, 2)
	err := p.Send(ctx, errs, func(_ context.Context, todo []int) {
		for _, i := range todo {
			errs[i] = errDown
		}
		cancel() // the flow stops while the sink waits to send again
	})
	var we *registry.WriteError
	if err == nil || errors.As(err, &we) || !errors.Is(err, context.Canceled) || IsPermanent(err) {
		t.Fatalf("Send = %v, want a plain error that says the context ended", err)
	}
}

func maps(a, b map[int]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Resends caps how often a write sends again, however long retry_for is.
func TestSendStopsAfterResends(t *testing.T) {
	p := Policy{For: time.Hour, Initial: time.Millisecond, Max: time.Millisecond, Resends: 2, What: "test sink"}
	errs := make([]error, 1)
	calls := 0
	err := p.Send(context.Background(), errs, func(_ context.Context, todo []int) {
		calls++
		errs[0] = errDown
	})
	if calls != 3 || !errors.Is(err, errDown) || IsPermanent(err) {
		t.Fatalf("Send = %v after %d sends, want a transient failure after the first send and 2 resends", err, calls)
	}
}
