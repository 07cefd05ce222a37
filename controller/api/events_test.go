package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cuttle/controller/auth"
	"cuttle/controller/events"
	"cuttle/internal/testutil"
)

// sseMessage is one message of an event stream: an event, or a comment.
type sseMessage struct {
	id, event, data, comment string
}

// sseStream reads an event stream in the background.
type sseStream struct {
	status  int
	header  http.Header
	msgs    chan sseMessage
	cancel  context.CancelFunc
	stopped sync.WaitGroup
}

// openStream opens GET path as an event stream; it is closed at cleanup
// or by close.
func (e *env) openStream(t *testing.T, path, token string, header map[string]string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &sseStream{status: resp.StatusCode, header: resp.Header, msgs: make(chan sseMessage, 100), cancel: cancel}
	s.stopped.Go(func() {
		defer close(s.msgs)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var m sseMessage
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if m != (sseMessage{}) {
					s.msgs <- m
				}
				m = sseMessage{}
			case strings.HasPrefix(line, ":"):
				m.comment = strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "id: "):
				m.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				m.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				m.data = line[6:]
			}
		}
	})
	t.Cleanup(s.close)
	return s
}

func (s *sseStream) close() {
	s.cancel()
	s.stopped.Wait()
}

// next returns the next event, skipping comments.
func (s *sseStream) next(t *testing.T, within time.Duration) sseMessage {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				t.Fatal("the stream ended")
			}
			if m.comment == "" {
				return m
			}
		case <-timeout:
			t.Fatalf("no event within %s", within)
		}
	}
}

// reboot reboots dev through the API and returns its boot event, from the
// log.
func (e *env) reboot(t *testing.T, eid string, after uint64) events.Event {
	t.Helper()
	e.call(request{method: "POST", path: devicePath(eid, "operate"), body: map[string]any{"command": "Device.Reboot()"}}, http.StatusOK, nil)
	var boot events.Event
	testutil.Eventually(t, 10*time.Second, "a boot event from "+eid, func() bool {
		var got struct{ Events []events.Event }
		e.call(request{method: "GET", path: fmt.Sprintf("/api/v1/events?device=%s&type=boot&after=%d", eid, after)}, http.StatusOK, &got)
		if len(got.Events) > 0 {
			boot = got.Events[0]
		}
		return len(got.Events) > 0
	})
	return boot
}

