package peer

import (
	"context"
	"crypto/tls"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// NotSentLowat is the TCP_NOTSENT_LOWAT of the connections the peer
// server accepts, in bytes: a chunk stream's writes wait while more than
// this is queued in the socket and not yet sent, so the stream's loop
// stays about a congestion window plus this ahead of the wire, not a
// whole send buffer (Linux autotunes it up to tcp_wmem's 4 MB). A Skip
// request (skip.go: the losing copies of hedged chunks) then reaches
// chunks the stream has not written yet: on the WAN benchmark (BBR,
// 170-360 ms links) the holders' sockets held 2-4 MB not sent, and reads
// that skipped chunks received hundreds of them twice (hedged reads of
// scenario a, load 2-4: 23-140 chunks twice without the option in 5
// reads, 34-42 with it in 3; no gain in read time measured). Half
// a MiB is 70 ms at 60 Mbit/s: the writer, woken when the queue falls
// below it, keeps the link fed on a loaded machine.
const NotSentLowat = 512 << 10

// ConnContext is for http.Server.ConnContext of the peer listener: it
// sets NotSentLowat on a TCP connection, under TLS too (best effort: other connections,
// or a kernel without the option, are left as they are) and returns ctx.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if sc, ok := c.(syscall.Conn); ok {
		_ = setNotSentLowat(sc, NotSentLowat)
	}
	return ctx
}

// setNotSentLowat sets TCP_NOTSENT_LOWAT on c.
func setNotSentLowat(c syscall.Conn, n int) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, n)
	}); err != nil {
		return err
	}
	return serr
}
