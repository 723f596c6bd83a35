package main

import (
	"testing"
	"time"
)

func TestPipeSchedule(t *testing.T) {
	p := &pipe{rate: 1e6, delay: 50 * time.Millisecond, limit: 10000} // 1 MB/s
	t0 := time.Unix(1000, 0)
	// Two back-to-back 1000-byte packets: serialized 1 ms each, then delayed.
	at1, ok1 := p.schedule(t0, 1000)
	at2, ok2 := p.schedule(t0, 1000)
	if !ok1 || !ok2 {
		t.Fatal("dropped")
	}
	if want := t0.Add(51 * time.Millisecond); !at1.Equal(want) {
		t.Fatalf("first at %v, want %v", at1.Sub(t0), want.Sub(t0))
	}
	if want := t0.Add(52 * time.Millisecond); !at2.Equal(want) {
		t.Fatalf("second at %v, want %v", at2.Sub(t0), want.Sub(t0))
	}
	// An idle link starts afresh.
	t1 := t0.Add(time.Second)
	if at, _ := p.schedule(t1, 500); !at.Equal(t1.Add(50500 * time.Microsecond)) {
		t.Fatalf("idle: at %v", at.Sub(t1))
	}
	// The queue holds at most limit bytes of backlog.
	t2 := t0.Add(2 * time.Second)
	n := 0
	for {
		if _, ok := p.schedule(t2, 1000); !ok {
			break
		}
		n++
	}
	if n != 10 {
		t.Fatalf("queued %d packets of 1000 bytes, want 10", n)
	}
}

func TestDstRegion(t *testing.T) {
	pkt := make([]byte, 20)
	pkt[0] = 0x45
	copy(pkt[16:], []byte{10, 213, 0, 3})
	if got := dstRegion(pkt); got != 2 {
		t.Fatalf("dstRegion = %d, want 2", got)
	}
	pkt[18] = 1
	if got := dstRegion(pkt); got != -1 {
		t.Fatalf("outside 10.213.0.0/24: %d", got)
	}
	pkt[0] = 0x60
	if dstRegion(pkt) != -1 || dstRegion(pkt[:10]) != -1 {
		t.Fatal("IPv6 or short packet accepted")
	}
}
