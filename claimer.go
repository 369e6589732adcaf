package backie

import (
	"bytes"
	"cmp"
	"context"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// slots counts the workers free to start a task. The claimer takes a slot
// for each task it hands out, and a worker gives its slot back when it has
// finished; so at most total tasks are out at once, and a jobs channel of
// capacity total never blocks the claimer. The workers also keep the mean
// duration of their attempts, which sizes the claim-ahead buffer.
type slots struct {
	total   int64
	workers int64
	free    atomic.Int64
	freed   chan struct{} // a slot came back (capacity 1)
	runNS   atomic.Int64  // moving mean of the attempts' durations; 0: none yet
}

func newSlots(workers, ahead int) *slots {
	s := &slots{total: int64(workers + ahead), workers: int64(workers), freed: make(chan struct{}, 1)}
	s.free.Store(s.total)
	return s
}

func (s *slots) available() int { return int(s.free.Load()) }
func (s *slots) allFree() bool  { return s.free.Load() == s.total }
func (s *slots) take(n int)     { s.free.Add(-int64(n)) }

// ran adds an attempt that ran for d to the mean duration (weight 1/8).
func (s *slots) ran(d time.Duration) {
	ns := max(int64(d), 1)
	for {
		old := s.runNS.Load()
		next := ns
		if old > 0 {
			next = old + (ns-old)/8
		}
		if s.runNS.CompareAndSwap(old, max(next, 1)) {
			return
		}
	}
}

// release gives a slot back and wakes the claimer.
func (s *slots) release() {
	s.free.Add(1)
	signal(s.freed)
}

// claimer claims as many Ready tasks as there are free slots, in one
// statement, and sends them on jobs. It sleeps while every slot is taken,
// and, when no task is due, until a notification, the time the next task
// is due, or the poll interval wakes it. It closes jobs when it returns.
//
// The slots are the workers plus the claim-ahead buffer (ahead): tasks
// claimed while every worker is busy wait in jobs, so that a worker that
// finishes starts its next task at once instead of waiting for a claim's
// round trip. The buffer holds what the workers finish in
// aheadRoundTrips claims' round trips, at the mean duration of their
// attempts, at most ahead: a full buffer for short tasks, whose claims it
// batches, and a task or none for long ones, which a buffer would keep
// from the other pools. With a buffer, the claimer claims
// again once there is room for half the buffer, or at once when the buffer
// has run dry.
type claimer struct {
	db    *pgxpool.Pool
	log   *slog.Logger
	slots *slots
	jobs  chan *TaskRecord // capacity slots.total
	ahead int              // the claim-ahead buffer's largest size
	rtt   time.Duration    // moving mean of the claims' round trips
	// hold records the tasks of each claim before they are sent on jobs;
	// release gives back a task no worker started.
	hold    func([]*TaskRecord)
	release func(rec *TaskRecord, cause error)

	names     []string
	types     []string // nil: every type
	shape     claimShape
	timeoutMS *int64 // the pool's TaskTimeout in ms, or nil
	process   pgtype.UUID
	poll      time.Duration
	// notified says that notifications tell the claimer of new tasks, so
	// that it needs to look ahead only after a poll (see run).
	notified bool

	wake      chan struct{} // a task is due now (capacity 1)
	forcePoll atomic.Bool   // the next wake-up counts as a poll (pollNow)
	rearm     chan struct{} // dues has a new earliest time (capacity 1)
	mu        sync.Mutex
	dues      []time.Time // when tasks the claimer was told of are due, sorted
}

// fullScanEvery bounds how long the claimer claims after a cursor: tasks
// that sort before it (due earlier but committed late, or skipped while
// another pool's claim held them and then rolled back) are found by the
// next scan from the start.
const fullScanEvery = 250 * time.Millisecond

// claimCooldown bounds the pause after a claim that filled every free
// slot; the pause ends as soon as every slot is free again.
const claimCooldown = time.Millisecond

// dueMargin is added to the time a task is due before the claimer wakes
// for it: a claim made a moment early, by the database's clock, would find
// nothing and cost a second round trip. Times closer than that are kept as
// one.
const dueMargin = 500 * time.Microsecond

// duesMax bounds the due times the claimer keeps; later ones are found by
// its look ahead after a poll.
const duesMax = 10000

func newClaimer(db *pgxpool.Pool, log *slog.Logger, s *slots, ahead int, names, types []string, process uuid.UUID,
	timeout, poll time.Duration, notified bool) *claimer {
	c := &claimer{
		db: db, log: log, slots: s, jobs: make(chan *TaskRecord, s.total), ahead: ahead,
		hold: func([]*TaskRecord) {}, release: func(*TaskRecord, error) {},
		names: names, types: types, shape: shapeFor(types), process: pgID(process), poll: poll, notified: notified,
		wake: make(chan struct{}, 1), rearm: make(chan struct{}, 1),
	}
	if timeout > 0 {
		ms := max(timeout.Milliseconds(), 1)
		c.timeoutMS = &ms
	}
	return c
}

// dueIn tells the claimer that a task it may serve is due in d (now when
// d <= 0). A d longer than the poll interval is left to polling.
func (c *claimer) dueIn(d time.Duration) {
	if d <= 0 {
		signal(c.wake)
		return
	}
	if d > c.poll {
		return
	}
	at := time.Now().Add(d + dueMargin)
	c.mu.Lock()
	i, _ := slices.BinarySearchFunc(c.dues, at, time.Time.Compare)
	near := (i > 0 && at.Sub(c.dues[i-1]) < dueMargin) || (i < len(c.dues) && c.dues[i].Sub(at) < dueMargin)
	if !near && i < duesMax {
		c.dues = slices.Insert(c.dues, i, at)
		c.dues = c.dues[:min(len(c.dues), duesMax)]
	}
	c.mu.Unlock()
	if !near && i == 0 {
		signal(c.rearm)
	}
}

// pollNow makes the claimer claim at once as after a poll, and look ahead
// if it drains what is due.
func (c *claimer) pollNow() {
	c.forcePoll.Store(true)
	signal(c.wake)
}

// cursors hold, for each priority, the (scheduled_at, id) of the last task
// the claimer claimed at that priority; a claim scans each priority after
// its cursor. Claimed tasks leave dead entries at the head of the claim
// index until VACUUM runs; under a backlog a scan from the start would step
// over all of them on every claim. They are arrays, as the claim takes
// them ($6, $7, $8): index i is priorities[i].
type cursors struct {
	at [priorityLevels]pgtype.Timestamptz
	id [priorityLevels]pgtype.UUID
}

// reset makes every priority's scan start from the head of the queue.
func (cs *cursors) reset() {
	for i := range cs.at {
		cs.at[i], cs.id[i] = noCursor, pgtype.UUID{Valid: true}
	}
}

// advance moves the cursors past recs, sorted in claim order.
func (cs *cursors) advance(recs []*TaskRecord) {
	for _, r := range recs {
		if i := r.Priority - PriorityUrgent; i >= 0 && i < len(cs.at) {
			cs.at[i], cs.id[i] = pgtype.Timestamptz{Time: r.ScheduledAt, Valid: true}, pgID(r.ID)
		}
	}
}

func (c *claimer) run(ctx context.Context) {
	defer func() {
		// The tasks that wait for a worker are released at once, not when
		// a running task finishes.
		for {
			select {
			case rec := <-c.jobs:
				c.release(rec, context.Cause(ctx))
				continue
			default:
			}
			break
		}
		close(c.jobs)
	}()
	timer := newStoppedTimer()
	var (
		failures int
		cursor   cursors
		lastFull time.Time
		// look: the claim follows a poll (or the start) or a wake-up at a
		// due time, not a notification of a task due now.
		look = true
	)
	for ctx.Err() == nil {
		free := c.room()
		if free <= 0 {
			select {
			case <-ctx.Done():
				return
			case <-c.slots.freed:
			}
			continue
		}
		if time.Since(lastFull) >= fullScanEvery {
			cursor.reset()
			lastFull = time.Now()
		}
		recs, claimedAt, err := c.claim(ctx, free, &cursor)
		if err != nil {
			cursor.reset()
			if ctx.Err() != nil {
				return
			}
			failures++
			d := errorBackoff(failures)
			c.log.Error("backie: claiming tasks failed, retrying", "error", err, "retry_in", d)
			if !sleep(ctx, timer, d) {
				return
			}
			continue
		}
		failures = 0
		c.slots.take(len(recs))
		c.hold(recs)
		for _, rec := range recs {
			c.jobs <- rec // never blocks: see slots
		}
		if len(recs) == free {
			cursor.advance(recs)
			// More are likely due. Give the workers a moment to finish a
			// few, so that the next claim is a batch rather than one task
			// per round trip.
			wait := c.cooldown
			if c.ahead > 0 {
				wait = c.waitForRoom
			}
			if !wait(ctx, timer) {
				return
			}
			continue
		}
		cursor.reset()
		lastFull = time.Now()
		// Drained what is due: sleep until the next task is due, a
		// notification, or the poll tick. With notifications, new tasks
		// tell the claimer when they are due, and the completer tells it
		// of the retries it writes; what neither told (tasks that came
		// while the listener was down, tasks of an insert that told only
		// its earliest due time) is found by looking ahead after a poll or
		// a due time, so that each task due within the poll interval leads
		// to the next. A notification of a task due now does not look
		// ahead: at high rates that would double the round trips. Without
		// notifications, it looks ahead after every claim.
		if look || !c.notified {
			c.lookAhead(ctx, claimedAt)
		}
		var live bool
		look, live = c.idle(ctx, timer)
		if !live {
			return
		}
	}
}

// cooldown waits, after a claim that filled every free slot, until every
// slot is free again or claimCooldown has passed, whichever is first, so
// that the next claim is a batch rather than one task per round trip,
// without idling workers that finished early. Waiting for half the workers
// instead made claims smaller and more frequent, which cost more than it
// saved. It reports whether ctx is still live.
func (c *claimer) cooldown(ctx context.Context, timer *time.Timer) bool {
	timer.Reset(claimCooldown)
	defer timer.Stop()
	for !c.slots.allFree() {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		case <-c.slots.freed:
		}
	}
	return true
}

