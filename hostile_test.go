package backie_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// Hostile names and sizes are input too: every schema name PostgreSQL
// accepts works, and names and types beyond the limits are refused where
// they enter, with a sentinel, before they reach PostgreSQL.

// TestHostileSchemaNames: the notification channel of a schema whose name
// is long in bytes (non-ASCII), or holds quotes and spaces, is the same for
// the inserts and the listener, and no insert fails on it. The pool polls
// once a minute, so a task that runs at once was notified.
func TestHostileSchemaNames(t *testing.T) {
	t.Parallel()
	var b [3]byte
	_, _ = rand.Read(b[:])
	suffix := hex.EncodeToString(b[:]) // 6 bytes, so that parallel runs do not collide
	for name, schema := range map[string]string{
		"26 é (52 bytes)":          strings.Repeat("é", 23) + suffix,
		"63 bytes, the longest":    strings.Repeat("é", 28) + suffix + "x",
		"quotes, spaces, a dollar": `we"ird 'sch$ema` + suffix,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.LessOrEqual(t, len(schema), 63)
			home := dbtest.Schema(t)
			setup := dbtest.PoolFor(t, home, 2)
			ctx := t.Context()
			quoted := pgx.Identifier{schema}.Sanitize()
			t.Cleanup(func() {
				_, err := setup.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+quoted+` CASCADE`)
				assert.NoError(t, err)
			})
			require.NoError(t, backie.Migrate(ctx, setup, backie.MigrateConfig{Schema: schema}))
			db := dbtest.PoolFor(t, quoted, 4)
			var current string
			require.NoError(t, db.QueryRow(ctx, `SELECT current_schema()`).Scan(&current))
			require.Equal(t, schema, current)

			ran := make(chan int, 4)
			env := wpNewEnv(t, db, func(_ context.Context, _ backie.Queue, task *wpTask) error {
				ran <- task.N
				return nil
			})
			wpStart(t, env.q, backie.Config{Workers: 1, PollInterval: time.Minute})
			for n := range 3 {
				_, err := env.q.CreateTask(ctx, env.task(n))
				require.NoError(t, err, "enqueue a due task")
				require.Equal(t, n, wpRecv(t, ran, "the notified task"))
			}
			_, err := env.q.CreateTask(ctx, env.task(3), backie.RunAfter(100*time.Millisecond))
			require.NoError(t, err, "enqueue a task for later")
			require.Equal(t, 3, wpRecv(t, ran, "the scheduled task"))
		})
	}
}

// enqTypedTask has the type its payload says.
type enqTypedTask struct {
	backie.TaskDefaults
	Type string `json:"type"`
}

func (*enqTypedTask) Run(context.Context, backie.Queue) error { return nil }
func (t *enqTypedTask) TaskType() backie.TaskType             { return backie.TaskType(t.Type) }

// TestHostileTaskTypes: a task type beyond MaxTaskTypeLen, or with a NUL
// or invalid UTF-8, is refused at enqueue whatever the task's schedule; the
// longest type enqueues both due and scheduled (it travels in NOTIFY
// payloads, which are limited).
func TestHostileTaskTypes(t *testing.T) {
	t.Parallel()
	for name, typ := range map[string]string{
		"9000 bytes":    strings.Repeat("t", 9000),
		"256 bytes":     strings.Repeat("é", 128),
		"NUL":           "a\x00b",
		"invalid UTF-8": "a\xffb",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			enqBadInput(t, &enqTypedTask{Type: typ}, backie.ErrInvalidTaskType, "invalid task type")
			q, pool := enqQueue(t)
			_, err := q.CreateTask(t.Context(), &enqTypedTask{Type: typ}, backie.RunAfter(time.Hour))
			require.ErrorIs(t, err, backie.ErrInvalidTaskType, "scheduled")
			require.ErrorIs(t, err, backie.ErrInvalidTaskName, "a bad type is a bad name too")
			require.Zero(t, enqCount(t, pool))
			_, err = backie.NewWorkerPool(q, backie.Config{TaskTypes: []backie.TaskType{backie.TaskType(typ)}})
			require.ErrorIs(t, err, backie.ErrInvalidConfig, "in Config.TaskTypes")
			require.ErrorIs(t, err, backie.ErrInvalidTaskType)
		})
	}

	t.Run("the longest type", func(t *testing.T) {
		t.Parallel()
		q, pool := enqQueue(t)
		longest := strings.Repeat("é", 127) + "t"
		require.Len(t, longest, backie.MaxTaskTypeLen)
		due, err := q.CreateTask(t.Context(), &enqTypedTask{Type: longest})
		require.NoError(t, err)
		require.Equal(t, backie.TaskType(longest), due.Type)
		_, err = q.CreateTask(t.Context(), &enqTypedTask{Type: longest}, backie.RunAfter(time.Hour))
		require.NoError(t, err)
		require.Equal(t, 2, enqCount(t, pool))
	})
}
