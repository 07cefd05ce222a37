package broker

import (
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"cuttle/broker/acl"
)

// session is what the broker knows about one authenticated connection.
// It is created in OnConnect and never modified afterwards, except for the
// atomic log limiter and the publish bucket, which only the client's own
// read loop uses, so hooks read it without locks.
type session struct {
	subject  acl.Subject
	username string
	listener string
	ip       string
	// certSerial and certFingerprint identify the client certificate
	// ("serial:…", "sha256:…"), so a revocation can find its sessions.
	certSerial, certFingerprint string
	connected                   time.Time
	// expiryCapped records that the client asked for a longer session
	// expiry than the broker allows, so CONNACK must say which applies.
	expiryCapped bool
	// lastDropLog is the unix second of the last logged dropped Record;
	// drops are logged at most once a minute per client.
	lastDropLog atomic.Int64
	// publishes limits a device's publish rate (Config.DevicePublishRate).
	publishes tokenBucket
}

// tokenBucket admits events at a steady rate with bursts.
type tokenBucket struct {
	tokens float64
	last   time.Time
}

// take reports whether one more event fits at now, with the bucket
// refilling at rate per second up to burst (and starting full).
func (b *tokenBucket) take(now time.Time, rate, burst float64) bool {
	if b.last.IsZero() {
		b.tokens = burst
	} else {
		b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// shouldLogDrop reports whether a dropped Record may be logged now.
func (s *session) shouldLogDrop(now time.Time) bool {
	last := s.lastDropLog.Load()
	return now.Unix()-last >= 60 && s.lastDropLog.CompareAndSwap(last, now.Unix())
}

// sessions indexes live sessions by client (for hooks) and by username and
// certificate (for revocation).
type sessions struct {
	byClient sync.Map // *mqtt.Client -> *session; read on every ACL check

	mu     sync.Mutex                           // guards byUser and byCert
	byUser map[string]map[*mqtt.Client]struct{} // username -> clients
	byCert map[string]map[*mqtt.Client]struct{} // cert spec -> clients
}

func newSessions() *sessions {
	return &sessions{byUser: map[string]map[*mqtt.Client]struct{}{}, byCert: map[string]map[*mqtt.Client]struct{}{}}
}

func (ss *sessions) get(cl *mqtt.Client) *session {
	v, ok := ss.byClient.Load(cl)
	if !ok {
		return nil
	}
	return v.(*session)
}

func (ss *sessions) add(cl *mqtt.Client, s *session) {
	ss.byClient.Store(cl, s)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	addIndex(ss.byUser, s.username, cl)
	addIndex(ss.byCert, s.certSerial, cl)
	addIndex(ss.byCert, s.certFingerprint, cl)
}

func (ss *sessions) remove(cl *mqtt.Client) *session {
	v, ok := ss.byClient.LoadAndDelete(cl)
	if !ok {
		return nil
	}
	s := v.(*session)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	removeIndex(ss.byUser, s.username, cl)
	removeIndex(ss.byCert, s.certSerial, cl)
	removeIndex(ss.byCert, s.certFingerprint, cl)
	return s
}

// ofUser returns the live clients authenticated as username.
func (ss *sessions) ofUser(username string) []*mqtt.Client {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return keys(ss.byUser[username])
}

// ofCert returns the live clients authenticated with the certificate spec.
func (ss *sessions) ofCert(spec string) []*mqtt.Client {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return keys(ss.byCert[spec])
}

func addIndex(idx map[string]map[*mqtt.Client]struct{}, key string, cl *mqtt.Client) {
	if key == "" {
		return
	}
	set := idx[key]
	if set == nil {
		set = map[*mqtt.Client]struct{}{}
		idx[key] = set
	}
	set[cl] = struct{}{}
}

func removeIndex(idx map[string]map[*mqtt.Client]struct{}, key string, cl *mqtt.Client) {
	if set := idx[key]; set != nil {
		delete(set, cl)
		if len(set) == 0 {
			delete(idx, key)
		}
	}
}

func keys(set map[*mqtt.Client]struct{}) []*mqtt.Client {
	out := make([]*mqtt.Client, 0, len(set))
	for cl := range set {
		out = append(out, cl)
	}
	return out
}
