package broker

import (
	"bytes"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"cuttle/broker/acl"
	"cuttle/broker/certs"
	"cuttle/broker/creds"
	"cuttle/usp"
)

// hook is the broker's single Mochi hook. It authenticates and binds
// clients (OnConnect), answers every ACL question from memory
// (OnACLCheck), checks the from_id of device Records (OnPublish), adds the
// USP topic hints to CONNACK and keeps user properties on PUBLISH
// (OnPacketEncode), and tracks sessions for presence and revocation.
//
// Mochi ORs the answers of all hooks for authentication and ACL, so no other
// hook that answers them (such as auth.AllowHook) may be installed.
type hook struct {
	mqtt.HookBase
	b *Broker
}

func (h *hook) ID() string { return "cuttle" }

// provided is the set of events the hook handles, indexed by event.
// Mochi asks Provides for every packet and delivery, so it is a lookup.
var provided = func() (set [256]bool) {
	for _, ev := range []byte{
		mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnSessionEstablish,
		mqtt.OnSessionEstablished, mqtt.OnDisconnect, mqtt.OnPublish, mqtt.OnPacketEncode,
		mqtt.OnPacketRead, mqtt.OnQosDropped, mqtt.OnClientExpired, mqtt.OnPublishDropped,
		mqtt.OnPacketProcessed, mqtt.OnSubscribe,
	} {
		set[ev] = true
	}
	return set
}()

func (h *hook) Provides(b byte) bool { return provided[b] }

// refusal is a CONNECT the broker turns down: the reason code sent in
// CONNACK and the metric label.
type refusal struct {
	code   packets.Code
	reason string
}

var (
	errNoCredentials    = refusal{packets.ErrNotAuthorized, "anonymous"}
	errBadCredentials   = refusal{packets.ErrBadUsernameOrPassword, "bad_credentials"}
	errDisabled         = refusal{packets.ErrNotAuthorized, "disabled"}
	errLockedOut        = refusal{packets.ErrConnectionRateExceeded, "locked_out"}
	errClientID         = refusal{packets.ErrClientIdentifierNotValid, "client_id"}
	errEndpointMismatch = refusal{packets.ErrNotAuthorized, "endpoint_mismatch"}
	errCertRevoked      = refusal{packets.ErrNotAuthorized, "cert_revoked"}
	errCertUnknown      = refusal{packets.ErrNotAuthorized, "cert_unknown"}
	errCertRequired     = refusal{packets.ErrNotAuthorized, "cert_required"}
	errWillDenied       = refusal{packets.ErrNotAuthorized, "will_denied"}
	errWillPayload      = refusal{packets.ErrPayloadFormatInvalid, "will_payload"}
	// MQTT 3 has no code for it; Mosquitto answers "identifier rejected".
	errKeepalive = refusal{packets.ErrClientIdentifierNotValid, "keepalive"}
)

