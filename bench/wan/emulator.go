package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// openTunIn creates the TUN device name inside the network namespace ns
// (as /var/run/netns/ns) and returns its file, in non-blocking mode so
// that Read and Close work through the runtime poller. The device lives
// until the file is closed. The calling goroutine's thread enters ns only
// while creating the device; if it cannot return to its namespace the
// thread is left locked, so the runtime discards it.
func openTunIn(ns, name string) (*os.File, error) {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer orig.Close()
	target, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("setns %s: %w", ns, err)
	}
	fd, openErr := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if openErr == nil {
		var ifr *unix.Ifreq
		ifr, openErr = unix.NewIfreq(name)
		if openErr == nil {
			ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
			openErr = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
		}
		if openErr != nil {
			unix.Close(fd)
		}
	}
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: it dies with this goroutine.
		if openErr == nil {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("setns back: %w", err)
	}
	runtime.UnlockOSThread()
	if openErr != nil {
		return nil, fmt.Errorf("/dev/net/tun %s: %w", name, openErr)
	}
	return os.NewFile(uintptr(fd), "tun:"+ns+"/"+name), nil
}

// emulator forwards IPv4 packets between the regions' TUN devices. Every
// directed pair (i, j) is a pipe: a FIFO serializer at the link's
// bandwidth followed by a fixed one-way delay of RTT/2, with a drop-tail
// queue bounded by max(two bandwidth-delay products, 256 KiB), so TCP sees
// a bottleneck like a real WAN path and not an unbounded buffer (with one
// BDP, BBR's start-up overshoot cost it 10-15 % of the rate). The
// pipes are independent: the topology models pairwise paths, not shared
// access links.
type emulator struct {
	devs  []*os.File
	pipes [][]*pipe // [from][to], nil on the diagonal
	mtu   int
	wg    sync.WaitGroup
	done  chan struct{}
	once  sync.Once
}

type pipe struct {
	from, to int
	rate     float64       // bytes/s
	delay    time.Duration // one way
	limit    float64       // queue bound in bytes
	q        chan packet

	mu   sync.Mutex
	busy time.Time // when the serializer becomes free

	bytes, packets, drops atomic.Int64
	// late counts packets written more than lateAfter past their
	// delivery time: the forwarder itself was not scheduled (a loaded
	// machine), so the emulated link paused.
	late atomic.Int64
}

// lateAfter is how far past its delivery time a packet counts as late.
const lateAfter = 100 * time.Millisecond

type packet struct {
	buf []byte
	n   int
	at  time.Time // delivery time
}

// queueSlots bounds the packets queued on one pipe (beyond the byte limit).
const queueSlots = 8192

func newEmulator(t *Topology, devs []*os.File, mtu int) *emulator {
	e := &emulator{devs: devs, mtu: mtu, done: make(chan struct{})}
	e.pipes = make([][]*pipe, len(devs))
	for i := range devs {
		e.pipes[i] = make([]*pipe, len(devs))
		for j := range devs {
			if i == j {
				continue
			}
			l, _ := t.Link(t.Regions[i], t.Regions[j])
			p := &pipe{from: i, to: j, rate: l.BytesPerSec(), delay: l.RTT / 2, q: make(chan packet, queueSlots)}
			p.limit = max(2*p.rate*l.RTT.Seconds(), 256<<10)
			e.pipes[i][j] = p
		}
	}
	return e
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 65536); return &b }}

func (e *emulator) start() {
	for i := range e.devs {
		e.wg.Add(1)
		go e.readLoop(i)
		for j := range e.devs {
			if p := e.pipes[i][j]; p != nil {
				e.wg.Add(1)
				go e.deliverLoop(p)
			}
		}
	}
}

// readLoop reads packets leaving region i and hands them to their pipe.
func (e *emulator) readLoop(i int) {
	defer e.wg.Done()
	for {
		bp := bufPool.Get().(*[]byte)
		n, err := e.devs[i].Read(*bp)
		if err != nil {
			bufPool.Put(bp)
			if errors.Is(err, os.ErrClosed) {
				return
			}
			select {
			case <-e.done:
				return
			default:
				time.Sleep(10 * time.Millisecond)
				continue
			}
		}
		j := dstRegion((*bp)[:n])
		if j < 0 || j >= len(e.devs) || j == i {
			bufPool.Put(bp)
			continue
		}
		if !e.pipes[i][j].enqueue(time.Now(), bp, n) {
			bufPool.Put(bp)
		}
	}
}

// dstRegion returns the region index of an IPv4 packet's destination in
// 10.213.0.0/24, or -1.
func dstRegion(b []byte) int {
	if len(b) < 20 || b[0]>>4 != 4 || b[16] != 10 || b[17] != 213 || b[18] != 0 || b[19] == 0 {
		return -1
	}
	return int(b[19]) - 1
}

// schedule computes the delivery time of an n-byte packet arriving at now,
// or reports false when the queue is full (drop-tail).
func (p *pipe) schedule(now time.Time, n int) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	start := p.busy
	if start.Before(now) {
		start = now
	}
	backlog := start.Sub(now).Seconds() * p.rate
	if backlog+float64(n) > p.limit {
		return time.Time{}, false
	}
	p.busy = start.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	return p.busy.Add(p.delay), true
}

func (p *pipe) enqueue(now time.Time, bp *[]byte, n int) bool {
	at, ok := p.schedule(now, n)
	if !ok {
		p.drops.Add(1)
		return false
	}
	select {
	case p.q <- packet{buf: (*bp)[:cap(*bp)], n: n, at: at}:
		return true
	default:
		p.drops.Add(1)
		return false
	}
}

// deliverLoop writes the packets of p to the destination device at their
// delivery times, in order.
func (e *emulator) deliverLoop(p *pipe) {
	defer e.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	dst := e.devs[p.to]
	for {
		var pk packet
		select {
		case pk = <-p.q:
		case <-e.done:
			return
		}
		if d := time.Until(pk.at); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-e.done:
				return
			}
		}
		if time.Since(pk.at) > lateAfter {
			p.late.Add(1)
		}
		if _, err := dst.Write(pk.buf[:pk.n]); err == nil {
			p.bytes.Add(int64(pk.n))
			p.packets.Add(1)
		} else {
			p.drops.Add(1)
		}
		b := pk.buf
		bufPool.Put(&b)
	}
}

func (e *emulator) stats() map[[2]int]LinkCounters {
	out := make(map[[2]int]LinkCounters)
	for i := range e.pipes {
		for j, p := range e.pipes[i] {
			if p != nil {
				out[[2]int{i, j}] = LinkCounters{Bytes: p.bytes.Load(), Packets: p.packets.Load(), Drops: p.drops.Load(), Late: p.late.Load()}
			}
		}
	}
	return out
}

func (e *emulator) close() {
	e.once.Do(func() {
		close(e.done)
		for _, d := range e.devs {
			d.Close()
		}
		e.wg.Wait()
	})
}

// dialIn dials addr from inside the network namespace ns: the socket is
// created by a thread that has entered ns, and stays in ns afterwards.
func dialIn(ctx context.Context, ns, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, err}
			return
		}
		defer orig.Close()
		target, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, err}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, err}
			return
		}
		// The socket is created here, on this thread, inside ns.
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else: leave the thread locked so the runtime discards it.
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}
