package backie

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// leadership is the name of the one leadership there is: the live pool
// that holds it does the work only one pool should do (see maintenance).
const leadership = "maintenance"

// process is a running pool's entry in backie_processes: it registers the
// pool before it claims anything, renews the entry every interval (a
// heartbeat) with how many tasks the pool runs and adds the attempts it
// finished to backie_throughput, removes the entry at the end of the stop,
// and takes part in the election of the leader at every heartbeat. A pool
// whose entry is older than its timeout is dead to the others: the leader
// takes its tasks back and removes its entry; its leadership can be taken.
// A pool that finds its entry gone (it was declared dead during a long
// pause) registers again; the tasks taken from it meanwhile are no longer
// its own, and the guard of the finishing writes keeps it from finishing
// them.
type process struct {
	db       *pgxpool.Pool
	log      *slog.Logger
	id       uuid.UUID
	host     string
	pid      int
	names    []string
	types    []string
	workers  int
	interval time.Duration
	timeout  time.Duration
	// running returns how many tasks the pool runs; finished returns and
	// resets the attempts finished since it was last called.
	running  func() int
	finished func() (done, failed, retried int64)
	// lead runs at each heartbeat while this pool is the leader.
	lead func(ctx context.Context)

	leading bool
	paused  []string // the paused types this pool serves, as last seen
}

// register records the pool in backie_processes.
func (p *process) register(ctx context.Context) error {
	_, err := p.db.Exec(ctx, sqlRegisterProcess, p.id, p.host, p.pid, p.names, p.types, p.workers,
		p.timeout.Milliseconds())
	return err
}

// run heartbeats until ctx ends, then removes the pool's entry. The pool is
// registered already.
func (p *process) run(ctx context.Context) {
	timer := newStoppedTimer()
	failures := 0
	defer p.leave(ctx)
	for {
		if err := p.beat(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			p.log.Warn("backie: renewing the pool's entry in backie_processes failed", "error", err, "failures", failures)
		} else {
			failures = 0
			if p.leading {
				p.lead(ctx)
			}
		}
		// Jitter spreads the heartbeats of pools that started together.
		wait := p.interval - time.Duration(rand.Int64N(int64(p.interval)/10+1))
		if !sleep(ctx, timer, wait) {
			return
		}
	}
}

// beat renews the pool's entry (registering it again if it is gone), adds
// its throughput, runs the election and looks at the paused types.
func (p *process) beat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	tag, err := p.db.Exec(ctx, sqlHeartbeat, p.id, p.running())
	if err != nil {
		return opError("heartbeat", err)
	}
	if tag.RowsAffected() == 0 {
		p.log.Warn("backie: this pool was declared dead by the leader (no heartbeat for longer than HeartbeatTimeout); its tasks were taken back; registering again")
		if err := p.register(ctx); err != nil {
			return opError("register pool", err)
		}
	}
	if done, failed, retried := p.finished(); done+failed+retried > 0 {
		if _, err := p.db.Exec(ctx, sqlAddThroughput, p.id, done, failed, retried); err != nil {
			p.log.Debug("backie: recording throughput failed", "error", err)
		}
	}
	var electedAt time.Time
	err = p.db.QueryRow(ctx, sqlElect, leadership, p.id, p.timeout.Milliseconds()).Scan(&electedAt)
	leading := err == nil
	if err != nil && !isNoRows(err) {
		return opError("elect leader", err)
	}
	if leading != p.leading {
		if leading {
			p.log.Info("backie: this pool is the leader now", "process_id", p.id)
		} else {
			p.log.Info("backie: this pool is no longer the leader", "process_id", p.id)
		}
		p.leading = leading
	}
	p.watchPaused(ctx)
	return nil
}

// watchPaused logs the paused types this pool serves when they change.
func (p *process) watchPaused(ctx context.Context) {
	all, err := pausedTypes(ctx, p.db)
	if err != nil {
		return
	}
	var paused []string
	for _, t := range all {
		if p.types == nil || slices.Contains(p.types, string(t.Type)) {
			paused = append(paused, string(t.Type))
		}
	}
	if slices.Equal(paused, p.paused) {
		return
	}
	for _, t := range paused {
		if !slices.Contains(p.paused, t) {
			p.log.Warn("backie: task type paused: its tasks wait until it is resumed", "task_type", t)
		}
	}
	for _, t := range p.paused {
		if !slices.Contains(paused, t) {
			p.log.Info("backie: task type resumed", "task_type", t)
		}
	}
	p.paused = paused
}

// leave removes the pool's entry and hands its leadership over, on a short
// context of its own: ctx has ended.
func (p *process) leave(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout)
	defer cancel()
	if done, failed, retried := p.finished(); done+failed+retried > 0 {
		_, _ = p.db.Exec(ctx, sqlAddThroughput, p.id, done, failed, retried)
	}
	if _, err := p.db.Exec(ctx, sqlResign, leadership, p.id); err != nil {
		p.log.Warn("backie: handing leadership over failed; it passes on when it expires", "error", err)
	}
	if _, err := p.db.Exec(ctx, sqlUnregisterProcess, p.id); err != nil {
		p.log.Warn("backie: removing the pool's entry from backie_processes failed", "error", err)
	}
}
