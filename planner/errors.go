package planner

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers branch on them with errors.Is.
var (
	// ErrBadInput reports an Input, Strategy or Progress that violates a
	// documented precondition (negative size, NaN bandwidth, duplicate
	// chunk Index, holder bit outside Sources, ...).
	ErrBadInput = errors.New("planner: bad input")

	// ErrNoHolder reports a chunk none of whose holders is reachable, that
	// is, every holder has Bandwidth == 0 (or, for OriginOnly, a chunk the
	// strategy cannot place). It is wrapped in a *ChunkError naming the
	// chunk.
	ErrNoHolder = errors.New("planner: chunk has no reachable holder")
)

// ChunkError is the error for one chunk. Err is ErrNoHolder or ErrBadInput.
type ChunkError struct {
	Pos   int    // position of the chunk in Input.Chunks
	Index int    // Chunk.Index (object order)
	ID    string // Chunk.ID, possibly empty
	Err   error
}

func (e *ChunkError) Error() string {
	if e.ID != "" {
		return fmt.Sprintf("%v: chunk %d (index %d, id %q)", e.Err, e.Pos, e.Index, e.ID)
	}
	return fmt.Sprintf("%v: chunk %d (index %d)", e.Err, e.Pos, e.Index)
}

// Unwrap returns Err, so errors.Is(err, ErrNoHolder) works.
func (e *ChunkError) Unwrap() error { return e.Err }

func badInput(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadInput}, args...)...)
}
