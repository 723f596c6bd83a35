package peer

import (
	"net"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestConnContextNotSentLowat: a connection accepted over loopback leaves
// ConnContext with TCP_NOTSENT_LOWAT set to NotSentLowat.
func TestConnContextNotSentLowat(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ConnContext(t.Context(), c)
	raw, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got int
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		got, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT)
	}); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	if got != NotSentLowat {
		t.Fatalf("TCP_NOTSENT_LOWAT %d, want %d", got, NotSentLowat)
	}
}
