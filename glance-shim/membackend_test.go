package glanceshim_test

// memBackend is a TEST DOUBLE: a small in-memory glanceshim.Backend used
// to test the front end while the real backend (node/) is written. The
// node engineer runs the same client-facing suite (glanceshimtest.Run)
// against the real node end to end.

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
)

type memObject struct {
	info glanceshim.ObjectInfo
	data []byte
}

type memContainer struct {
	info    glanceshim.ContainerInfo
	objects map[string]*memObject
}

type memBackend struct {
	mu         sync.Mutex
	containers map[string]map[string]*memContainer // account → name → container
	accMeta    map[string]map[string]string
	// failRead, if set, makes OpenObject's reader fail after that many
	// bytes (a corrupt chunk).
	failRead int64
}

func newMemBackend() *memBackend {
	return &memBackend{containers: map[string]map[string]*memContainer{}, accMeta: map[string]map[string]string{}}
}

var _ glanceshim.Backend = (*memBackend)(nil)

func (b *memBackend) Account(_ context.Context, account string) (glanceshim.AccountInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	info := glanceshim.AccountInfo{Meta: copyMap(b.accMeta[account]), Created: time.Unix(1700000000, 0)}
	for _, c := range b.containers[account] {
		info.Containers++
		for _, o := range c.objects {
			info.Objects++
			info.Bytes += o.info.Size
		}
	}
	return info, nil
}

func (b *memBackend) PostAccount(_ context.Context, account string, meta map[string]string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.accMeta[account]
	if m == nil {
		m = map[string]string{}
		b.accMeta[account] = m
	}
	for k, v := range meta {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return nil
}

func (b *memBackend) ListContainers(_ context.Context, account string, opts glanceshim.ListOptions) ([]glanceshim.ContainerInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var names []string
	for n := range b.containers[account] {
		names = append(names, n)
	}
	var out []glanceshim.ContainerInfo
	for _, e := range listNames(names, opts) {
		if e.subdir != "" {
			out = append(out, glanceshim.ContainerInfo{Name: e.subdir})
			continue
		}
		out = append(out, b.containerInfo(b.containers[account][e.name]))
	}
	return out, nil
}

func (b *memBackend) containerInfo(c *memContainer) glanceshim.ContainerInfo {
	info := c.info
	info.Meta = copyMap(c.info.Meta)
	for _, o := range c.objects {
		info.Objects++
		info.Bytes += o.info.Size
	}
	return info
}

func (b *memBackend) PutContainer(_ context.Context, account, container string, meta map[string]string) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	cs := b.containers[account]
	if cs == nil {
		cs = map[string]*memContainer{}
		b.containers[account] = cs
	}
	if c, ok := cs[container]; ok {
		for k, v := range meta {
			c.info.Meta[k] = v
		}
		return false, nil
	}
	now := time.Now()
	cs[container] = &memContainer{
		info:    glanceshim.ContainerInfo{Name: container, Meta: copyMap(meta), Created: now, Modified: now},
		objects: map[string]*memObject{},
	}
	return true, nil
}

func (b *memBackend) PostContainer(_ context.Context, account, container string, meta map[string]string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.containers[account][container]
	if !ok {
		return glanceshim.ErrNotFound
	}
	for k, v := range meta {
		if v == "" {
			delete(c.info.Meta, k)
		} else {
			c.info.Meta[k] = v
		}
	}
	return nil
}

func (b *memBackend) Container(_ context.Context, account, container string) (glanceshim.ContainerInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.containers[account][container]
	if !ok {
		return glanceshim.ContainerInfo{}, fmt.Errorf("container %s: %w", container, glanceshim.ErrNotFound)
	}
	return b.containerInfo(c), nil
}

func (b *memBackend) DeleteContainer(_ context.Context, account, container string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.containers[account][container]
	if !ok {
		return glanceshim.ErrNotFound
	}
	if len(c.objects) > 0 {
		return glanceshim.ErrContainerNotEmpty
	}
	delete(b.containers[account], container)
	return nil
}

type listEntry struct{ name, subdir string }

