// Command jsreplicas checks that every JetStream stream on a NATS cluster
// (KV buckets are streams named KV_<bucket>) has the replicas it should.
// deploy/e2e.sh runs it inside the Compose network to prove that Cuttle's
// buckets and streams are replicated on the 3-node cluster, and that they
// keep a leader while one node is down. It prints one line per stream.
//
//	jsreplicas [-want 3] [-min-current 3] [-prefix KV_cuttle]
//
// It reads CUTTLE_NATS, CUTTLE_NATS_USER and CUTTLE_NATS_PASSWORD, the
// variables the Compose services use.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	want := flag.Int("want", 3, "replicas every stream must be configured with")
	minCurrent := flag.Int("min-current", 3, "peers (leader included) that must be current for each stream")
	minStreams := flag.Int("min-streams", 1, "fail if fewer streams are found")
	flag.Parse()
	if err := run(*want, *minCurrent, *minStreams); err != nil {
		fmt.Fprintln(os.Stderr, "jsreplicas:", err)
		os.Exit(1)
	}
}

func run(want, minCurrent, minStreams int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := os.Getenv("CUTTLE_NATS")
	if url == "" {
		return errors.New("CUTTLE_NATS is not set")
	}
	opts := []nats.Option{nats.Name("jsreplicas"), nats.Timeout(5 * time.Second)}
	if u := os.Getenv("CUTTLE_NATS_USER"); u != "" {
		opts = append(opts, nats.UserInfo(u, os.Getenv("CUTTLE_NATS_PASSWORD")))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	var infos []*jetstream.StreamInfo
	lister := js.ListStreams(ctx)
	for info := range lister.Info() {
		infos = append(infos, info)
	}
	if err := lister.Err(); err != nil {
		return fmt.Errorf("listing streams: %w", err)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Config.Name < infos[j].Config.Name })
	var bad []string
	for _, info := range infos {
		name := info.Config.Name
		current, peers := 0, []string{}
		if cl := info.Cluster; cl != nil {
			if cl.Leader != "" {
				current++
				peers = append(peers, cl.Leader+"*")
			}
			for _, p := range cl.Replicas {
				state := "current"
				switch {
				case p.Offline:
					state = "offline"
				case !p.Current:
					state = "behind"
				default:
					current++
				}
				peers = append(peers, p.Name+":"+state)
			}
		}
		fmt.Printf("%-28s replicas=%d current=%d peers=%s messages=%d\n", name, info.Config.Replicas, current, strings.Join(peers, ","), info.State.Msgs)
		if info.Config.Replicas != want {
			bad = append(bad, fmt.Sprintf("%s has %d replicas, want %d", name, info.Config.Replicas, want))
		}
		if current < minCurrent {
			bad = append(bad, fmt.Sprintf("%s has %d current peers, want at least %d", name, current, minCurrent))
		}
	}
	if len(infos) < minStreams {
		bad = append(bad, fmt.Sprintf("%d streams, want at least %d", len(infos), minStreams))
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}
