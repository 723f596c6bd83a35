package chunkstore

import (
	"io"
	"math/bits"
	"sync"

	"github.com/restic/chunker"
)

// cutter cuts a stream at exactly the boundaries of restic/chunker
// (NewWithBoundaries + SetAverageBits with the same parameters), faster.
//
// Why the boundaries are the same: restic's rolling digest, once a chunk
// has MinSize >= 64 bytes, is the Rabin fingerprint (canonical residue
// modulo the polynomial) of exactly the last 64 bytes: its window starts
// as [1, 0…] and the 1 is slid out exactly at the 64th hashed byte, which
// is the chunk's MinSize-th byte. So whether a chunk may end at stream
// offset e (fingerprint of stream[e-64:e] & mask == 0) depends on the
// stream alone, not on where the chunk started; restic cuts a chunk
// starting at s at the first such e in [s+MinSize, s+MaxSize], else at
// s+MaxSize, else at the end of the stream.
//
// The cutter reads big blocks and, from each chunk's start+MinSize on,
// marks candidate ends in a bitmap with a rolling hash run in four
// interleaved lanes (four independent dependency chains instead of
// restic's one: the table lookup's latency bounds restic's loop), in
// blocks that grow until a candidate turns up; marks past a cut serve the
// next chunk. Hashing starts at MinSize-64 like restic's, so zero runs,
// cut at MinSize, stay cheap.
// TestCutterMatchesRestic and the golden file pin the equivalence.
type cutter struct {
	r        io.Reader
	min, max int
	mask     uint64
	out, mod *[256]uint64
	buf      []byte   // stream bytes [base, base+len(buf)); cap fixed
	marks    []uint64 // bit i: a chunk may end at base+i
	base     int64    // stream offset of buf[0], a multiple of 64
	start    int64    // stream offset of the next chunk
	scanned  int      // ends in buf up to scanned are marked
	eof      bool
	mem      *cutMem
	pool     *sync.Pool // where mem returns
}

const cutLanes = 4

type cutTables struct{ out, mod [256]uint64 }

func newCutTables(pol uint64) *cutTables {
	p := chunker.Pol(pol)
	k := p.Deg()
	t := &cutTables{}
	for b := 0; b < 256; b++ {
		var h chunker.Pol
		h = ((h << 8) | chunker.Pol(b)).Mod(p)
		for i := 0; i < cutWindow-1; i++ {
			h = (h << 8).Mod(p)
		}
		t.out[b] = uint64(h)
		t.mod[b] = uint64(chunker.Pol(uint64(b)<<uint(k)).Mod(p) | chunker.Pol(uint64(b)<<uint(k)))
	}
	return t
}

const cutWindow = 64

// cutShift: the top byte of a digest (the polynomial has degree 53, which
// Validate enforces).
const cutShift = 53 - 8

// cutters makes cutters with one set of parameters: the polynomial's
// tables (computed once, about a millisecond) and a pool of buffers. A
// Store and an Analyzer own one each; safe for concurrent use.
type cutters struct {
	c    ChunkingConfig
	t    *cutTables
	size int // buffer bytes
	pool sync.Pool
}

// newCutters returns a cutter factory for c (validated, so MinSize >= 64
// and the polynomial has degree 53).
func newCutters(c ChunkingConfig) *cutters {
	// MaxSize of lookahead plus reads of at least 256 KiB: a cutter per
	// concurrent Write, so kept small (the fill's memmove of at most
	// MaxSize per read is cheap next to hashing).
	size := c.MaxSize + max(c.MaxSize, 256<<10)
	size = (size + 127) &^ 63
	f := &cutters{c: c, t: newCutTables(c.Polynomial), size: size}
	f.pool.New = func() any {
		return &cutMem{make([]byte, 0, size), make([]uint64, size/64+1)}
	}
	return f
}

// newCutter returns a cutter of r; release it when done.
func (f *cutters) newCutter(r io.Reader) *cutter {
	ct := &cutter{
		r: r, min: f.c.MinSize, max: f.c.MaxSize,
		mask: 1<<uint(f.c.averageBits()) - 1,
		out:  &f.t.out, mod: &f.t.mod,
		mem: f.pool.Get().(*cutMem), pool: &f.pool,
	}
	ct.buf, ct.marks = ct.mem.buf[:0], ct.mem.marks
	return ct
}

