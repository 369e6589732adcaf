package backietest

import "github.com/backie-go/backie"

// Queue is a backie.Queue that knows its registry: a *backie.PgQueue or a
// *RecordingQueue. The helpers take one to find the names of task types
// and to give running tasks a queue for their follow-ups.
type Queue interface {
	backie.Queue
	Registry() *backie.Registry
}

var _ Queue = (*backie.PgQueue)(nil)
