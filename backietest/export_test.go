package backietest

import "context"

// SetStartPostgresForTest makes Pool start its container with start (nil:
// the real start), and forgets any container started before; the returned function restores
// the real start.
func SetStartPostgresForTest(start func(ctx context.Context) (string, func() error, error)) (restore func()) {
	_ = stopContainer()
	saved := startPostgres
	if start != nil {
		startPostgres = start
	}
	return func() {
		_ = stopContainer()
		startPostgres = saved
	}
}

// StopContainerForTest removes the container as Run does at the end.
func StopContainerForTest() error { return stopContainer() }
