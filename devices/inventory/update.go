package inventory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"cuttle/broker/creds"
)

// maxAttempts bounds Update's read-modify-write loop. Each failed attempt
// means another writer changed the device meanwhile, which is rare outside
// bursts (a device's presence and its Boot! event arriving together on two
// replicas); 32 attempts with jittered back-off let 20 writers racing on
// one device all get through.
const maxAttempts = 32

// maxBackoff caps the pause between attempts.
const maxBackoff = 20 * time.Millisecond

// Update changes a device with fn and stores the result, creating the
// device when absent; it returns the device as stored. fn receives a copy
// of the current record (for a new device: only EndpointID set, status
// offline) and may change anything but EndpointID, Created, Updated and
// Revision, which Update maintains. fn may be called more than once, when
// another writer changed the device in between; an error from fn aborts
// the update and is returned as is. When fn changes nothing, nothing is
// written.
//
// Writes are conditional on the KV revision read, and retried on
// conflict, so no concurrent update is lost. The index reflects the write
// when Update returns.
func (i *Inventory) Update(ctx context.Context, eid string, fn func(d *Device) error) (Device, error) {
	return i.update(ctx, eid, false, fn)
}

// SetLabels sets and removes labels of an existing device. Keys and values
// are checked (see ValidLabelKey and ValidLabelValue); a key both set and
// removed is an error.
func (i *Inventory) SetLabels(ctx context.Context, eid string, set map[string]string, remove []string) (Device, error) {
	for k, v := range set {
		if err := ValidLabelKey(k); err != nil {
			return Device{}, err
		}
		if err := ValidLabelValue(k, v); err != nil {
			return Device{}, err
		}
	}
	for _, k := range remove {
		if err := ValidLabelKey(k); err != nil {
			return Device{}, err
		}
		if _, ok := set[k]; ok {
			return Device{}, fieldErr("labels["+k+"]", "both set and removed")
		}
	}
	return i.update(ctx, eid, true, func(d *Device) error {
		for k, v := range set {
			d.Labels[k] = v
		}
		for _, k := range remove {
			delete(d.Labels, k)
		}
		return nil
	})
}

// update is Update; mustExist makes an absent device ErrNotFound.
func (i *Inventory) update(ctx context.Context, eid string, mustExist bool, fn func(d *Device) error) (Device, error) {
	if err := validEndpointID(eid); err != nil {
		return Device{}, err
	}
	key := creds.EncodeKey(eid)
	// The first attempt starts from memory, which is current unless another
	// replica wrote very recently; a conflict then re-reads from KV.
	cur, exists := i.Get(eid)
	for attempt := range maxAttempts {
		if attempt > 0 {
			if err := pause(ctx, attempt); err != nil {
				return Device{}, err
			}
			var err error
			if cur, exists, err = i.read(ctx, key, eid); err != nil {
				return Device{}, err
			}
		}
		if !exists && mustExist {
			return Device{}, fmt.Errorf("device %q: %w", eid, ErrNotFound)
		}
		next, val, changed, err := i.prepare(eid, cur, exists, fn)
		if err != nil || !changed {
			return next, err
		}
		var rev uint64
		if exists {
			rev, err = i.kv.Update(ctx, key, val, cur.Revision)
		} else {
			rev, err = i.kv.Create(ctx, key, val)
		}
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			continue
		}
		if err != nil {
			return Device{}, natsError(i.nc, fmt.Sprintf("storing device %q", eid), err)
		}
		// Store what the watch will decode, so the two compare equal.
		stored, err := decodeDevice(eid, val, rev)
		if err != nil {
			return Device{}, fmt.Errorf("device %q: decoding what was stored: %w", eid, err)
		}
		i.commit(func() []change { return one(i.idx.put(stored, true)) })
		return stored.Clone(), nil
	}
	return Device{}, fmt.Errorf("device %q: %w: gave up after %d attempts", eid, ErrConflict, maxAttempts)
}

// prepare runs fn on a copy of cur and returns the device to store, its
// encoding, and whether it differs from cur. When nothing changed, it
// returns cur.
func (i *Inventory) prepare(eid string, cur Device, exists bool, fn func(d *Device) error) (Device, []byte, bool, error) {
	next := Device{EndpointID: eid, Status: StatusOffline, Labels: map[string]string{}}
	if exists {
		next = cur.Clone()
	}
	if err := fn(&next); err != nil {
		return Device{}, nil, false, err
	}
	if next.EndpointID != eid {
		return Device{}, nil, false, fieldErr("endpoint_id", "cannot change from %q to %q", eid, next.EndpointID)
	}
	if next.Labels == nil {
		next.Labels = map[string]string{}
	}
	if err := next.validate(); err != nil {
		return Device{}, nil, false, err
	}
	next.normalizeTimes()
	next.Revision = cur.Revision
	next.Created, next.Updated = cur.Created, cur.Updated
	now := i.now()
	if exists {
		same, err := sameJSON(cur, next)
		if err != nil {
			return Device{}, nil, false, fmt.Errorf("device %q: %w", eid, err)
		}
		if same {
			return cur, nil, false, nil
		}
	} else {
		next.Created = now
	}
	next.Updated = now
	val, err := json.Marshal(next)
	if err != nil {
		return Device{}, nil, false, fmt.Errorf("device %q: encoding: %w", eid, err)
	}
	return next, val, true, nil
}

// sameJSON reports whether a and b would be stored the same.
func sameJSON(a, b Device) (bool, error) {
	ja, err := json.Marshal(a)
	if err != nil {
		return false, err
	}
	jb, err := json.Marshal(b)
	return bytes.Equal(ja, jb), err
}

// read fetches a device from KV, for when memory proved stale.
func (i *Inventory) read(ctx context.Context, key, eid string) (Device, bool, error) {
	e, err := i.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Device{}, false, nil
	}
	if err != nil {
		return Device{}, false, natsError(i.nc, fmt.Sprintf("reading device %q", eid), err)
	}
	d, err := decodeDevice(eid, e.Value(), e.Revision())
	if err != nil {
		// Overwriting is the only way out of a corrupt record; the watch
		// already treats it as absent.
		i.log.Warn("replacing undecodable device record", "endpoint_id", eid, "err", err)
		return Device{EndpointID: eid, Status: StatusOffline, Labels: map[string]string{}, Revision: e.Revision()}, true, nil
	}
	return d, true, nil
}

// Delete removes a device. It returns ErrNotFound if there is none.
func (i *Inventory) Delete(ctx context.Context, eid string) error {
	if err := validEndpointID(eid); err != nil {
		return err
	}
	key := creds.EncodeKey(eid)
	for attempt := range maxAttempts {
		if attempt > 0 {
			if err := pause(ctx, attempt); err != nil {
				return err
			}
		}
		e, err := i.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("device %q: %w", eid, ErrNotFound)
		}
		if err != nil {
			return natsError(i.nc, fmt.Sprintf("reading device %q", eid), err)
		}
		// Conditional, so that the revision removeLocal is told is the one
		// deleted: nothing was written to the key in between.
		err = i.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return natsError(i.nc, fmt.Sprintf("deleting device %q", eid), err)
		}
		i.commit(func() []change { return one(i.idx.removeLocal(eid, e.Revision())) })
		return nil
	}
	return fmt.Errorf("device %q: %w: gave up after %d attempts", eid, ErrConflict, maxAttempts)
}

// validEndpointID checks eid as the broker does, reporting it as a
// FieldError of this package.
func validEndpointID(eid string) error {
	if err := creds.ValidEndpointID(eid); err != nil {
		return &FieldError{Field: "endpoint_id", Reason: strings.TrimPrefix(err.Error(), creds.ErrInvalid.Error()+": ")}
	}
	return nil
}

// pause waits before attempt number n (from 1): the first retry at once,
// since it usually follows a stale read rather than a busy device, then a
// random pause under a doubling bound, which spreads racing writers out.
func pause(ctx context.Context, n int) error {
	if n == 1 {
		return ctx.Err()
	}
	bound := min(time.Millisecond<<min(n-2, 10), maxBackoff)
	t := time.NewTimer(rand.N(bound) + 1)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