// OnConnect authenticates the client and binds its endpoint ID, client ID
// and credential together. It runs before Mochi's own authentication step so
// that it can answer with the precise reason code; a refused client gets its
// CONNACK here and the connection ends.
func (h *hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	c, ok := cl.Net.Conn.(*conn)
	if !ok {
		return packets.ErrNotAuthorized // only our listeners create clients
	}
	s, ref := h.authenticate(cl, c, pk)
	if ref == nil {
		ref = h.checkWill(s, pk)
	}
	if ref == nil {
		ref = h.capKeepalive(cl)
	}
	if ref != nil {
		h.b.metrics.authFailures.WithLabelValues(ref.reason).Inc()
		h.b.log.Info("connect refused", "listener", c.listener.cfg.Name, "remote", c.ip,
			"username", pk.Connect.Username, "client_id", pk.Connect.ClientIdentifier, "reason", ref.reason)
		_ = h.b.server.SendConnack(cl, ref.code, false, nil)
		return ref.code
	}
	// Mochi tells the client the capped session expiry in CONNACK but keeps
	// the requested one when it expires sessions; cap it where it is used.
	if limit := h.b.server.Options.Capabilities.MaximumSessionExpiryInterval; cl.Properties.Props.SessionExpiryInterval > limit {
		cl.Properties.Props.SessionExpiryInterval = limit
		s.expiryCapped = true
	}
	// The broker sends no topic aliases. Mochi keeps a delivery it sent by
	// alias without its topic, so when the session resumes on a new
	// connection, whose aliases start empty, it resends the delivery with
	// no topic and an alias the client never learnt. A client may always
	// be sent full topics; USP inbox topics are short.
	cl.Properties.Props.TopicAliasMaximum = 0
	if s.subject.Role == acl.RoleDevice || s.subject.Role == acl.RoleController {
		if pk.Connect.ClientIdentifier == "" {
			// The broker assigns the endpoint ID as the client ID, so the
			// device's session survives reconnects (R-MQTT.9).
			cl.ID = s.subject.EndpointID
			cl.Properties.Props.AssignedClientID = s.subject.EndpointID
		}
	}
	if len(cl.Properties.Username) == 0 && s.username != "" {
		// A client authenticated by certificate alone: record its identity
		// as the session's username, which Mochi stores with a persistent
		// session, so that after a restart the restored session is
		// authorized from that credential (sessionOf) like a password
		// client's, and does not refuse its messages until it reconnects.
		cl.Properties.Username = []byte(s.username)
	}
	h.b.sessions.add(cl, s)
	return nil
}

// capKeepalive applies Config.MaxKeepalive: without it, a client asking for
// no keep alive would hold a dead connection, and show online, for ever.
func (h *hook) capKeepalive(cl *mqtt.Client) *refusal {
	limit := uint16(h.b.cfg.MaxKeepalive / time.Second)
	if ka := cl.State.Keepalive; ka != 0 && ka <= limit {
		return nil
	}
	if cl.Properties.ProtocolVersion < 5 {
		return &errKeepalive
	}
	cl.State.Keepalive = limit // Mochi sets the read deadline from it next
	cl.State.ServerKeepalive = true
	return nil
}

// checkWill refuses a Will Message that the client could not publish
// itself. Mochi publishes a Will with no ACL check and no publish hook, so
// without this a device could leave a Will for another device's inbox,
// carrying a Record with any from_id, even retained: the broker would then
// deliver a forged Record past the trusted-broker check.
func (h *hook) checkWill(s *session, pk packets.Packet) *refusal {
	w := pk.Connect
	if !w.WillFlag {
		return nil
	}
	if !mqtt.IsValidFilter(w.WillTopic, true) || !h.b.rules.CanWrite(s.subject, w.WillTopic) ||
		(w.WillRetain && !h.b.rules.MayRetain(s.subject)) {
		return &errWillDenied
	}
	if s.subject.Role != acl.RoleDevice {
		return nil
	}
	hdr, err := usp.PeekRecord(w.WillPayload)
	if err != nil {
		return &errWillPayload
	}
	if hdr.FromID != s.subject.EndpointID {
		return &errWillDenied
	}
	return nil
}

