package broker

import (
	"strconv"
	"strings"

	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
)

// boltStore is Mochi's bolt storage hook with one defect of v2.7.9 mended:
// it stores inflight messages without their packet ID, so after a restart
// every restored message has ID 0, they overwrite each other in the
// client's inflight table, and the survivor cannot be resent (a QoS 1
// PUBLISH needs a packet ID). The ID is still in each record's key,
// "IFM_<client ID>:<packet ID>", and is put back when the store is read.
type boltStore struct {
	*bolt.Hook
}

// StoredInflightMessages returns the stored inflight messages with their
// packet IDs.
func (s boltStore) StoredInflightMessages() ([]storage.Message, error) {
	msgs, err := s.Hook.StoredInflightMessages()
	for i := range msgs {
		if id, ok := packetIDFromKey(msgs[i].ID); ok && msgs[i].PacketID == 0 {
			msgs[i].PacketID = id
		}
	}
	return msgs, err
}

// packetIDFromKey reads the packet ID after the last ':' of an inflight
// record's key (client IDs may contain ':' themselves).
func packetIDFromKey(key string) (uint16, bool) {
	i := strings.LastIndexByte(key, ':')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(key[i+1:], 10, 16)
	if err != nil || n == 0 {
		return 0, false
	}
	return uint16(n), true
}
