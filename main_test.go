package backie_test

import (
	"testing"

	"github.com/backie-go/backie/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }
