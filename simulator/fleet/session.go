package fleet

import (
	"errors"
	"io"

	pahostate "github.com/eclipse/paho.golang/paho/session/state"
)

// newSession returns paho's session state for one connection, with
// nothing stored for resending. paho's default keeps a serialized copy of
// every QoS 1 PUBLISH until its PUBACK, to resend it when a session is
// resumed; devices start every connection clean and without session
// expiry (see device.open), so paho would discard those copies unread.
// Skipping them saves an encoding of every response and notification.
//
// paho does not close a session it was given; none needs closing: the
// connection's loss clears its state, and it holds nothing else.
func newSession() *pahostate.State {
	return pahostate.New(noStore{}, noStore{})
}

// noStore is a paho session store that keeps nothing.
type noStore struct{}

var errNotStored = errors.New("fleet: session packets are not stored")

func (noStore) Put(uint16, byte, io.WriterTo) error { return nil }
func (noStore) Get(uint16) (io.ReadCloser, error)   { return nil, errNotStored }
func (noStore) Delete(uint16) error                 { return nil }
func (noStore) Quarantine(uint16) error             { return nil }
func (noStore) List() ([]uint16, error)             { return nil, nil }
func (noStore) Reset() error                        { return nil }
