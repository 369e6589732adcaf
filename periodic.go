package backie

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/robfig/cron/v3"
)

// Schedule says when a periodic task is due: Next returns the first tick
// after t. It is the interface of robfig/cron's schedules, so that any of
// them, or a type of your own, can be a PeriodicTask's Schedule.
type Schedule interface {
	Next(t time.Time) time.Time
}

// ParseSchedule parses a cron expression: five fields (minute, hour, day
// of month, month, day of week, as in crontab(5)), or a descriptor such as
// @hourly, @daily, @weekly or @every 30s, with robfig/cron's standard
// parser. A "CRON_TZ=Europe/Paris " prefix evaluates it in that time zone
// instead of UTC.
func ParseSchedule(expr string) (Schedule, error) {
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, fmt.Errorf("%w: schedule %q: %w", ErrInvalidConfig, expr, err)
	}
	return s, nil
}

// PeriodicTask is a task enqueued on a schedule by the worker pools whose
// Config lists it. Each tick is enqueued exactly once, however many pools
// in however many processes list it, across restarts and clock skew: a
// pool enqueues tick T only by moving the task's last tick (a row of
// backie_periodic, by the database's clock) forward to T, in the same
// transaction. The task enqueued for tick T is scheduled at T.
type PeriodicTask struct {
	// Name identifies the periodic task across deploys (it keys its last
	// tick); pools that list the same Name must give it the same schedule.
	Name string
	// Cron is the schedule as a cron expression (see ParseSchedule). Set
	// Cron or Schedule, not both.
	Cron string
	// Schedule is a schedule of your own. Ticks are computed in UTC.
	Schedule Schedule
	// NewTask returns the task to enqueue at each tick. Its Go type must be
	// registered in the pool's registry.
	NewTask func() Task
	// Options are the enqueue options of each task (WithPriority...); the
	// task is scheduled at its tick, whatever they say.
	Options []CreateOption
	// RunOnStart enqueues a task when a pool starts, besides the ticks,
	// unless one enqueued that way is still waiting or running: pools that
	// start together enqueue one.
	RunOnStart bool
	// SkipMissed leaves out a tick missed while no pool ran (one that was
	// due more than a few seconds before the pool started). By default the
	// latest missed tick is enqueued once, when a pool starts.
	SkipMissed bool
}

// missedAfter: at start, a tick due more than this before the database's
// now was missed while no pool ran (a pool that runs enqueues a tick within
// a few milliseconds of it).
const missedAfter = 5 * time.Second

// periodicWaitMax bounds a periodic runner's sleep, so that it reads the
// last ticks (another pool may have enqueued some) at least this often.
const periodicWaitMax = time.Minute

// ticksMax bounds the walk from a last tick to the latest due one (a
// schedule of every second missed for a long time).
const ticksMax = 10_000_000

// periodicTask is a validated PeriodicTask.
type periodicTask struct {
	PeriodicTask
	schedule Schedule
}

// checkPeriodic validates the periodic tasks of a pool's Config: names set
// and unique, one schedule each that parses, and tasks of registered types.
func checkPeriodic(list []PeriodicTask, reg *Registry) ([]periodicTask, error) {
	var out []periodicTask
	names := map[string]bool{}
	for _, p := range list {
		bad := func(format string, args ...any) ([]periodicTask, error) {
			return nil, fmt.Errorf("%w: periodic task %q: %s", ErrInvalidConfig, p.Name, fmt.Sprintf(format, args...))
		}
		if err := validLabel(p.Name, MaxTaskNameLen); err != nil {
			return bad("name: %v", err)
		}
		if names[p.Name] {
			return bad("the name is listed twice")
		}
		names[p.Name] = true
		pt := periodicTask{PeriodicTask: p, schedule: p.Schedule}
		switch {
		case p.Cron != "" && p.Schedule != nil:
			return bad("set Cron or Schedule, not both")
		case p.Cron != "":
			s, err := cron.ParseStandard(p.Cron)
			if err != nil {
				return bad("schedule %q: %v", p.Cron, err)
			}
			pt.schedule = s
		case p.Schedule == nil:
			return bad("no schedule: set Cron or Schedule")
		}
		if p.NewTask == nil {
			return bad("NewTask is nil")
		}
		task := p.NewTask()
		if task == nil {
			return bad("NewTask returned nil")
		}
		if _, err := reg.nameOf(task); err != nil {
			return bad("%v", err)
		}
		out = append(out, pt)
	}
	return out, nil
}

// latestTick returns the latest tick of s at or before now, at or after
// from (from when there is none), walking from from.
func latestTick(s Schedule, from, now time.Time) time.Time {
	latest := from
	for range ticksMax {
		next := s.Next(latest.UTC())
		if next.IsZero() || next.After(now) {
			return latest
		}
		latest = next
	}
	return latest
}

// periodic enqueues a pool's periodic tasks at their ticks.
type periodic struct {
	db    *pgxpool.Pool
	q     *PgQueue
	log   *slog.Logger
	tasks []periodicTask
	names []string
}