// newCutter returns a cutter of r with c's parameters, with tables of its
// own; for one-off use (tests, benchmarks).
func (c ChunkingConfig) newCutter(r io.Reader) *cutter { return newCutters(c).newCutter(r) }

// cutMem is a cutter's buffer and marks.
type cutMem struct {
	buf   []byte
	marks []uint64
}

// release returns the cutter's memory for reuse; the cutter is dead after
// (the chunks it returned are copies).
func (c *cutter) release() {
	if c.mem != nil {
		c.pool.Put(c.mem)
		c.mem, c.buf, c.marks = nil, nil, nil
	}
}

// Next appends the next chunk to dst[:0] and returns it; io.EOF after the
// last chunk; a read error of r as it is.
func (c *cutter) Next(dst []byte) ([]byte, error) {
	// Make [start, start+max) available, or everything up to the end.
	for !c.eof && c.base+int64(len(c.buf))-c.start < int64(c.max) {
		if err := c.fill(); err != nil {
			return nil, err
		}
	}
	rel := int(c.start - c.base)
	avail := len(c.buf) - rel
	if avail == 0 {
		return nil, io.EOF
	}
	end := c.cut(rel, rel+min(avail, c.max))
	c.start = c.base + int64(end)
	return append(dst[:0], c.buf[rel:end]...), nil
}

// cut returns the end of the chunk starting at rel, at most end: the first
// marked end in [rel+min, end], else end. It marks lazily, in blocks that
// grow from cutFirstBlock to cutMaxBlock bytes, from rel+min on: ends
// before that are never needed (later chunks start later), so that, like
// restic, a chunk cut at MinSize (zero runs) costs little hashing.
func (c *cutter) cut(rel, end int) int {
	lo := rel + c.min
	if lo > end {
		return end
	}
	if c.scanned < lo-1 {
		c.scanned = lo - 1
	} else if e := c.nextMark(lo, min(c.scanned, end)); e >= 0 {
		return e
	}
	for blk := cutFirstBlock; c.scanned < end; blk = min(2*blk, cutMaxBlock) {
		from, to := c.scanned+1, min(c.scanned+blk, end)
		c.mark(from, to)
		c.scanned = to
		if e := c.nextMark(from, to); e >= 0 {
			return e
		}
	}
	return end
}

const cutFirstBlock, cutMaxBlock = 512, 64 << 10

// nextMark returns the first marked end in [from, to], or -1.
func (c *cutter) nextMark(from, to int) int {
	if from > to {
		return -1
	}
	w := from >> 6
	word := c.marks[w] &^ (1<<(uint(from)&63) - 1)
	for {
		if word != 0 {
			e := w<<6 + bits.TrailingZeros64(word)
			if e > to {
				return -1
			}
			return e
		}
		w++
		if w<<6 > to {
			return -1
		}
		word = c.marks[w]
	}
}

// fill moves the unread tail to the front, reads until the buffer is full
// or r ends, and marks the new ends.
func (c *cutter) fill() error {
	// Keep from the chunk start rounded down to 64 bytes, so that marks
	// move by whole words.
	keep := int((c.start - c.base) &^ 63)
	if keep > 0 {
		n := copy(c.buf, c.buf[keep:])
		c.buf = c.buf[:n]
		copy(c.marks, c.marks[keep>>6:])
		c.base += int64(keep)
		c.scanned -= keep
	}
	old := len(c.buf)
	n, err := readFull(c.r, c.buf[old:cap(c.buf)])
	c.buf = c.buf[:old+n]
	switch {
	case err == io.EOF:
		c.eof = true
	case err != nil:
		return err
	}
	return nil
}

// readFull reads into p until it is full or r returns an error. Unlike
// io.ReadFull it returns r's error as it is: only a bare io.EOF means the
// stream ended. An io.ErrUnexpectedEOF from r (an HTTP body shorter than
// its Content-Length) is a failed read, never a short last chunk, so a
// truncated upload is never committed as a whole object.
func readFull(r io.Reader, p []byte) (int, error) {
	n, empty := 0, 0
	for n < len(p) {
		m, err := r.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
		if m > 0 {
			empty = 0
		} else if empty++; empty >= 100 {
			return n, io.ErrNoProgress
		}
	}
	return n, nil
}

