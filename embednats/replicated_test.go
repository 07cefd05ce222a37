package embednats_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"cuttle/internal/natstest"
	"cuttle/internal/testutil"

	"github.com/nats-io/nats.go/jetstream"
)

// TestClusterReplicatedKV starts three clustered servers on free ports and
// checks that a KV bucket with three replicas survives losing one server.
func TestClusterReplicatedKV(t *testing.T) {
	nodes := natstest.StartCluster(t, 3, "test")
	n3 := nodes[2]
	js := natstest.ClusterJetStream(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Until the meta leader is elected, JetStream requests get no answer.
	var kv jetstream.KeyValue
	testutil.Retry(t, ctx, "creating an R3 bucket", 2*time.Second, func(ctx context.Context) (err error) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "replicated", Replicas: 3})
		return err
	})
	testutil.Retry(t, ctx, "put", 2*time.Second, func(ctx context.Context) error {
		_, err := kv.PutString(ctx, "k", "v")
		return err
	})
	n3.Shutdown()
	testutil.Retry(t, ctx, "put with one server down", 2*time.Second, func(ctx context.Context) error {
		_, err := kv.PutString(ctx, "k", "v2")
		return err
	})
	// A KV bucket allows direct gets, which any replica answers: the
	// follower that acknowledged v2 to the leader may not have applied it
	// yet, so a read right after the put can still see v.
	testutil.Retry(t, ctx, "get with one server down", 2*time.Second, func(ctx context.Context) error {
		e, err := kv.Get(ctx, "k")
		if err != nil {
			return err
		}
		if string(e.Value()) != "v2" {
			return fmt.Errorf("got %q at revision %d; want v2", e.Value(), e.Revision())
		}
		return nil
	})
}
