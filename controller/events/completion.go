package events

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"cuttle/usp/usperr"
)

// The Data keys of an OperationComplete event (TypeOperationComplete),
// whose Path is the command's path ("Device.DeviceInfo.FirmwareImage.1.Download()").
const (
	DataCommandKey = "command_key"
	// DataOutputPrefix precedes each output argument's name.
	DataOutputPrefix = "output."
	// DataErrCode and DataErrMsg hold a failed command's USP error.
	DataErrCode = "err_code"
	DataErrMsg  = "err_msg"
)

// Completion is what an OperationComplete event says of its command.
type Completion struct {
	Event Event
	// Output holds the output arguments of a command that succeeded; it
	// is nil when the command failed.
	Output map[string]string
	// Err is the failure of a command that failed.
	Err *usperr.Error
}

// CompletionOf reads an OperationComplete event.
func CompletionOf(e Event) Completion {
	c := Completion{Event: e}
	if code, ok := e.Data[DataErrCode]; ok {
		n, _ := strconv.ParseUint(code, 10, 32)
		c.Err = &usperr.Error{Code: usperr.Code(n), Msg: e.Data[DataErrMsg]}
		return c
	}
	c.Output = map[string]string{}
	for k, v := range e.Data {
		if name, ok := strings.CutPrefix(k, DataOutputPrefix); ok {
			c.Output[name] = v
		}
	}
	return c
}

// maxUnclaimed bounds the completions a Completions keeps for nobody yet.
const maxUnclaimed = 100_000

// Completions hands out the OperationComplete events of the commands run
// with one command key, as they arrive, to whoever waits for a device's
// command: the per-device Operate that waits, and bulk jobs. A completion
// that arrives before anyone waits for it is kept until someone does.
type Completions struct {
	key  string
	done chan struct{}

	mu sync.Mutex // guards arrived and waiting
	// arrived holds completions nobody has waited for yet.
	arrived map[completionKey]Event
	// waiting holds the channels of those waiting, each buffered 1.
	waiting map[completionKey][]chan Event
}

type completionKey struct{ endpointID, command string }

// FollowCompletions follows, from now on, the OperationComplete events of
// the commands run with commandKey on endpointID ("" for every device).
// Start it before sending the Operate, so that no completion is missed
// however fast the command ends. It follows until ctx ends; Done is closed
// then.
func (l *Log) FollowCompletions(ctx context.Context, endpointID, commandKey string) (*Completions, error) {
	return l.FollowCompletionsSince(ctx, endpointID, commandKey, time.Time{})
}

// FollowCompletionsSince is FollowCompletions starting with the events
// stored at or after since (Filter.Since; the zero time means from now):
// a bulk job resumed after a restart uses it to find the completions that
// arrived while no controller was waiting for them.
func (l *Log) FollowCompletionsSince(ctx context.Context, endpointID, commandKey string, since time.Time) (*Completions, error) {
	feed, err := l.Subscribe(ctx, Filter{EndpointID: endpointID, Types: []string{TypeOperationComplete}, Since: since})
	if err != nil {
		return nil, err
	}
	c := &Completions{key: commandKey, done: make(chan struct{}), arrived: map[completionKey]Event{}, waiting: map[completionKey][]chan Event{}}
	go func() {
		defer close(c.done)
		for e := range feed {
			if e.Data[DataCommandKey] == commandKey {
				c.deliver(e)
			}
		}
	}()
	return c, nil
}

// Done is closed once the Completions has stopped following, after its
// context ended.
func (c *Completions) Done() <-chan struct{} { return c.done }

func (c *Completions) deliver(e Event) {
	k := completionKey{e.EndpointID, e.Path}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ws := c.waiting[k]; len(ws) > 0 {
		delete(c.waiting, k)
		for _, w := range ws {
			w <- e
		}
		return
	}
	if len(c.arrived) < maxUnclaimed {
		c.arrived[k] = e
	}
}

// Wait returns the completion of command (its path, as the OperateResp
// names it) on endpointID, waiting until it arrives, ctx ends (its error
// is returned) or the Completions stops following (context.Canceled).
func (c *Completions) Wait(ctx context.Context, endpointID, command string) (Completion, error) {
	k := completionKey{endpointID, command}
	c.mu.Lock()
	if e, ok := c.arrived[k]; ok {
		delete(c.arrived, k)
		c.mu.Unlock()
		return CompletionOf(e), nil
	}
	ch := make(chan Event, 1)
	c.waiting[k] = append(c.waiting[k], ch)
	c.mu.Unlock()
	select {
	case e := <-ch:
		return CompletionOf(e), nil
	case <-ctx.Done():
		c.forget(k, ch)
		return Completion{}, ctx.Err()
	case <-c.done:
		c.forget(k, ch)
		return Completion{}, context.Canceled
	}
}

// forget removes a waiter that gave up; a completion already handed to it
// is put back for the next one.
func (c *Completions) forget(k completionKey, ch chan Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ws := c.waiting[k]
	for i, w := range ws {
		if w == ch {
			c.waiting[k] = append(ws[:i:i], ws[i+1:]...)
			if len(c.waiting[k]) == 0 {
				delete(c.waiting, k)
			}
			return
		}
	}
	select {
	case e := <-ch:
		c.arrived[k] = e
	default:
	}
}
