package objects

import "sync"

// keyLocks gives this node one committer per record key: local writes to
// the same name (concurrent overwrites and deletes of one object, say)
// take turns instead of racing in Badger's optimistic transactions, where
// all but one would conflict and retry. Writes to different keys never
// wait for each other. Records from other regions (replication) do not
// take these locks; Records.Update retries the rare conflicts they cause.
// The zero value is ready to use.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int // holders and waiters; the entry goes when it drops to 0
}

// lock locks key and returns its unlock.
func (l *keyLocks) lock(key []byte) (unlock func()) {
	k := string(key)
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*keyLock{}
	}
	e := l.m[k]
	if e == nil {
		e = &keyLock{}
		l.m[k] = e
	}
	e.refs++
	l.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		l.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(l.m, k)
		}
		l.mu.Unlock()
	}
}
