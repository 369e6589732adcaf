package backieotel_test

import (
	"testing"

	"github.com/backie-go/backie/internal/dbtest"
)

// TestMain fails the run if a test leaves goroutines behind (and stops the
// throwaway database cluster, if a test started one).
func TestMain(m *testing.M) { dbtest.Main(m) }