// mark sets the marks of ends [from, to] (from >= 64) in cutLanes
// interleaved lanes, clearing them first.
func (c *cutter) mark(from, to int) {
	for i := from >> 6; i <= to>>6; i++ {
		if i<<6 >= from {
			c.marks[i] = 0
		} else {
			c.marks[i] &= 1<<(uint(from)&63) - 1
		}
	}
	n := to - from + 1
	per := n / cutLanes
	if per < 256 {
		c.markSerial(from, to)
		return
	}
	buf, out, mod, mask, shift := c.buf, c.out, c.mod, c.mask, uint(cutShift)
	var f [cutLanes]int
	var d [cutLanes]uint64
	for l := range cutLanes {
		f[l] = from + l*per
		// Warm up: the digest of the 64 bytes before the lane's first end.
		var x uint64
		for _, b := range buf[f[l]-cutWindow : f[l]] {
			x = (x<<8 | uint64(b)) ^ mod[byte(x>>shift)]
		}
		d[l] = x
		if x&mask == 0 {
			c.set(f[l])
		}
	}
	d0, d1, d2, d3 := d[0], d[1], d[2], d[3]
	// Lane l's byte i is w_l[i+64], the byte sliding out w_l[i]; ends
	// f[l]+1+i.
	m := per - 1
	w0 := buf[f[0]-cutWindow : f[0]+m]
	w1 := buf[f[1]-cutWindow : f[1]+m]
	w2 := buf[f[2]-cutWindow : f[2]+m]
	w3 := buf[f[3]-cutWindow : f[3]+m]
	w0, w1, w2, w3 = w0[:m+cutWindow], w1[:m+cutWindow], w2[:m+cutWindow], w3[:m+cutWindow]
	for i := 0; i < m; i++ {
		b0, b1, b2, b3 := w0[i+cutWindow], w1[i+cutWindow], w2[i+cutWindow], w3[i+cutWindow]
		d0 ^= out[w0[i]]
		d1 ^= out[w1[i]]
		d2 ^= out[w2[i]]
		d3 ^= out[w3[i]]
		d0 = (d0<<8 | uint64(b0)) ^ mod[byte(d0>>cutShift)]
		d1 = (d1<<8 | uint64(b1)) ^ mod[byte(d1>>cutShift)]
		d2 = (d2<<8 | uint64(b2)) ^ mod[byte(d2>>cutShift)]
		d3 = (d3<<8 | uint64(b3)) ^ mod[byte(d3>>cutShift)]
		if d0&mask == 0 || d1&mask == 0 || d2&mask == 0 || d3&mask == 0 {
			if d0&mask == 0 {
				c.set(f[0] + 1 + i)
			}
			if d1&mask == 0 {
				c.set(f[1] + 1 + i)
			}
			if d2&mask == 0 {
				c.set(f[2] + 1 + i)
			}
			if d3&mask == 0 {
				c.set(f[3] + 1 + i)
			}
		}
	}
	p3 := f[3] + m
	// The last lane runs to the end.
	c.markFrom(p3, d3, to)
}

// markFrom continues a rolling digest d of the 64 bytes before end p up
// to end to.
func (c *cutter) markFrom(p int, d uint64, to int) {
	buf, out, mod, mask, shift := c.buf, c.out, c.mod, c.mask, cutShift
	for ; p < to; p++ {
		d ^= out[buf[p-cutWindow]]
		d = (d<<8 | uint64(buf[p])) ^ mod[byte(d>>shift)]
		if d&mask == 0 {
			c.set(p + 1)
		}
	}
}

func (c *cutter) markSerial(from, to int) {
	var x uint64
	for _, b := range c.buf[from-cutWindow : from] {
		x = (x<<8 | uint64(b)) ^ c.mod[byte(x>>(cutShift))]
	}
	if x&c.mask == 0 {
		c.set(from)
	}
	c.markFrom(from, x, to)
}

func (c *cutter) set(e int) { c.marks[e>>6] |= 1 << (uint(e) & 63) }