// waitForRoom waits, after a claim that filled every free slot of a pool
// with a claim-ahead buffer, until there is room for half the buffer, or
// the buffer has run dry while a slot is free. It reports whether ctx is
// still live.
func (c *claimer) waitForRoom(ctx context.Context, _ *time.Timer) bool {
	want := max(1, c.aheadNow()/2)
	for {
		free := c.room()
		if free >= want || (free > 0 && len(c.jobs) == 0) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-c.slots.freed:
		}
	}
}

// aheadRoundTrips is how many claims' round trips of work the claim-ahead
// buffer holds. The claimer claims again when half of it is free, so the
// other half covers the next claim's round trip twice over.
const aheadRoundTrips = 4

// aheadNow is the size of the claim-ahead buffer now: what the workers
// finish in aheadRoundTrips claim round trips, rounded, at most ahead.
// Until an attempt has finished and a claim has been timed, none: a pool
// claims ahead only once it knows how long its tasks take, so a pool that
// starts on long tasks, or whose first tasks hang, holds none back.
func (c *claimer) aheadNow() int {
	run := c.slots.runNS.Load()
	if c.ahead == 0 || run == 0 || c.rtt == 0 {
		return 0
	}
	n := float64(c.slots.workers) * aheadRoundTrips * float64(c.rtt) / float64(run)
	return int(min(math.Round(n), float64(c.ahead)))
}

