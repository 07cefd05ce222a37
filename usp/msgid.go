package usp

import (
	"crypto/rand"
	"encoding/base32"
	"strconv"
	"sync/atomic"
)

// IDGen produces msg_id values that are unique across restarts and across
// processes: each generator starts from 80 random bits (its instance tag)
// and appends a counter, so two generators collide only if their tags do
// (about one chance in 2^40 after a million restarts of a million processes).
// The counter keeps IDs cheap: no randomness per message.
type IDGen struct {
	prefix string
	n      atomic.Uint64
}

var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// NewIDGen returns a generator whose IDs start with prefix (e.g. "cuttle-";
// may be empty).
func NewIDGen(prefix string) *IDGen {
	var tag [10]byte
	_, _ = rand.Read(tag[:]) // crypto/rand.Read never fails (Go 1.24+)
	return &IDGen{prefix: prefix + idEncoding.EncodeToString(tag[:]) + "-"}
}

// Next returns a new msg_id. It is safe for concurrent use.
func (g *IDGen) Next() string {
	return g.prefix + strconv.FormatUint(g.n.Add(1), 36)
}

var defaultIDs = NewIDGen("")

// NewMsgID returns a new msg_id from a process-wide generator.
func NewMsgID() string { return defaultIDs.Next() }