func newPeriodic(q *PgQueue, log *slog.Logger, tasks []periodicTask) *periodic {
	p := &periodic{db: q.pool, q: q, log: log, tasks: tasks}
	for _, t := range tasks {
		p.names = append(p.names, t.Name)
	}
	return p
}

// start records the periodic tasks that have no row yet, with their latest
// tick before now (so that a new periodic task runs at its next tick),
// handles the ticks missed while no pool ran, and the RunOnStart tasks.
func (p *periodic) start(ctx context.Context) error {
	var now time.Time
	if err := p.db.QueryRow(ctx, `SELECT now()`).Scan(&now); err != nil {
		return err
	}
	for _, t := range p.tasks {
		first := latestTick(t.schedule, now.Add(-maxScheduleStep(t.schedule, now)), now)
		if _, err := p.db.Exec(ctx, sqlPeriodicInit, t.Name, first); err != nil {
			return err
		}
	}
	if err := p.tick(ctx, true); err != nil {
		return err
	}
	for _, t := range p.tasks {
		if !t.RunOnStart {
			continue
		}
		hash, err := HashOf("backie:periodic-start:" + t.Name)
		if err != nil {
			return err
		}
		opts := append(slices.Clip(t.Options), func(o *createOptions) { o.uniq = &hash })
		if _, err := p.q.createTasks(ctx, p.db, []Task{t.NewTask()}, opts); err != nil {
			return fmt.Errorf("periodic task %q: run on start: %w", t.Name, err)
		}
		p.log.Info("backie: enqueued a periodic task at start", "periodic", t.Name)
	}
	return nil
}

// maxScheduleStep is how far back from now start looks for the latest tick
// of a new periodic task: the gap between two ticks around now.
func maxScheduleStep(s Schedule, now time.Time) time.Duration {
	next := s.Next(now.UTC())
	after := s.Next(next)
	if next.IsZero() || after.IsZero() {
		return 0
	}
	return after.Sub(next)
}

func (p *periodic) run(ctx context.Context) {
	timer := newStoppedTimer()
	failures := 0
	for {
		wait, err := p.next(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			wait = errorBackoff(failures)
			p.log.Warn("backie: enqueueing periodic tasks failed", "error", err, "retry_in", wait)
		} else {
			failures = 0
		}
		if !sleep(ctx, timer, wait) {
			return
		}
	}
}

// next enqueues the due ticks and returns how long until the next one.
func (p *periodic) next(ctx context.Context) (time.Duration, error) {
	if err := p.tick(ctx, false); err != nil {
		return 0, err
	}
	last, now, err := p.lastTicks(ctx)
	if err != nil {
		return 0, err
	}
	wait := periodicWaitMax
	for _, t := range p.tasks {
		if l, ok := last[t.Name]; ok {
			if next := t.schedule.Next(l.UTC()); !next.IsZero() {
				wait = min(wait, next.Sub(now))
			}
		}
	}
	return max(wait, time.Millisecond), nil
}

func (p *periodic) lastTicks(ctx context.Context) (map[string]time.Time, time.Time, error) {
	rows, err := p.db.Query(ctx, sqlPeriodicTicks, p.names)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer rows.Close()
	last := map[string]time.Time{}
	var now time.Time
	for rows.Next() {
		var (
			name string
			tick time.Time
		)
		if err := rows.Scan(&name, &tick, &now); err != nil {
			return nil, time.Time{}, err
		}
		last[name] = tick
	}
	return last, now, rows.Err()
}

// tick enqueues, for each periodic task with a tick due, a task for its
// latest due tick (once, however many ticks were missed). At start, a tick
// missed while no pool ran is left out for a task with SkipMissed.
func (p *periodic) tick(ctx context.Context, starting bool) error {
	last, now, err := p.lastTicks(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range p.tasks {
		l, ok := last[t.Name]
		if !ok {
			continue
		}
		if next := t.schedule.Next(l.UTC()); next.IsZero() || next.After(now) {
			continue
		}
		due := latestTick(t.schedule, l, now)
		skip := starting && t.SkipMissed && due.Before(now.Add(-missedAfter))
		if err := p.enqueue(ctx, t, due, skip); err != nil {
			errs = append(errs, fmt.Errorf("periodic task %q: %w", t.Name, err))
		}
	}
	return errors.Join(errs...)
}

// enqueue moves t's last tick to tick and, unless skip, enqueues its task,
// in one transaction: nothing happens if another pool moved it first.
func (p *periodic) enqueue(ctx context.Context, t periodicTask, tick time.Time, skip bool) error {
	return pgx.BeginFunc(ctx, p.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sqlPeriodicAdvance, t.Name, tick)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		if skip {
			p.log.Info("backie: left out a periodic tick missed while no pool ran", "periodic", t.Name, "tick", tick)
			return nil
		}
		opts := append(slices.Clip(t.Options), RunAt(tick))
		if _, err := p.q.createTasks(ctx, tx, []Task{t.NewTask()}, opts); err != nil {
			return err
		}
		p.log.Debug("backie: enqueued a periodic task", "periodic", t.Name, "tick", tick)
		return nil
	})
}