func TestEvents(t *testing.T) {
	e := newEnv(t, envOptions{devices: []string{dev1, dev2}, heartbeat: 200 * time.Millisecond})
	viewer := e.tokens[auth.RoleViewer]
	first := e.reboot(t, dev1, 0)
	second := e.reboot(t, dev1, first.ID)
	other := e.reboot(t, dev2, 0)

	t.Run("query", func(t *testing.T) {
		ids := func(q string) string {
			var got struct{ Events []events.Event }
			e.call(request{method: "GET", path: "/api/v1/events?" + q, token: viewer}, http.StatusOK, &got)
			var out []string
			for _, ev := range got.Events {
				out = append(out, fmt.Sprint(ev.ID))
			}
			return strings.Join(out, ",")
		}
		for _, tc := range []struct{ query, want string }{
			{"device=" + dev1 + "&type=boot", fmt.Sprintf("%d,%d", first.ID, second.ID)},
			{"type=boot&order=desc&limit=2", fmt.Sprintf("%d,%d", other.ID, second.ID)},
			{fmt.Sprintf("type=boot&after=%d", second.ID), fmt.Sprint(other.ID)},
			{fmt.Sprintf("type=boot&type=offline&before=%d&order=desc", second.ID), fmt.Sprint(first.ID)},
			{"type=boot,value_change&device=" + dev2 + "&since=1h", fmt.Sprint(other.ID)},
			{"type=boot&since=" + time.Now().Add(time.Hour).UTC().Format(time.RFC3339), ""},
		} {
			if got := ids(tc.query); got != tc.want {
				t.Errorf("?%s: IDs %q, want %q", tc.query, got, tc.want)
			}
		}
		var got struct{ Events []events.Event }
		e.call(request{method: "GET", path: fmt.Sprintf("/api/v1/events?after=%d&limit=1", first.ID-1)}, http.StatusOK, &got)
		if ev := got.Events[0]; ev.ID != first.ID || ev.EndpointID != dev1 || ev.Type != "boot" || ev.Path != "Device.Boot!" || ev.Data["Cause"] != "RemoteReboot" {
			t.Errorf("event %+v", ev)
		}
		for _, tc := range []struct{ query, field string }{
			{"type=a.b", "type"},
			{"limit=5000", "limit"},
			{"order=sideways", "order"},
			{"since=last+tuesday", "since"},
			{"after=-1", "after"},
			{"device=" + dev1 + "&device=" + dev2, "device"},
		} {
			r := e.do(request{method: "GET", path: "/api/v1/events?" + tc.query, token: viewer})
			if p := wantProblem(t, r, http.StatusBadRequest, "invalid-request"); len(p.Errors) != 1 || p.Errors[0].Field != tc.field {
				t.Errorf("?%s: %s, want an error for %q", tc.query, r.body, tc.field)
			}
		}
	})

	t.Run("stream", func(t *testing.T) {
		s := e.openStream(t, "/api/v1/events/stream?device="+dev1+"&type=boot", viewer, nil)
		if s.status != http.StatusOK || s.header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("status %d, Content-Type %q", s.status, s.header.Get("Content-Type"))
		}
		// Only dev1's events: dev2's reboot is not sent.
		e.reboot(t, dev2, other.ID)
		third := e.reboot(t, dev1, second.ID)
		m := s.next(t, 10*time.Second)
		if m.id != fmt.Sprint(third.ID) || m.event != "boot" {
			t.Fatalf("message %+v, want event %d of type boot", m, third.ID)
		}
		var ev events.Event
		if err := json.Unmarshal([]byte(m.data), &ev); err != nil || ev.ID != third.ID || ev.EndpointID != dev1 || ev.Path != "Device.Boot!" {
			t.Errorf("data %s (%v)", m.data, err)
		}
		// Idle: heartbeats.
		heartbeat := false
		for deadline := time.After(2 * time.Second); !heartbeat; {
			select {
			case m := <-s.msgs:
				heartbeat = m.comment == "heartbeat"
			case <-deadline:
				t.Fatal("no heartbeat within 2 s")
			}
		}
		s.close()

		// Resuming replays what came after the last event seen.
		for _, resume := range []struct {
			path   string
			header map[string]string
		}{
			{"/api/v1/events/stream?device=" + dev1, map[string]string{"Last-Event-ID": fmt.Sprint(first.ID)}},
			{fmt.Sprintf("/api/v1/events/stream?device=%s&after=%d", dev1, first.ID), nil},
		} {
			s := e.openStream(t, resume.path, viewer, resume.header)
			var got []string
			for range 2 {
				got = append(got, s.next(t, 5*time.Second).id)
			}
			if want := fmt.Sprintf("%d,%d", second.ID, third.ID); strings.Join(got, ",") != want {
				t.Errorf("%s %v: replayed %v, want %s", resume.path, resume.header, got, want)
			}
			s.close()
		}
		// from=start replays every stored event of the device, oldest
		// first, then follows; after=0 still means "from now".
		var oldest struct{ Events []events.Event }
		e.call(request{method: "GET", path: "/api/v1/events?limit=1&device=" + dev1, token: viewer}, http.StatusOK, &oldest)
		s = e.openStream(t, "/api/v1/events/stream?from=start&device="+dev1, viewer, nil)
		var replayed []uint64
		for len(replayed) == 0 || replayed[len(replayed)-1] < third.ID {
			m := s.next(t, 5*time.Second)
			var ev events.Event
			if err := json.Unmarshal([]byte(m.data), &ev); err != nil {
				t.Fatal(err)
			}
			replayed = append(replayed, ev.ID)
		}
		if replayed[0] != oldest.Events[0].ID || !slices.Contains(replayed, first.ID) || !slices.IsSorted(replayed) {
			t.Errorf("from=start replayed %v; want from %d, with %d, in order", replayed, oldest.Events[0].ID, first.ID)
		}
		s.close()
		s = e.openStream(t, "/api/v1/events/stream?after=0&type=boot&device="+dev1, viewer, nil)
		fourth := e.reboot(t, dev1, third.ID)
		if m := s.next(t, 10*time.Second); m.id != fmt.Sprint(fourth.ID) {
			t.Errorf("after=0 sent event %s first, want the new %d", m.id, fourth.ID)
		}
		s.close()

		for _, bad := range []request{
			{method: "GET", path: "/api/v1/events/stream", header: map[string]string{"Last-Event-ID": "yesterday"}},
			{method: "GET", path: "/api/v1/events/stream?from=yesterday"},
			{method: "GET", path: "/api/v1/events/stream?from=start&after=3"},
		} {
			bad.token = viewer
			wantProblem(t, e.do(bad), http.StatusBadRequest, "invalid-request")
		}
	})

	t.Run("streams end with their clients", func(t *testing.T) {
		e.srv.Client().CloseIdleConnections()
		time.Sleep(100 * time.Millisecond)
		before := runtime.NumGoroutine()
		var streams []*sseStream
		for range 5 {
			streams = append(streams, e.openStream(t, "/api/v1/events/stream?type=boot", viewer, nil))
		}
		gauge := func() float64 {
			mfs, err := e.reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, mf := range mfs {
				if mf.GetName() == "cuttle_api_event_streams" {
					return mf.GetMetric()[0].GetGauge().GetValue()
				}
			}
			return -1
		}
		testutil.Eventually(t, 5*time.Second, "5 open streams", func() bool { return gauge() == 5 })
		for _, s := range streams {
			s.close()
		}
		e.srv.Client().CloseIdleConnections()
		testutil.Eventually(t, 5*time.Second, "no open streams", func() bool { return gauge() == 0 })
		testutil.Eventually(t, 10*time.Second, "the event log's consumers to go", func() bool {
			st, err := e.js.Stream(t.Context(), "cuttle-events")
			if err != nil {
				t.Fatal(err)
			}
			info, err := st.Info(t.Context())
			return err == nil && info.State.Consumers == 0
		})
		testutil.Eventually(t, 10*time.Second, fmt.Sprintf("goroutines back to %d", before), func() bool {
			return runtime.NumGoroutine() <= before
		})
	})
}
