package glanceshim_test

import (
	"context"
	"fmt"
	"time"

	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
)

// ComposeObject makes the memBackend TEST DOUBLE a glanceshim.Composer:
// it copies the parts' bytes (the real backend, node/internal/objects,
// concatenates recipes instead).
func (b *memBackend) ComposeObject(_ context.Context, account, container, object string, parts []glanceshim.ComposePart, opts glanceshim.ComposeOptions) (glanceshim.ObjectInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.containers[account][container]
	if !ok {
		return glanceshim.ObjectInfo{}, glanceshim.ErrNotFound
	}
	var data []byte
	for _, p := range parts {
		if p.Object == "" {
			data = append(data, p.Data...)
			continue
		}
		o, ok := b.containers[account][p.Container].lookup(p.Object)
		if !ok || o.info.ETag != p.ETag || p.Offset+p.Length > int64(len(o.data)) {
			return glanceshim.ObjectInfo{}, fmt.Errorf("segment %s/%s changed: %w", p.Container, p.Object, glanceshim.ErrConflict)
		}
		data = append(data, o.data[p.Offset:p.Offset+p.Length]...)
	}
	if int64(len(data)) != opts.Size {
		return glanceshim.ObjectInfo{}, fmt.Errorf("composed %d bytes, want %d", len(data), opts.Size)
	}
	info := glanceshim.ObjectInfo{
		Name: object, Size: opts.Size, ETag: opts.ETag, ContentType: opts.ContentType,
		Timestamp: time.Now(), Meta: copyMap(opts.Meta), Headers: copyMap(opts.Headers),
		SLOManifest: append([]byte(nil), opts.SLOManifest...),
	}
	c.objects[object] = &memObject{info: info, data: data}
	c.info.Modified = info.Timestamp
	return info, nil
}
