package mqttmtp

import (
	"hash/maphash"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
)

// handlerPool runs the Handler on a fixed set of workers. Records of one
// device go to the same worker, so they are handled in the order they
// arrived.
type handlerPool struct {
	handler func(Incoming)
	log     *slog.Logger
	seed    maphash.Seed
	queues  []chan Incoming
}

func newHandlerPool(h func(Incoming), log *slog.Logger, workers, queue int) *handlerPool {
	p := &handlerPool{handler: h, log: log, seed: maphash.MakeSeed()}
	if h == nil {
		return p
	}
	p.queues = make([]chan Incoming, workers)
	for i := range p.queues {
		p.queues[i] = make(chan Incoming, queue)
	}
	return p
}

// handlerWait is how long the MQTT read loop waits for room in a full
// handler queue before it drops the Record: long enough to ride out a
// burst, short enough that responses to other requests are not held up.
const handlerWait = 100 * time.Millisecond

// dispatch queues in for the handler and reports false if it was dropped.
func (p *handlerPool) dispatch(in Incoming) bool {
	if p.handler == nil {
		return true
	}
	q := p.queues[maphash.String(p.seed, in.Record.FromID)%uint64(len(p.queues))]
	select {
	case q <- in:
		return true
	default:
	}
	t := time.NewTimer(handlerWait)
	defer t.Stop()
	select {
	case q <- in:
		return true
	case <-t.C:
		return false
	}
}

// run starts the workers in wg; they end after stop, once their queues
// are drained.
func (p *handlerPool) run(wg *sync.WaitGroup) {
	for _, q := range p.queues {
		wg.Go(func() {
			for in := range q {
				p.call(in)
			}
		})
	}
}

// call runs the handler on in. Like net/http, it survives a panicking
// handler: one bad Record must not take the controller down.
func (p *handlerPool) call(in Incoming) {
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("handler panicked", "device", in.Record.FromID, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	p.handler(in)
}

// stop ends the workers; dispatch must not be called afterwards.
func (p *handlerPool) stop() {
	for _, q := range p.queues {
		close(q)
	}
}