func (h *hook) authenticate(cl *mqtt.Client, c *conn, pk packets.Packet) (*session, *refusal) {
	lc := c.listener.cfg
	username := string(pk.Connect.Username)
	s := &session{listener: lc.Name, ip: c.ip, username: username, connected: time.Now()}
	if lc.Auth == AuthAnonymous {
		s.subject = acl.Subject{Role: acl.RoleLocal}
		return s, nil
	}
	// A certificate cannot be guessed, so a client presenting one is held
	// back only by its IP's lock: a username locked by someone guessing
	// passwords for it does not lock out the device's certificate.
	cert := c.clientCert()
	lockUser := username
	if cert != nil {
		lockUser = ""
	}
	if allowed, _ := h.b.lockout.Check(c.ip, lockUser); !allowed {
		return nil, &errLockedOut
	}
	var cred creds.Credential
	if cert != nil {
		// The TLS handshake verified the chain against the CA; the identity
		// in it names the credential, which gives the role and endpoint.
		id, err := certs.Identity(cert, lc.IdentityFrom)
		if err != nil {
			return nil, h.fail(c, "", &errCertUnknown)
		}
		if h.b.creds.IsRevoked(cert) {
			return nil, h.fail(c, "", &errCertRevoked)
		}
		if username != "" && username != id {
			return nil, h.fail(c, "", &errEndpointMismatch)
		}
		var found bool
		if cred, found = h.b.creds.Lookup(id); !found {
			return nil, h.fail(c, "", &errCertUnknown)
		}
		s.username = id
		s.certSerial, s.certFingerprint = creds.CertSpecs(cert)
	} else {
		if lc.Auth == AuthCert {
			return nil, h.fail(c, username, &errCertRequired)
		}
		if username == "" {
			return nil, h.fail(c, username, &errNoCredentials)
		}
		var found bool
		cred, found = h.b.creds.Lookup(username)
		// An unknown username skips Verify. For generated secrets (HMAC)
		// that saves microseconds; for argon2id passwords it reveals that a
		// username exists, which is acceptable: usernames are endpoint IDs,
		// and those are not secret.
		if !found || !cred.Verify(string(pk.Connect.Password)) {
			return nil, h.fail(c, username, &errBadCredentials)
		}
	}
	if cred.Disabled {
		return nil, h.fail(c, lockUser, &errDisabled)
	}
	h.b.lockout.Success(c.ip, s.username)
	s.subject = acl.Subject{Role: roleOf(cred.Role), EndpointID: cred.EndpointID}
	if ref := h.bind(s, pk); ref != nil {
		return nil, ref
	}
	return s, nil
}

// fail records an authentication failure for the brute-force defence.
func (h *hook) fail(c *conn, username string, r *refusal) *refusal {
	for _, l := range h.b.lockout.Failure(c.ip, username) {
		h.b.metrics.lockouts.WithLabelValues(l.Kind).Inc()
		h.b.log.Warn("locked out after repeated connect failures", "kind", l.Kind, "key", l.Key, "until", l.Until, "duration", l.Duration)
	}
	return r
}

// bind checks that a device or controller uses its own endpoint ID: as its
// client ID (or none, and the broker assigns it) and in the
// usp-endpoint-id user property when present. Otherwise one device could
// take over another's session.
func (h *hook) bind(s *session, pk packets.Packet) *refusal {
	eid := s.subject.EndpointID
	switch s.subject.Role {
	case acl.RoleDevice:
		if id := pk.Connect.ClientIdentifier; id != "" && id != eid {
			return &errClientID
		}
	case acl.RoleController:
		// Controller replicas share one endpoint ID, so each may add a
		// "/<replica>" suffix to stay a distinct session.
		if id := pk.Connect.ClientIdentifier; id != "" && id != eid && !strings.HasPrefix(id, eid+"/") {
			return &errClientID
		}
	default:
		return nil
	}
	for _, up := range pk.Properties.User {
		if up.Key == "usp-endpoint-id" && up.Val != eid {
			return &errEndpointMismatch
		}
	}
	return nil
}

func roleOf(r creds.Role) acl.Role {
	switch r {
	case creds.RoleDevice:
		return acl.RoleDevice
	case creds.RoleController:
		return acl.RoleController
	case creds.RoleAdmin:
		return acl.RoleAdmin
	}
	return acl.RoleNone
}

// sessionOf returns cl's session. A persistent session restored from the
// store after a restart has no connection and no session yet: messages for
// it are authorized from its stored username's credential (for a client
// authenticated by certificate, its certificate identity: see OnConnect),
// so they queue for the device as they did before the restart. A
// certificate revoked while the broker was down is refused when the device
// reconnects; until then its session is authorized by the credential.
func (h *hook) sessionOf(cl *mqtt.Client) *session {
	if s := h.b.sessions.get(cl); s != nil {
		return s
	}
	if cl.Net.Conn != nil || len(cl.Properties.Username) == 0 {
		return nil
	}
	cred, ok := h.b.creds.Lookup(string(cl.Properties.Username))
	if !ok || cred.Disabled {
		return nil
	}
	s := &session{subject: acl.Subject{Role: roleOf(cred.Role), EndpointID: cred.EndpointID}, username: cred.Username, listener: cl.Net.Listener}
	h.b.sessions.add(cl, s)
	return s
}

