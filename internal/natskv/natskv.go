// Package natskv holds the NATS JetStream plumbing every store in Cuttle
// shares: opening a key-value bucket without shrinking an operator's
// replicas, and errors that say why NATS failed.
package natskv

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// OpenBucket opens a KV bucket, creating it (with cfg and max(replicas, 1)
// replicas) when it is missing. replicas 0 leaves an existing bucket as it
// is, so a tool started with defaults never shrinks a cluster's 3-replica
// bucket; a positive value updates a bucket whose replica count differs.
func OpenBucket(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig, replicas int) (jetstream.KeyValue, error) {
	cfg.Replicas = max(replicas, 1)
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) {
			// Another process created it between our two calls.
			kv, err = js.KeyValue(ctx, cfg.Bucket)
		}
		return kv, err
	}
	if err != nil || replicas == 0 {
		return kv, err
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, err
	}
	if st.Config().Replicas == replicas {
		return kv, nil
	}
	return js.UpdateKeyValue(ctx, cfg)
}

// Error wraps err with what was being done and, when the connection is
// not up, the connection's state and last error, which are usually the real
// cause behind a timeout.
func Error(nc *nats.Conn, doing string, err error) error {
	if nc != nil && nc.Status() != nats.CONNECTED {
		cause := ""
		if last := nc.LastError(); last != nil {
			cause = fmt.Sprintf(", last error: %v", last)
		}
		return fmt.Errorf("%s: NATS connection to %s is %s%s: %w", doing, ServerURL(nc), nc.Status(), cause, err)
	}
	if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("%s: JetStream is not available on the NATS server: %w", doing, err)
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// ServerURL names the server nc talks to, or was configured with when it is
// not connected, without any password in the URL.
func ServerURL(nc *nats.Conn) string {
	if u := nc.ConnectedUrlRedacted(); u != "" {
		return u
	}
	raw := nc.Opts.Url
	if raw == "" && len(nc.Opts.Servers) > 0 {
		raw = nc.Opts.Servers[0]
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
