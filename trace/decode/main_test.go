package decode_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package on goroutines left over: TestLive's tunnel
// server and the pipes of its node process must all have ended.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
