package chunkstore

// Stubs of the Store's method set: the implementation replaces this file.

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"go.uber.org/zap"
)

var errTODO = errors.New("chunkstore: not implemented yet")

// Store is a deduplicated, compressed, verified chunk and recipe store on
// Badger, plus an ordered record space for the namespace layer. Safe for
// concurrent use.
type Store struct{}

// Open opens (creating if needed) the store in cfg.Dir.
func Open(cfg Config, log *zap.Logger) (*Store, error) { return nil, errTODO }

// Close flushes and closes the store; it is idempotent.
func (s *Store) Close() error { return nil }

// Write chunks r, stores new chunks and the recipe, and returns the recipe
// and its ID. Nothing is visible under a name until the caller commits a
// record naming the recipe; chunks of an abandoned write are swept by GC
// after the grace period.
func (s *Store) Write(ctx context.Context, r io.Reader) (*recipe.Recipe, recipe.ID, error) {
	return nil, recipe.ID{}, errTODO
}

// NewReader returns the plain bytes [off, off+length) of the object rec
// describes (length < 0: to the end), reading chunks from src (nil: the
// store itself), decoding ahead in parallel with bounded memory.
func (s *Store) NewReader(ctx context.Context, rec *recipe.Recipe, off, length int64, src ChunkSource) (io.ReadCloser, error) {
	return nil, errTODO
}

// Recipe returns the stored recipe id; ErrNotFound if absent.
func (s *Store) Recipe(ctx context.Context, id recipe.ID) (*recipe.Recipe, error) {
	return nil, errTODO
}

// PutRecipe stores rec (idempotent) and returns its ID.
func (s *Store) PutRecipe(ctx context.Context, rec *recipe.Recipe) (recipe.ID, error) {
	return recipe.ID{}, errTODO
}

// Has reports for each id whether the chunk is stored: len(result) == len(ids).
func (s *Store) Has(ctx context.Context, ids []recipe.ChunkID) ([]bool, error) {
	return nil, errTODO
}

// Missing returns the ids not stored, in input order, without duplicates.
func (s *Store) Missing(ctx context.Context, ids []recipe.ChunkID) ([]recipe.ChunkID, error) {
	return nil, errTODO
}

// Chunk implements ChunkSource: the plain, verified bytes of ref.
func (s *Store) Chunk(ctx context.Context, ref recipe.Ref) ([]byte, error) { return nil, errTODO }

// Get returns the plain, verified bytes of chunk id.
func (s *Store) Get(ctx context.Context, id recipe.ChunkID) ([]byte, error) { return nil, errTODO }

// GetStored returns chunk id in its stored form (verified before return).
func (s *Store) GetStored(ctx context.Context, id recipe.ChunkID) (Stored, error) {
	return Stored{}, errTODO
}

// Put stores plain chunk bytes and returns the chunk ID; a present chunk
// writes nothing.
func (s *Store) Put(ctx context.Context, plain []byte) (recipe.ChunkID, error) {
	return recipe.ChunkID{}, errTODO
}

// PutStored verifies that st decodes to bytes hashing to id and stores it
// as-is; a present chunk writes nothing.
func (s *Store) PutStored(ctx context.Context, id recipe.ChunkID, st Stored) error { return errTODO }

// GC removes recipes not in live and chunks no live recipe references, that
// are older than grace, then runs Badger's value-log GC.
func (s *Store) GC(ctx context.Context, live []recipe.ID, grace time.Duration) (GCStats, error) {
	return GCStats{}, errTODO
}

// Fsck verifies every chunk's hash and that every live recipe's chunks
// exist; with repair it drops corrupt chunks.
func (s *Store) Fsck(ctx context.Context, live []recipe.ID, repair bool) (FsckReport, error) {
	return FsckReport{}, errTODO
}

// Records returns the store's ordered record space for the namespace layer.
func (s *Store) Records() *Records { return &Records{} }

// Records is an ordered key/value space in the same Badger database as the
// chunks (so a recipe is durable before a record that names it). Keys are
// compared bytewise. Values passed in are copied; values returned are owned
// by the caller.
type Records struct{}

// RecordTxn is the view of one read-write transaction.
type RecordTxn interface {
	Get(key []byte) ([]byte, error) // ErrNotFound if absent
	Set(key, val []byte) error
	Delete(key []byte) error
}

// Get returns the value at key; ErrNotFound if absent.
func (r *Records) Get(ctx context.Context, key []byte) ([]byte, error) { return nil, errTODO }

// Update runs fn in one serializable read-write transaction, retried on
// conflict; fn may run more than once.
func (r *Records) Update(ctx context.Context, fn func(tx RecordTxn) error) error { return errTODO }

// Scan calls fn for each key with prefix, in byte order, starting at the
// first key >= start (start nil: from the prefix), until fn returns false or
// an error.
func (r *Records) Scan(ctx context.Context, prefix, start []byte, fn func(key, val []byte) (bool, error)) error {
	return errTODO
}
