package fetch

import (
	"time"

	"go.uber.org/zap"
)

// Starvation of the reader itself. A job's loop runs every loopTick (or
// sooner, when poked); when the machine is so loaded that the reader's
// process is not scheduled for a while, the loop wakes late, finds every
// stream's next frame overdue, and would hedge (checkStall) or re-plan
// (checkSlow) sources whose frames are in fact waiting in this host's
// socket buffers: measured on a 2-core machine at load 16–25, hedges 8–37
// ms past a deadline whose source "delivered again" 4–200 ms later, each
// moving hundreds of chunks, the read receiving 1,065–1,227 chunks (12–16
// MB) twice. So the time the loop ran late beyond starveMargin is not
// counted against the links: every running stream's progress time moves
// forward by it (as its own waits for the local store do not count) and it
// is added to the stream's local stall time, which checkSlow discounts. A
// frozen source on an otherwise running reader gains nothing from this:
// the loop is on time.

// starveMargin is how late past loopTick the loop may run before the
// delay counts as the reader's own starvation.
const starveMargin = 100 * time.Millisecond

// noteLoop records a run of the job's loop at now; when it comes more than
// loopTick+starveMargin after the previous one, the lateness is credited
// to every running stream. j.mu held.
func (j *job) noteLoop(now time.Time) {
	last := j.lastLoop
	j.lastLoop = now
	if last.IsZero() {
		return
	}
	late := now.Sub(last) - loopTick
	if late <= starveMargin {
		return
	}
	n := 0
	for _, s := range j.srcs {
		if s.cancel == nil || s.streamStart.IsZero() {
			continue
		}
		if !s.progressAt.IsZero() {
			if p := s.progressAt.Add(late); p.Before(now) {
				s.progressAt = p
			} else {
				s.progressAt = now
			}
		}
		s.stall += late
		n++
	}
	if n > 0 {
		j.f.log.Debug("reader ran late; not counted against its streams", zap.Duration("late", late), zap.Int("streams", n))
	}
}