// room is how many tasks the claimer may claim now: the free slots, less
// the part of the buffer aheadNow leaves unused.
func (c *claimer) room() int {
	return c.slots.available() - (c.ahead - c.aheadNow())
}

// lookAhead asks when the next task due within the poll interval is due,
// among those that were not due for the claim made at claimedAt (tasks it
// skipped, locked by another claim, are left to that claim). A failure is
// left to the poll.
func (c *claimer) lookAhead(ctx context.Context, claimedAt time.Time) {
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	var secs *float64
	err := c.db.QueryRow(ctx, sqlNextDue, c.names, c.types, c.poll.Milliseconds(), claimedAt, priorities).Scan(&secs)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Debug("backie: looking for the next due task failed", "error", err)
		}
		return
	}
	if secs == nil {
		return
	}
	if d := time.Duration(*secs * float64(time.Second)); d > 0 {
		c.dueIn(d)
	} else {
		// Due since the claim: claim it now, and look ahead again after.
		c.pollNow()
	}
}

// idle waits for a notification, the next due task or the poll tick. It
// reports whether the claim that follows should look ahead (the poll tick
// or a due time ended the wait, or pollNow asked for it), and whether ctx
// is still live.
func (c *claimer) idle(ctx context.Context, timer *time.Timer) (look, live bool) {
	defer timer.Stop()
	start := time.Now()
	for {
		wait := c.poll - time.Since(start)
		c.mu.Lock()
		if len(c.dues) > 0 {
			wait = min(wait, time.Until(c.dues[0]))
		}
		c.mu.Unlock()
		timer.Reset(max(wait, 0))
		select {
		case <-ctx.Done():
			return false, false
		case <-c.wake:
		case <-c.rearm:
			timer.Stop()
			continue
		case <-timer.C:
			look = true
		}
		now := time.Now()
		c.mu.Lock()
		// The claim that follows takes every task due by now.
		past, _ := slices.BinarySearchFunc(c.dues, now, time.Time.Compare)
		c.dues = slices.Delete(c.dues, 0, past)
		c.mu.Unlock()
		return c.forcePoll.Swap(false) || look, true
	}
}

