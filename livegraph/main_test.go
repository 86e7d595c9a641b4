package livegraph_test

import (
	"testing"

	"go.uber.org/goleak"
)

// No test leaves a goroutine behind: streams end with their run or client.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
