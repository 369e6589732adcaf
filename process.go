package backie

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// leadership is the name of the one leadership there is: the live pool
// that holds it does the work only one pool should do (see maintenance).
const leadership = "maintenance"

// process is a running pool's entry in backie_processes: it registers the
// pool at start, renews the entry every interval (a heartbeat), removes it
// at the end of the stop, and takes part in the election of the leader at
// every heartbeat. A pool whose entry is older than timeout is dead to the
// others: its leadership can be taken, and its entry is removed. A pool
// that finds its entry gone (it was declared dead during a long pause)
// registers again.
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
	// lead runs at each heartbeat while this pool is the leader.
	lead func(ctx context.Context)

	leading bool
}

func (p *process) run(ctx context.Context) {
	timer := newStoppedTimer()
	registered, failures := false, 0
	defer p.leave(ctx)
	for {
		wait := p.interval
		err := p.beat(ctx, &registered)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			wait = min(wait, errorBackoff(failures))
			p.log.Warn("backie: renewing the pool's entry in backie_processes failed", "error", err, "retry_in", wait)
		} else {
			failures = 0
			if p.leading {
				p.lead(ctx)
			}
		}
		// Jitter spreads the heartbeats of pools that started together.
		jitter := time.Duration(rand.Int64N(int64(wait)/10 + 1))
		if !sleep(ctx, timer, wait-jitter) {
			return
		}
	}
}

// beat registers the pool or renews its entry, then runs the election.
func (p *process) beat(ctx context.Context, registered *bool) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if *registered {
		tag, err := p.db.Exec(ctx, sqlHeartbeat, p.id)
		if err != nil {
			return opError("heartbeat", err)
		}
		if tag.RowsAffected() == 0 {
			p.log.Warn("backie: this pool was declared dead by the others (no heartbeat for longer than HeartbeatTimeout); registering again")
			*registered = false
		}
	}
	if !*registered {
		if _, err := p.db.Exec(ctx, sqlRegisterProcess, p.id, p.host, p.pid, p.names, p.types, p.workers); err != nil {
			return opError("register pool", err)
		}
		*registered = true
	}
	var electedAt time.Time
	err := p.db.QueryRow(ctx, sqlElect, leadership, p.id, p.timeout.Milliseconds()).Scan(&electedAt)
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
	return nil
}

// leave removes the pool's entry and hands its leadership over, on a short
// context of its own: ctx has ended.
func (p *process) leave(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout)
	defer cancel()
	if _, err := p.db.Exec(ctx, sqlResign, leadership, p.id); err != nil {
		p.log.Warn("backie: handing leadership over failed; it passes on when it expires", "error", err)
	}
	if _, err := p.db.Exec(ctx, sqlUnregisterProcess, p.id); err != nil {
		p.log.Warn("backie: removing the pool's entry from backie_processes failed", "error", err)
	}
}