// claim runs one claim of up to n tasks after the cursors, and returns the
// claimed tasks in claim order, and the database time the claim compared
// scheduled_at with.
func (c *claimer) claim(ctx context.Context, n int, after *cursors) ([]*TaskRecord, time.Time, error) {
	// The statement runs on a context the soft stop does not cancel: a claim
	// cancelled after PostgreSQL committed it would strand its tasks Running
	// until the rescuer took them back, at the cost of an attempt.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statementTimeout)
	defer cancel()
	b := &pgx.Batch{}
	b.Queue(sqlPlanSettings)
	b.Queue(claimSQL[c.shape], c.names, c.types, n, c.timeoutMS, c.process, priorities, after.at[:], after.id[:])
	start := time.Now()
	recs, at, err := sendClaim(ctx, c.db, b, n)
	if err != nil {
		return nil, at, opError("claim tasks", err)
	}
	if rtt := time.Since(start); c.rtt == 0 {
		c.rtt = rtt
	} else {
		c.rtt += (rtt - c.rtt) / 4
	}
	// RETURNING does not keep the subquery's order: hand tasks out in
	// claim order, and let the last of each priority be its cursor.
	slices.SortFunc(recs, func(a, b *TaskRecord) int {
		if c := cmp.Compare(a.Priority, b.Priority); c != 0 {
			return c
		}
		if c := a.ScheduledAt.Compare(b.ScheduledAt); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	return recs, at, nil
}

// sendClaim sends b (the plan settings, then a statement that returns
// tasks: a claim, a list) in one round trip and one transaction, and
// returns the tasks and the transaction's now().
func sendClaim(ctx context.Context, db *pgxpool.Pool, b *pgx.Batch, n int) (recs []*TaskRecord, at time.Time, err error) {
	br := db.SendBatch(ctx, b)
	defer func() {
		if cerr := br.Close(); err == nil && cerr != nil {
			recs, err = nil, cerr
		}
	}()
	if err := br.QueryRow().Scan(nil, nil, nil, nil, nil, nil, nil, nil, &at); err != nil {
		return nil, at, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, at, err
	}
	recs, err = scanRecords(rows, n)
	return recs, at, err
}
