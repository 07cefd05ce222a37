package broker

import (
	"net"
	"sync"
	"time"
)

// outbox batches the writes to one client's socket, so a client with many
// packets waiting gets them in a few large write system calls instead of
// one each, and no packet ever waits for a later one to be flushed.
//
// Mochi writes every packet with its own Conn.Write: its own write buffer,
// which holds packets while more wait in the client's outbound queue and
// relies on a later packet to flush them, is switched off
// (ClientNetWriteBufferSize 1), because the broker's flow control skips
// deliveries (flow.go) and a skipped last packet would leave the buffered
// ones unsent. Instead:
//
//   - A packet written to a connection that is not writing, and has not
//     written for outboxBusyGap, is written at once by its caller, as Mochi
//     would: no copy, no goroutine. A device receiving now and then costs
//     what it did.
//   - Otherwise the packet is appended to the outbox and Write returns; if
//     no write is under way, a flusher goroutine is started. The flusher
//     writes everything in the outbox in one system call, then whatever
//     arrived during that call, and ends when the outbox is empty. A writer
//     that wrote its own packet does the same check when its call returns.
//
// So bytes are on their way to the socket as soon as they are written, in
// order, and every byte accepted is written by the write that was under
// way (or the flusher that was started) when it was accepted: each checks
// for new bytes under the same lock before it ends. Packets that arrive
// while a write system call is in progress go together in the next one:
// the more a client is sent, the larger the batches.
//
// An idle connection has no flusher goroutine and no buffer: buffers come
// from a pool and go back to it whenever the outbox empties.
//
// Write blocks while limit bytes or more are waiting, which bounds the
// memory of a client that reads slowly and, as before, holds back Mochi's
// write loop (and then its outbound queue) for it. After a failed write the
// socket is closed, since its stream may be cut mid-packet, and every later
// Write fails with that error. Close first gives the flusher up to
// closeFlushTimeout to write what is waiting, so a final DISCONNECT or a
// refusing CONNACK reaches the client.
type outbox struct {
	mu       sync.Mutex
	cond     sync.Cond // signalled when the flusher takes the buffer or stops
	buf      []byte    // accepted, not yet taken by the flusher
	flushing bool      // a write to the socket is under way (a flusher, or a writer's own)
	err      error     // set once: the first write error, or net.ErrClosed
	// idleSince is when the last write to the socket ended.
	idleSince time.Time
}

const (
	// outboxLimit is how many bytes may wait for the flusher before Write
	// blocks (and any single packet however large). Only a connection
	// receiving faster than it reads fills it, such as a controller that
	// a thousand devices publish to at once: 1 MiB (about 6,500 USP
	// Records) keeps Mochi's write loop draining the outbound queue, so
	// fewer QoS 0 deliveries are dropped for a full queue (fan-in QoS 0
	// lost 36% instead of 51–94% in docs/performance.md's runs).
	outboxLimit = 1 << 20
	// outboxPooled is the largest buffer returned to the pool; larger ones
	// (grown for a burst or a big packet) are left to the garbage collector.
	outboxPooled = 64 << 10
	// outboxBusyGap: a packet written within this time of the previous
	// write's end is taken as part of a burst and batched; one after a
	// longer pause is written at once by its caller.
	outboxBusyGap = 200 * time.Microsecond
	// closeFlushTimeout bounds how long Close waits for waiting bytes to be
	// written to a client that does not read.
	closeFlushTimeout = 2 * time.Second
)

var outboxBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

func getBuffer() []byte { return (*outboxBuffers.Get().(*[]byte))[:0] }

func putBuffer(b []byte) {
	if cap(b) > 0 && cap(b) <= outboxPooled {
		b = b[:0]
		outboxBuffers.Put(&b)
	}
}

// write accepts p for sock (see outbox). It never keeps p.
func (o *outbox) write(sock net.Conn, p []byte) (int, error) {
	o.mu.Lock()
	if o.cond.L == nil {
		o.cond.L = &o.mu
	}
	for o.err == nil && len(o.buf) >= outboxLimit {
		o.cond.Wait()
	}
	if o.err != nil {
		err := o.err
		o.mu.Unlock()
		return 0, err
	}
	if o.flushing || time.Since(o.idleSince) < outboxBusyGap {
		// A write is under way, or one ended moments ago: packets are
		// coming in a burst, so this one joins a batch.
		if o.buf == nil {
			o.buf = getBuffer()
		}
		o.buf = append(o.buf, p...)
		if !o.flushing {
			o.flushing = true
			go o.flush(sock)
		}
		o.mu.Unlock()
		return len(p), nil
	}
	// An idle connection: write this packet at once from the caller, with
	// no copy and no goroutine. Packets written meanwhile by another
	// goroutine wait in the outbox and go out after it, in a batch.
	o.flushing = true
	o.mu.Unlock()
	if _, err := sock.Write(p); err != nil {
		o.fail(sock, err)
		return 0, err
	}
	o.mu.Lock()
	if len(o.buf) > 0 {
		go o.flush(sock)
	} else {
		o.flushing = false
		o.idleSince = time.Now()
		o.cond.Broadcast()
	}
	o.mu.Unlock()
	return len(p), nil
}

// fail records a write error: the socket is closed, since its stream may
// end mid-packet, and every later write fails.
func (o *outbox) fail(sock net.Conn, err error) {
	_ = sock.Close()
	o.mu.Lock()
	if o.err == nil {
		o.err = err
	}
	putBuffer(o.buf)
	o.buf = nil
	o.flushing = false
	o.cond.Broadcast()
	o.mu.Unlock()
}

// flush writes the outbox to sock until it is empty or a write fails.
func (o *outbox) flush(sock net.Conn) {
	var batch []byte
	for {
		o.mu.Lock()
		if batch != nil {
			putBuffer(batch)
			batch = nil
		}
		if len(o.buf) == 0 || o.err != nil {
			o.flushing = false
			o.idleSince = time.Now()
			putBuffer(o.buf)
			o.buf = nil
			o.cond.Broadcast()
			o.mu.Unlock()
			return
		}
		batch, o.buf = o.buf, nil
		o.cond.Broadcast() // room for blocked writers
		o.mu.Unlock()

		if _, err := sock.Write(batch); err != nil {
			putBuffer(batch)
			o.fail(sock, err)
			return
		}
	}
}

// close waits, up to timeout, for the flusher to write what is waiting, and
// makes every later write fail. The socket itself is left to the caller.
func (o *outbox) close(sock net.Conn, timeout time.Duration) {
	o.mu.Lock()
	if o.cond.L == nil {
		o.cond.L = &o.mu
	}
	if o.flushing {
		// A client that does not read would hold the flusher in its write
		// until the keep-alive deadline: shorten it. (Not under the lock:
		// a WebSocket's deadline waits for its write to finish.)
		o.mu.Unlock()
		_ = sock.SetWriteDeadline(time.Now().Add(timeout))
		o.mu.Lock()
		for o.flushing {
			o.cond.Wait()
		}
	}
	if o.err == nil {
		o.err = net.ErrClosed
	}
	o.mu.Unlock()
}
