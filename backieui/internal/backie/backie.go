// Package backie stands in for the task-control API of
// github.com/backie-go/backie (FindTask, ListTasks, Stats, Processes,
// CancelTask, RetryTask, PauseType…) until the library has it. It
// declares what the library does not have yet, with the names and
// signatures the library gives them, and re-exports what it has. The
// dashboard imports it under the name backie; when the library has the
// API, the dashboard imports github.com/backie-go/backie instead and this
// package goes away.
package backie

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"

	lib "github.com/backie-go/backie"
)

// What the library already has.
type (
	TaskID    = lib.TaskID
	TaskType  = lib.TaskType
	TaskHash  = lib.TaskHash
	TaskState = lib.TaskState
	ErrorInfo = lib.ErrorInfo
	ErrorKind = lib.ErrorKind
)

// Task states.
const (
	StateReady               = lib.StateReady
	StateScheduled           = lib.StateScheduled
	StateRunning             = lib.StateRunning
	StateDone                = lib.StateDone
	StateFailed              = lib.StateFailed
	StateCancelled TaskState = "cancelled"
)

// AllStates lists the states in their order.
var AllStates = []TaskState{StateReady, StateScheduled, StateRunning, StateDone, StateFailed, StateCancelled}

// Error kinds.
const (
	ErrorKindError     = lib.ErrorKindError
	ErrorKindPanic     = lib.ErrorKindPanic
	ErrorKindTimeout   = lib.ErrorKindTimeout
	ErrorKindDecode    = lib.ErrorKindDecode
	ErrorKindAbandoned = lib.ErrorKindAbandoned
)

// Priorities: 1 runs first, 4 last.
const (
	PriorityUrgent  = 1
	PriorityDefault = 2
	PriorityLow     = 3
	PriorityLowest  = 4
)

// Errors.
var (
	ErrNotFound      = lib.ErrNotFound
	ErrMissingTable  = lib.ErrMissingTable
	ErrPoolClosed    = lib.ErrPoolClosed
	ErrTaskFinished  = errors.New("task is finished")
	ErrTaskRunning   = errors.New("task is running")
	ErrInvalidFilter = errors.New("invalid filter")
)

// TaskRecord is a task as stored in backie_tasks.
type TaskRecord struct {
	ID          TaskID
	Name        string
	Type        TaskType
	UniqHash    TaskHash
	Priority    int
	Payload     json.RawMessage
	Timeout     time.Duration
	CreatedAt   time.Time
	ScheduledAt time.Time
	RunningAt   *time.Time
	DoneAt      *time.Time
	CancelledAt *time.Time
	Error       *ErrorInfo
	Retries     int
	MaxRetries  int
	Attempt     int
	ProcessID   *uuid.UUID
}

// State derives the task's state from its columns at the current time.
func (r *TaskRecord) State() TaskState {
	switch {
	case r.CancelledAt != nil:
		return StateCancelled
	case r.DoneAt != nil && r.Error != nil:
		return StateFailed
	case r.DoneAt != nil:
		return StateDone
	case r.RunningAt != nil:
		return StateRunning
	case r.ScheduledAt.After(time.Now()):
		return StateScheduled
	default:
		return StateReady
	}
}

// PausedType is a task type whose tasks no pool claims.
type PausedType struct {
	Type     TaskType
	PausedAt time.Time
}

// ListFilter selects the tasks of a ListTasks page.
type ListFilter struct {
	State      TaskState
	Types      []TaskType
	Names      []string
	Priorities []int
	From, To   time.Time
	Oldest     bool
	Limit      int
	Cursor     string
}

// TaskPage is one page of ListTasks.
type TaskPage struct {
	Tasks []*TaskRecord
	Next  string
}

// Stats is the overview of the table and of the live pools.
type Stats struct {
	CountedAt  time.Time
	Totals     StateCounts
	Types      []TypeStats
	Paused     []PausedType
	Processes  []Process
	Unserved   []UnservedTask
	Throughput []Throughput
}

// StateCounts counts tasks by state.
type StateCounts struct{ Ready, Scheduled, Running, Done, Failed, Cancelled int64 }

// Of returns the count of state s.
func (c StateCounts) Of(s TaskState) int64 {
	switch s {
	case StateReady:
		return c.Ready
	case StateScheduled:
		return c.Scheduled
	case StateRunning:
		return c.Running
	case StateDone:
		return c.Done
	case StateFailed:
		return c.Failed
	case StateCancelled:
		return c.Cancelled
	}
	return 0
}

// TypeStats are the counts of one task type.
type TypeStats struct {
	Type TaskType
	StateCounts
	Lag    time.Duration
	Paused bool
}

// Process is a live worker pool.
type Process struct {
	ID                     uuid.UUID
	Host                   string
	PID                    int
	TaskNames              []string
	TaskTypes              []TaskType
	Workers                int
	Running                int
	StartedAt, HeartbeatAt time.Time
	Leader                 bool
}

// UnservedTask counts tasks due for over a minute that no live pool serves.
type UnservedTask struct {
	Name   string
	Type   TaskType
	Count  int64
	DueFor time.Duration
}

// Throughput counts the attempts that finished in one minute.
type Throughput struct {
	Minute                time.Time
	Done, Failed, Retried int64
}
