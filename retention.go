package backie

import "fmt"

// RetentionMode says which finished tasks a WorkerPool keeps in the table.
type RetentionMode int

const (
	// RemoveFinished deletes tasks that succeed and keeps failed ones (with
	// their error) for inspection. It is the default (the zero value).
	RemoveFinished RetentionMode = iota
	// KeepAll keeps every finished task: a success sets done_at, a final
	// failure sets done_at and error_info.
	KeepAll
	// RemoveAll deletes every finished task, succeeded or failed.
	RemoveAll
)

// String returns the mode's name.
func (m RetentionMode) String() string {
	switch m {
	case RemoveFinished:
		return "RemoveFinished"
	case KeepAll:
		return "KeepAll"
	case RemoveAll:
		return "RemoveAll"
	}
	return fmt.Sprintf("RetentionMode(%d)", int(m))
}

func (m RetentionMode) valid() bool { return m >= RemoveFinished && m <= RemoveAll }

// keepsSuccess reports whether a succeeded task stays in the table.
func (m RetentionMode) keepsSuccess() bool { return m == KeepAll }

// keepsFailure reports whether a task that failed for good stays.
func (m RetentionMode) keepsFailure() bool { return m != RemoveAll }