// listNames applies Swift's listing parameters to names.
func listNames(names []string, o glanceshim.ListOptions) []listEntry {
	sort.Strings(names)
	if o.Reverse {
		for i, j := 0, len(names)-1; i < j; i, j = i+1, j-1 {
			names[i], names[j] = names[j], names[i]
		}
	}
	limit := o.Limit
	if limit <= 0 {
		limit = 10000
	}
	var out []listEntry
	lastSub := ""
	for _, n := range names {
		if !strings.HasPrefix(n, o.Prefix) {
			continue
		}
		if o.Marker != "" && (!o.Reverse && n <= o.Marker || o.Reverse && n >= o.Marker) {
			continue
		}
		if o.EndMarker != "" && (!o.Reverse && n >= o.EndMarker || o.Reverse && n <= o.EndMarker) {
			continue
		}
		if o.Delimiter != "" {
			rest := n[len(o.Prefix):]
			if i := strings.Index(rest, o.Delimiter); i >= 0 {
				sub := o.Prefix + rest[:i+len(o.Delimiter)]
				if sub == lastSub {
					continue
				}
				lastSub = sub
				out = append(out, listEntry{subdir: sub})
				if len(out) == limit {
					break
				}
				continue
			}
		}
		out = append(out, listEntry{name: n})
		if len(out) == limit {
			break
		}
	}
	return out
}

func (b *memBackend) ListObjects(_ context.Context, account, container string, opts glanceshim.ListOptions) ([]glanceshim.ObjectInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.containers[account][container]
	if !ok {
		return nil, glanceshim.ErrNotFound
	}
	names := make([]string, 0, len(c.objects))
	for n := range c.objects {
		names = append(names, n)
	}
	var out []glanceshim.ObjectInfo
	for _, e := range listNames(names, opts) {
		if e.subdir != "" {
			out = append(out, glanceshim.ObjectInfo{Subdir: e.subdir})
			continue
		}
		out = append(out, c.objects[e.name].info)
	}
	return out, nil
}

func (b *memBackend) PutObject(ctx context.Context, account, container, object string, body io.Reader, opts glanceshim.PutOptions) (glanceshim.ObjectInfo, error) {
	b.mu.Lock()
	_, ok := b.containers[account][container]
	b.mu.Unlock()
	if !ok {
		return glanceshim.ObjectInfo{}, glanceshim.ErrNotFound
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return glanceshim.ObjectInfo{}, err
	}
	sum := md5.Sum(data)
	etag := hex.EncodeToString(sum[:])
	if opts.ETag != "" && opts.ETag != etag {
		return glanceshim.ObjectInfo{}, glanceshim.ErrETagMismatch
	}
	info := glanceshim.ObjectInfo{
		Name: object, Size: int64(len(data)), ETag: etag, ContentType: opts.ContentType,
		Timestamp: time.Now(), Meta: copyMap(opts.Meta), Headers: copyMap(opts.Headers), Manifest: opts.Manifest,
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.containers[account][container]
	if !ok {
		return glanceshim.ObjectInfo{}, glanceshim.ErrNotFound
	}
	c.objects[object] = &memObject{info: info, data: data}
	c.info.Modified = info.Timestamp
	return info, nil
}

func (b *memBackend) PostObject(_ context.Context, account, container, object string, opts glanceshim.PutOptions) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.containers[account][container].lookup(object)
	if !ok {
		return glanceshim.ErrNotFound
	}
	o.info.Meta = copyMap(opts.Meta)
	if opts.ContentType != "" {
		o.info.ContentType = opts.ContentType
	}
	h := copyMap(opts.Headers)
	o.info.Headers = h
	o.info.Manifest = opts.Manifest
	return nil
}

func (c *memContainer) lookup(object string) (*memObject, bool) {
	if c == nil {
		return nil, false
	}
	o, ok := c.objects[object]
	return o, ok
}

func (b *memBackend) Object(_ context.Context, account, container, object string) (glanceshim.ObjectInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.containers[account][container].lookup(object)
	if !ok {
		return glanceshim.ObjectInfo{}, glanceshim.ErrNotFound
	}
	return o.info, nil
}

type failingReader struct {
	r     io.Reader
	after int64
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("chunk 1234: hash mismatch")
	}
	if int64(len(p)) > f.after {
		p = p[:f.after]
	}
	n, err := f.r.Read(p)
	f.after -= int64(n)
	return n, err
}

func (b *memBackend) OpenObject(_ context.Context, account, container, object string, off, length int64) (io.ReadCloser, glanceshim.ObjectInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.containers[account][container].lookup(object)
	if !ok {
		return nil, glanceshim.ObjectInfo{}, glanceshim.ErrNotFound
	}
	d := o.data
	if off > int64(len(d)) {
		off = int64(len(d))
	}
	d = d[off:]
	if length >= 0 && length < int64(len(d)) {
		d = d[:length]
	}
	var r io.Reader = bytes.NewReader(d)
	if b.failRead > 0 {
		r = &failingReader{r: r, after: b.failRead}
	}
	return io.NopCloser(r), o.info, nil
}

func (b *memBackend) DeleteObject(_ context.Context, account, container, object string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.containers[account][container]
	if _, ok := c.lookup(object); !ok {
		return glanceshim.ErrNotFound
	}
	delete(c.objects, object)
	return nil
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