// OnConnectAuthenticate lets in exactly the clients OnConnect accepted.
func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, _ packets.Packet) bool {
	return h.b.sessions.get(cl) != nil
}

// OnACLCheck answers from memory: it runs for every subscription and for
// every delivery to every subscriber.
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	s := h.sessionOf(cl)
	if s == nil && !write && cl.IsTakenOver() {
		// A delivery routed to a session mid-takeover whose old connection
		// is already forgotten: it is for the new connection (takeover.go),
		// so that connection's identity decides.
		if next := h.b.takeovers.next(cl); next != nil {
			s = h.b.sessions.get(next)
		}
	}
	if s == nil {
		return false
	}
	var ok bool
	if write {
		ok = h.b.rules.CanWrite(s.subject, topic)
	} else if ok = h.b.rules.CanRead(s.subject, topic); ok {
		// Mochi queues the delivery next (flow.go, queuedIn).
		h.b.flow.queuedIn(cl)
	}
	if !ok {
		h.b.metrics.aclDenials.WithLabelValues(aclOp(write)).Inc()
	}
	return ok
}

func aclOp(write bool) string {
	if write {
		return "publish"
	}
	return "subscribe_or_deliver"
}

// OnPublish enforces what the topic ACL cannot see: no retained messages
// from devices and controllers, and, for devices, that every Record's
// from_id is the device's own endpoint ID (the USP "trusted broker"). Only
// the Record header is read.
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	s := h.b.sessions.get(cl)
	if s == nil {
		return pk, h.reject(cl, pk, packets.ErrNotAuthorized)
	}
	if pk.FixedHeader.Retain && !h.b.rules.MayRetain(s.subject) {
		h.b.metrics.aclDenials.WithLabelValues("retain").Inc()
		return pk, h.reject(cl, pk, packets.ErrNotAuthorized)
	}
	if s.subject.Role != acl.RoleDevice {
		if s.subject.Role != acl.RoleController {
			// Admin and local clients are held like devices; controllers
			// never are (see flow.go).
			h.waitForRoom(cl, pk.TopicName)
		}
		return pk, nil
	}
	hdr, err := usp.PeekRecord(pk.Payload)
	switch {
	case err != nil:
		h.dropRecord(s, "unparsable", err.Error(), "")
		return pk, h.reject(cl, pk, packets.ErrPayloadFormatInvalid)
	case hdr.FromID != s.subject.EndpointID:
		h.dropRecord(s, "spoofed_from_id", "from_id is not the device's endpoint ID", hdr.FromID)
		return pk, h.reject(cl, pk, packets.ErrNotAuthorized)
	}
	if rate := h.b.cfg.DevicePublishRate; rate > 0 && !s.publishes.take(time.Now(), float64(rate), float64(h.b.cfg.DevicePublishBurst)) {
		// A flooding device comes here for each publish: nothing is
		// formatted (the log line names the reason, the limit is config).
		h.dropRecord(s, "rate_limited", "over --device-publish-rate", hdr.FromID)
		return pk, h.reject(cl, pk, packets.ErrQuotaExceeded)
	}
	h.waitForRoom(cl, pk.TopicName)
	return pk, nil
}

