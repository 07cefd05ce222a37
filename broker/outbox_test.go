package broker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts the write system calls a socket gets.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = server.Close(); _ = client.Close() })
	return server, client
}

// frame is one numbered "packet": writer, sequence number, and padding.
func frame(writer, seq uint32, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint32(b, writer)
	binary.BigEndian.PutUint32(b[4:], seq)
	return b
}

// Every byte accepted reaches the peer, in each writer's order, with no
// write, flush or close after the last one: nothing waits for a later
// packet to push it out. Several writers at once (Mochi's write loop and
// its read loop both write) must also batch into fewer system calls.
func TestOutboxDeliversEverythingWithoutALaterWrite(t *testing.T) {
	server, client := tcpPair(t)
	sock := &countingConn{Conn: server}
	var o outbox
	const writers, perWriter, size = 4, 5000, 64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				if _, err := o.write(sock, frame(uint32(w), uint32(i), size)); err != nil {
					t.Errorf("write: %v", err)
					return
				}
			}
		})
	}
	next := make([]uint32, writers)
	_ = client.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, size)
	for n := range writers * perWriter {
		if _, err := io.ReadFull(client, buf); err != nil {
			t.Fatalf("after %d of %d packets: %v", n, writers*perWriter, err)
		}
		w, seq := binary.BigEndian.Uint32(buf), binary.BigEndian.Uint32(buf[4:])
		if w >= writers || seq != next[w] {
			t.Fatalf("packet %d: writer %d seq %d, want seq %d", n, w, seq, next[w])
		}
		next[w]++
	}
	wg.Wait()
	if calls := sock.writes.Load(); calls >= writers*perWriter {
		t.Errorf("%d write calls for %d packets: nothing was batched", calls, writers*perWriter)
	}
	t.Logf("%d packets in %d write calls", writers*perWriter, sock.writes.Load())
	// Once empty, the outbox holds no buffer and runs no flusher.
	deadline := time.Now().Add(10 * time.Second)
	for {
		o.mu.Lock()
		idle := !o.flushing && o.buf == nil
		o.mu.Unlock()
		if idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the flusher did not end after the outbox emptied")
		}
		time.Sleep(time.Millisecond)
	}
}

// One writer's burst (Mochi's write loop draining a client's queue) is
// batched too: after the first packet, the next ones come within
// outboxBusyGap and join batches.
func TestOutboxBatchesOneWritersBurst(t *testing.T) {
	server, client := tcpPair(t)
	sock := &countingConn{Conn: server}
	var o outbox
	const packets, size = 20000, 100
	go func() {
		for i := range packets {
			if _, err := o.write(sock, frame(0, uint32(i), size)); err != nil {
				t.Errorf("write: %v", err)
				return
			}
		}
	}()
	_ = client.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, size)
	for i := range packets {
		if _, err := io.ReadFull(client, buf); err != nil {
			t.Fatalf("after %d packets: %v", i, err)
		}
		if seq := binary.BigEndian.Uint32(buf[4:]); seq != uint32(i) {
			t.Fatalf("packet %d has seq %d", i, seq)
		}
	}
	if calls := sock.writes.Load(); calls > packets/2 {
		t.Errorf("%d write calls for %d packets written back to back", calls, packets)
	}
	t.Logf("%d packets in %d write calls", packets, sock.writes.Load())
}

// A single packet written to an idle connection leaves at once, on its own.
func TestOutboxSinglePacket(t *testing.T) {
	server, client := tcpPair(t)
	var o outbox
	for i := range 3 {
		want := frame(9, uint32(i), 16)
		if _, err := o.write(server, want); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(want))
		_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(client, got); err != nil {
			t.Fatalf("packet %d never arrived: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("packet %d: got %x", i, got)
		}
	}
}

// Close writes what is waiting before the socket closes, so a final
// DISCONNECT (or a refusing CONNACK) reaches the client.
func TestOutboxCloseFlushesFirst(t *testing.T) {
	server, client := tcpPair(t)
	var o outbox
	var want []byte
	for i := range 2000 {
		p := frame(1, uint32(i), 100)
		want = append(want, p...)
		if _, err := o.write(server, p); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(client)
		got <- b
	}()
	o.close(server, 10*time.Second)
	_ = server.Close()
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("peer got %d of %d bytes before the close", len(b), len(want))
	}
	if _, err := o.write(server, []byte("late")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v, want net.ErrClosed", err)
	}
}

// A peer that never reads cannot hold Close beyond its timeout, and a
// writer blocked, on the full outbox or in its own socket write, is
// released with an error.
func TestOutboxCloseBoundedWhenPeerDoesNotRead(t *testing.T) {
	server, _ := tcpPair(t)
	var o outbox
	blocked := make(chan error, 1)
	var written atomic.Int64
	go func() {
		p := make([]byte, 32<<10)
		for {
			if _, err := o.write(server, p); err != nil {
				blocked <- err
				return
			}
			written.Add(1)
		}
	}()
	// Wait until the writer is stuck: the kernel's buffers are full, and
	// the writer waits on the full outbox or, when its write found the
	// connection idle (more than outboxBusyGap after the last, as on a
	// loaded machine), in the socket write itself.
	deadline := time.Now().Add(20 * time.Second)
	last, since := written.Load(), time.Now()
	for {
		if n := written.Load(); n != last {
			last, since = n, time.Now()
		} else if n > 0 && time.Since(since) > 300*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the writer never got stuck (%d writes)", written.Load())
		}
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	o.close(server, 200*time.Millisecond)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("close took %v", d)
	}
	select {
	case err := <-blocked:
		if err == nil {
			t.Fatal("blocked writer got no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a writer stayed blocked after close")
	}
}

// After a failed write every later write fails, instead of queueing bytes
// behind a broken stream.
func TestOutboxWriteErrorSticks(t *testing.T) {
	server, client := tcpPair(t)
	_ = client.Close()
	var o outbox
	p := make([]byte, 16<<10)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := o.write(server, p); err != nil {
			break // the flusher hit the reset and closed the socket
		}
		if time.Now().After(deadline) {
			t.Fatal("writes to a closed peer kept succeeding")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := o.write(server, p); err == nil {
		t.Fatal("a write after the error succeeded")
	}
}
