package testutil

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"syscall"
	"testing"
)

// RefusedAddr returns a loopback address ("127.0.0.1:port") where every
// connection is refused for the length of the test, for tests of a dead
// broker or server. A port that was listened on and closed is not that: a
// listener elsewhere (another test, another package's test binary) may be
// given the same port before the test dials it. Here a socket bound to the
// port, never listening and without SO_REUSEADDR, holds it until cleanup,
// so the kernel hands it to no other listener or outgoing connection.
func RefusedAddr(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("binding a socket to 127.0.0.1:0: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	in4, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		t.Fatalf("getsockname returned %T", sa)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(in4.Port))
}

// FreePorts returns n distinct loopback TCP ports that were free a moment
// ago, for a server that must be told its port before it starts (a NATS
// cluster's routes, a server restarted where its clients expect it). They
// are taken from below Linux's default ephemeral range (32768–60999), which
// listeners on port 0 and every outgoing connection draw from, so only
// another explicit pick can take one before the server binds it. Where a
// server can listen on port 0 and report its address, let it.
func FreePorts(n int) ([]int, error) {
	const lo, hi = 20000, 32768
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries == 1000 {
			return nil, fmt.Errorf("no free port in [%d, %d) after %d tries", lo, hi, tries)
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", lo+rand.IntN(hi-lo)))
		if err != nil {
			continue
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// RestartableAddr returns a loopback address ("127.0.0.1:port") on a port
// from FreePorts, for a server that a test stops and starts again where its
// clients expect it. A port 0 listener's port is in the ephemeral range:
// while the server is down, another test's listener or any outgoing
// connection on the machine may take it, and the restart fails.
func RestartableAddr(t testing.TB) string {
	t.Helper()
	ports, err := FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
}