// waitForRoom holds a publish from anyone but a controller, for at most
// Config.FlowWait, while the clients it goes to have long backlogs (see
// flow.go). While no client is busy it costs one atomic load. A held
// publisher sleeps until some backlog falls below its mark (flow.roomSignal)
// rather than polling: a thousand devices held at once would otherwise
// wake a thousand times a millisecond.
func (h *hook) waitForRoom(publisher *mqtt.Client, topic string) {
	if h.b.flow.busy.Load() == 0 {
		return
	}
	subs := h.b.server.Topics.Subscribers(topic)
	// A client's backlog drains through its own read loop, which is the
	// one that would wait here: it must not wait for itself.
	delete(subs.Subscriptions, publisher.ID)
	var timeout *time.Timer
	for {
		room := h.b.flow.roomSignal()
		if !h.busy(subs) {
			break
		}
		if timeout == nil {
			timeout = time.NewTimer(h.b.cfg.FlowWait)
			h.b.metrics.flowWaits.Inc()
		}
		select {
		case <-room:
		case <-timeout.C:
			h.b.metrics.flowWaitTimeouts.Inc()
			return
		}
	}
	if timeout != nil {
		timeout.Stop()
	}
}

// busy reports whether a direct subscriber, or every member of a shared
// subscription group, has a long backlog.
func (h *hook) busy(subs *mqtt.Subscribers) bool {
	for id := range subs.Subscriptions {
		if cl, ok := h.b.server.Clients.Get(id); ok && h.b.flow.isBusy(cl) {
			return true
		}
	}
	for _, group := range subs.Shared {
		all := len(group) > 0
		for id := range group {
			if cl, ok := h.b.server.Clients.Get(id); !ok || !h.b.flow.isBusy(cl) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func (h *hook) dropRecord(s *session, reason, detail, fromID string) {
	h.b.metrics.recordsDropped.WithLabelValues(reason).Inc()
	if s.shouldLogDrop(time.Now()) {
		h.b.log.Warn("dropped record from device", "endpoint_id", s.subject.EndpointID, "remote", s.ip,
			"reason", reason, "detail", detail, "from_id", fromID)
	}
}

// reject returns the error that makes Mochi drop pk and, for MQTT 5 QoS 1/2,
// answer with code. Mochi would otherwise publish a QoS 0 message whose hook
// returned a reason code, and give an MQTT 3 client no acknowledgement at
// all, so those clients are disconnected as MQTT 3.1.1 prescribes.
func (h *hook) reject(cl *mqtt.Client, pk packets.Packet, code packets.Code) error {
	if pk.FixedHeader.Qos == 0 {
		return packets.ErrRejectPacket
	}
	if cl.Properties.ProtocolVersion < 5 {
		_ = h.b.server.DisconnectClient(cl, code)
		return packets.ErrRejectPacket
	}
	return code
}

// OnPacketEncode adds the USP conveniences to CONNACK and keeps user
// properties on PUBLISH.
func (h *hook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	switch pk.FixedHeader.Type {
	case packets.Publish, packets.Disconnect:
		// Mochi drops user properties from every packet when the client set
		// Request Problem Information to 0, but MQTT 5 limits that to
		// packets other than PUBLISH, CONNACK and DISCONNECT [MQTT-3.1.2-29]:
		// the properties of a PUBLISH belong to the application.
		pk.Mods.DisallowProblemInfo = false
		if pk.FixedHeader.Type == packets.Publish {
			if pk.Mods.MaxSize > 0 && !fits(pk, pk.Mods.MaxSize) {
				h.discardTooLarge(cl, pk)
				return skipped
			}
			return h.b.flow.encode(cl, pk)
		}
	case packets.Connack:
		pk.Mods.DisallowProblemInfo = false
		if pk.ReasonCode != packets.CodeSuccess.Code {
			return pk
		}
		s := h.b.sessions.get(cl)
		if s == nil {
			return pk
		}
		if s.expiryCapped {
			pk.Properties.SessionExpiryInterval = cl.Properties.Props.SessionExpiryInterval
			pk.Properties.SessionExpiryIntervalFlag = true
		}
		pk.Properties.TopicAliasMaximum = topicAliasMaximum
		if inbox := h.b.rules.Inbox(s.subject); inbox != "" {
			// Response Information is the client's reply-to topic
			// (R-MQTT.21); Mochi sends it only when the client asked.
			pk.Properties.ResponseInfo = inbox
			pk.Properties.User = append(pk.Properties.User, packets.UserProperty{Key: "subscribe-topic", Val: inbox})
		}
	}
	return pk
}

// fits reports whether pk encodes to at most max bytes. A bound from the
// field lengths settles almost every case; only a packet near the limit is
// encoded to measure it.
func fits(pk packets.Packet, max uint32) bool {
	p := &pk.Properties
	n := 5 + 2 + len(pk.TopicName) + 2 + 4 + len(pk.Payload) + // header, topic, ID, property length
		2 + 5 + 3 + 3 + len(p.ContentType) + 3 + len(p.ResponseTopic) + 3 + len(p.CorrelationData) + 5*len(p.SubscriptionIdentifier)
	for _, u := range p.User {
		n += 5 + len(u.Key) + len(u.Val)
	}
	if n <= int(max) {
		return true
	}
	var buf bytes.Buffer
	if err := pk.PublishEncode(&buf); err != nil {
		return true // Mochi reports it when it encodes the packet itself
	}
	return buf.Len() <= int(max)
}

// discardTooLarge drops a delivery larger than the client's Maximum Packet
// Size as if it had been sent [MQTT-3.1.2-25]. Mochi would fail to write
// it and keep it in flight: it would hold a slot of the client's window for
// ever, and fail again on every reconnect.
func (h *hook) discardTooLarge(cl *mqtt.Client, pk packets.Packet) {
	h.b.metrics.tooLarge.Inc()
	h.b.log.Debug("delivery larger than the client's maximum packet size discarded",
		"client", cl.ID, "topic", pk.TopicName, "max", pk.Mods.MaxSize)
	h.b.flow.discard(cl, pk)
	if pk.FixedHeader.Qos == 0 {
		return
	}
	if in, ok := cl.State.Inflight.Get(pk.PacketID); ok && in.FixedHeader.Type == packets.Publish {
		if cl.State.Inflight.Delete(pk.PacketID) {
			atomic.AddInt64(&h.b.server.Info.Inflight, -1)
		}
		if h.b.store != nil {
			h.b.store.OnQosDropped(cl, pk)
		}
	}
}

// OnSubscribe tells the flow control that the ACL questions Mochi asks
// next are for subscriptions, not deliveries (flow.go, subscribing).
func (h *hook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	h.b.flow.subscribing(cl, len(pk.Filters))
	return pk
}

// OnPacketRead sees the client's acknowledgements, which free slots, and
// answers publishes that Mochi would drop without a word.
func (h *hook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	h.b.flow.acked(cl, pk)
	if pk.FixedHeader.Type != packets.Publish {
		return pk, nil
	}
	if pk.Properties.TopicAliasFlag && pk.Properties.TopicAlias > 0 && pk.TopicName == "" {
		var err error
		if pk.TopicName, err = h.aliasedTopic(cl, pk.Properties.TopicAlias); err != nil {
			return pk, err
		}
	}
	if !mqtt.IsValidFilter(pk.TopicName, true) {
		h.refuseInvalidTopic(cl, pk)
	}
	return pk, nil
}

// topicAliasMaximum is how many topic aliases a client may set on its
// connection (the CONNACK says so). Mochi accepts up to 65,535, each
// holding a topic, without telling the client it may use any.
const topicAliasMaximum = 10

// aliasedTopic returns the topic a client's PUBLISH names by topic alias
// alone. Mochi resolves the alias only after its ACL check, which would
// judge the empty topic and refuse every such publish; the broker resolves
// it first. An alias the client never set is a protocol error
// [MQTT-3.3.2-12]; one above the maximum Mochi refuses itself (0x94).
func (h *hook) aliasedTopic(cl *mqtt.Client, alias uint16) (string, error) {
	if alias > topicAliasMaximum {
		return "", nil
	}
	if topic := cl.State.TopicAliases.Inbound.Set(alias, ""); topic != "" {
		return topic, nil
	}
	code := packets.Code{Code: packets.ErrProtocolViolation.Code, Reason: "protocol violation: unknown topic alias"}
	_ = h.b.server.DisconnectClient(cl, code)
	return "", code
}

// refuseInvalidTopic acknowledges a publish to a topic Mochi silently
// ignores ($SYS, or one with wildcards) with Not authorized, so a QoS 1/2
// client does not wait forever; an MQTT 3 client, which has no way to hear
// a refusal, is disconnected. Mochi then drops the packet itself.
func (h *hook) refuseInvalidTopic(cl *mqtt.Client, pk packets.Packet) {
	h.b.metrics.aclDenials.WithLabelValues("publish").Inc()
	if pk.FixedHeader.Qos == 0 {
		return
	}
	if cl.Properties.ProtocolVersion < 5 {
		_ = h.b.server.DisconnectClient(cl, packets.ErrNotAuthorized)
		return
	}
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID, ReasonCode: packets.ErrNotAuthorized.Code}
	if pk.FixedHeader.Qos == 2 {
		ack.FixedHeader.Type = packets.Pubrec
	}
	_ = cl.WritePacket(ack)
}

// OnPublishDropped takes over a QoS 1/2 delivery Mochi dropped because the
// client's outbound queue was full, instead of losing it (flow.go).
func (h *hook) OnPublishDropped(cl *mqtt.Client, pk packets.Packet) {
	h.b.flow.overflow(cl, pk, h.b.server.Options.Capabilities.MaximumQos)
}

// OnQosDropped frees the slot of a delivery Mochi gave up on. When a
// session is taken over, Mochi clears the old client's table after copying
// it to the new client (takeover.go): those deliveries are not dropped.
func (h *hook) OnQosDropped(cl *mqtt.Client, pk packets.Packet) {
	if !cl.IsTakenOver() {
		h.b.metrics.qosDropped.Inc()
	}
	h.b.flow.dropped(cl, pk.PacketID)
}

// OnPacketProcessed restores deliveries Mochi erased while handling the
// client's own QoS 1/2 publishes (flow.go, restore).
func (h *hook) OnPacketProcessed(cl *mqtt.Client, pk packets.Packet, _ error) {
	switch pk.FixedHeader.Type {
	case packets.Publish:
		if pk.FixedHeader.Qos > 0 {
			h.b.flow.restore(cl, pk.PacketID)
		}
	case packets.Pubrel:
		h.b.flow.restore(cl, pk.PacketID)
	}
}

// OnSessionEstablish applies the QoS flow remedy before the client can
// receive anything; see flow.go.
func (h *hook) OnSessionEstablish(cl *mqtt.Client, _ packets.Packet) {
	h.b.flow.establish(cl)
}

// OnSessionEstablished re-applies the remedy (a resumed session brings its
// own inflight state) and records presence.
func (h *hook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	h.b.flow.established(cl)
	s := h.b.sessions.get(cl)
	if s == nil {
		return
	}
	h.b.metrics.connects.WithLabelValues(s.listener).Inc()
	h.b.presence(s, true)
}

// OnDisconnect records presence and forgets the session unless it
// persists: a persistent session keeps its identity so that messages queue
// for it while the device is away. A session taken over by a reconnect of
// the same client is not reported offline: its successor is already online.
func (h *hook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	h.b.flow.forget(cl)
	var s *session
	if expire || cl.IsTakenOver() {
		s = h.b.sessions.remove(cl)
	} else {
		s = h.b.sessions.get(cl)
	}
	if s == nil {
		return
	}
	if !cl.IsTakenOver() {
		h.b.presence(s, false)
	}
	if err != nil && !errors.Is(err, packets.CodeDisconnect) {
		h.b.log.Debug("client disconnected", "client", cl.ID, "error", err)
	}
}

// OnClientExpired forgets a persistent session Mochi has expired.
func (h *hook) OnClientExpired(cl *mqtt.Client) {
	h.b.sessions.remove(cl)
}
