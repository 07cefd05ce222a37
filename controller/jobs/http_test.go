package jobs

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"cuttle/controller/auth"
	"cuttle/internal/testutil"
)

// apiServer serves the job routes the way the API mounts them: behind a
// stand-in for auth.Middleware that takes the role from X-Test-Role.
func apiServer(t *testing.T, m *Manager) *httptest.Server {
	t.Helper()
	h := m.Handler(HandlerOptions{RequestID: func(context.Context) string { return "req-1" }, Heartbeat: 50 * time.Millisecond})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if role := r.Header.Get("X-Test-Role"); role != "" {
			r = r.WithContext(auth.NewContext(r.Context(), auth.Token{ID: "t1", Name: "alice", Role: auth.Role(role)}))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func call(t *testing.T, srv *httptest.Server, role, method, path, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if role != "" {
		req.Header.Set("X-Test-Role", role)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, b}
}

func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

type problemDoc struct {
	Type      string       `json:"type"`
	Status    int          `json:"status"`
	Instance  string       `json:"instance"`
	RequestID string       `json:"request_id"`
	Errors    []FieldError `json:"errors"`
}

// wantProblem checks that r is a problem of the given status and type.
func wantProblem(t *testing.T, r reply, status int, typ string) problemDoc {
	t.Helper()
	var p problemDoc
	if r.status != status || r.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("got %d %s: %s, want a %d problem", r.status, r.header.Get("Content-Type"), r.body, status)
	}
	r.decode(t, &p)
	if p.Type != typ || p.Status != status {
		t.Errorf("problem %s, want type %s", r.body, typ)
	}
	return p
}

func TestHTTP(t *testing.T) {
	s := startStack(t, 10)
	s.startFleet(s.eids)
	tap := newTap(s, 0)
	m, _ := s.startManager(Config{USP: tap})
	srv := apiServer(t, m)
	const op, viewer = string(auth.RoleOperator), string(auth.RoleViewer)

	// A bulk Set, then a bulk Get that sees its values.
	r := call(t, srv, op, "POST", "/api/v1/jobs", `{"name":"provision","operation":"set","selector":{"status":"online"},
		"request":{"objects":[{"path":"Device.DeviceInfo.","params":{"ProvisioningCode":"bulk-1"},"required":["ProvisioningCode"]}]}}`)
	var set Job
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	r.decode(t, &set)
	if r.header.Get("Location") != "/api/v1/jobs/"+set.ID || set.State != StatePending || set.Total != 10 || set.CreatedBy != "alice" {
		t.Errorf("created %s (Location %s)", r.body, r.header.Get("Location"))
	}
	if set = await(t, m, set.ID, time.Minute); set.Succeeded != 10 {
		t.Fatalf("set ended %+v", set)
	}
	r = call(t, srv, op, "POST", "/api/v1/jobs", `{"operation":"get","devices":["`+strings.Join(s.eids, `","`)+`"],
		"request":{"paths":["Device.DeviceInfo.ProvisioningCode"]},"timeout":"5s","concurrency":3}`)
	var get Job
	r.decode(t, &get)
	if get.Spec.Concurrency != 3 || get.Spec.Timeout != Duration(5*time.Second) || len(get.Spec.Devices) != 0 {
		t.Errorf("spec %+v", get.Spec)
	}

	// Progress as Server-Sent Events, to the end.
	events := followEvents(t, srv, viewer, get.ID)
	last := events[len(events)-1]
	if last.State != StateCompleted || last.Succeeded != 10 {
		t.Fatalf("last event %+v", last)
	}
	r = call(t, srv, viewer, "GET", "/api/v1/jobs/"+get.ID+"/results?status=ok&limit=4", "")
	var page ResultPage
	r.decode(t, &page)
	if r.status != 200 || len(page.Results) != 4 || page.Next == "" {
		t.Fatalf("results: %d %s", r.status, r.body)
	}
	var values struct {
		Values map[string]string `json:"values"`
	}
	if err := json.Unmarshal(page.Results[0].Response, &values); err != nil || values.Values["Device.DeviceInfo.ProvisioningCode"] != "bulk-1" {
		t.Errorf("get result %s", page.Results[0].Response)
	}
	r = call(t, srv, viewer, "GET", "/api/v1/jobs/"+get.ID+"/results?cursor="+page.Next+"&limit=10", "")
	page = ResultPage{}
	r.decode(t, &page)
	if len(page.Results) != 6 || page.Next != "" {
		t.Errorf("second page: %s", r.body)
	}

	// Listing and showing.
	r = call(t, srv, viewer, "GET", "/api/v1/jobs?limit=1", "")
	var list JobPage
	r.decode(t, &list)
	if r.status != 200 || len(list.Jobs) != 1 || list.Jobs[0].ID != get.ID || list.Next != get.ID {
		t.Errorf("list: %s", r.body)
	}
	r = call(t, srv, viewer, "GET", "/api/v1/jobs?cursor="+list.Next+"&operation=set", "")
	list = JobPage{}
	r.decode(t, &list)
	if len(list.Jobs) != 1 || list.Jobs[0].ID != set.ID || list.Next != "" {
		t.Errorf("second list page: %s", r.body)
	}
	r = call(t, srv, viewer, "GET", "/api/v1/jobs/"+set.ID, "")
	var shown Job
	r.decode(t, &shown)
	if r.status != 200 || shown.ID != set.ID || shown.State != StateCompleted || shown.Spec.Name != "provision" {
		t.Errorf("show: %s", r.body)
	}

	// Problems.
	p := wantProblem(t, call(t, srv, op, "POST", "/api/v1/jobs", `{"operation":"set","devices":["a"],
		"request":{"objects":[{"path":"Device.DeviceInfo.ProvisioningCode","params":{"X":"1"}}]}}`), 400, TypeInvalidRequest)
	if len(p.Errors) != 1 || p.Errors[0].Field != "request.objects[0].path" || p.Errors[0].USPCode != 7026 ||
		p.RequestID != "req-1" || p.Instance != "/api/v1/jobs" {
		t.Errorf("invalid set: %+v", p)
	}
	p = wantProblem(t, call(t, srv, op, "POST", "/api/v1/jobs", `{"operation":"get","bogus":1}`), 400, TypeInvalidRequest)
	if len(p.Errors) != 1 || p.Errors[0].Field != "bogus" {
		t.Errorf("unknown field: %+v", p)
	}
	p = wantProblem(t, call(t, srv, op, "POST", "/api/v1/jobs", `{"operation":"get","devices":["a"],"request":{"paths":["Device."]},"timeout":"soon"}`), 400, TypeInvalidRequest)
	if len(p.Errors) != 1 || p.Errors[0].Field != "timeout" {
		t.Errorf("bad timeout: %+v", p)
	}
	wantProblem(t, call(t, srv, viewer, "POST", "/api/v1/jobs", `{}`), 403, auth.ProblemForbidden)
	wantProblem(t, call(t, srv, "", "GET", "/api/v1/jobs", ""), 401, auth.ProblemUnauthorized)
	wantProblem(t, call(t, srv, viewer, "GET", "/api/v1/jobs/0000000000000000z", ""), 404, TypeNotFound)
	wantProblem(t, call(t, srv, viewer, "GET", "/api/v1/jobs/"+get.ID+"/results?bogus=1", ""), 400, TypeInvalidRequest)
	wantProblem(t, call(t, srv, viewer, "GET", "/api/v1/jobs?state=done", ""), 400, TypeInvalidRequest)
	wantProblem(t, call(t, srv, op, "POST", "/api/v1/jobs/"+get.ID+"/cancel", ""), 409, TypeConflict)
	wantProblem(t, call(t, srv, viewer, "GET", "/api/v1/jobs/"+get.ID+"/nothing", ""), 404, TypeNotFound)
	r = call(t, srv, op, "DELETE", "/api/v1/jobs/"+get.ID, "")
	wantProblem(t, r, 405, TypeMethodNotAllowed)
	if r.header.Get("Allow") != "GET" {
		t.Errorf("Allow: %q", r.header.Get("Allow"))
	}
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/jobs", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("X-Test-Role", op)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain body: %d", resp.StatusCode)
	}
}

// TestHTTPCancel: a running job canceled through the API ends canceled,
// and its event stream shows the progress up to that.
func TestHTTPCancel(t *testing.T) {
	testutil.CheckGoroutines(t, 5*time.Second)
	s := startStack(t, 10)
	s.startFleet(s.eids)
	m, _ := s.startManager(Config{USP: newTap(s, 300*time.Millisecond)})
	srv := apiServer(t, m)
	r := call(t, srv, "operator", "POST", "/api/v1/jobs", `{"operation":"operate","selector":{},"concurrency":1,
		"request":{"command":"Device.DeviceInfo.FirmwareImage.1.Activate()","command_key":"never"}}`)
	var j Job
	r.decode(t, &j)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	canceled := false
	events := readEvents(t, srv, "viewer", j.ID, func(cur Job) {
		if cur.Done >= 2 && !canceled {
			canceled = true
			r = call(t, srv, "operator", "POST", "/api/v1/jobs/"+j.ID+"/cancel", "")
			j = Job{}
			r.decode(t, &j)
		}
	})
	if r.status != 200 || j.State != StateCanceled || j.Counts[StatusCanceled] < 7 || j.Done != 10 {
		t.Errorf("cancel: %d %s", r.status, r.body)
	}
	progress := 0
	for _, e := range events {
		if e.State == StateRunning && e.Done > 0 && e.Done < 10 {
			progress++
		}
	}
	if last := events[len(events)-1]; progress == 0 || last.State != StateCanceled || last.Done != 10 {
		t.Errorf("%d progress events, the last %+v", progress, last)
	}
}

// followEvents reads a job's event stream to its end.
func followEvents(t *testing.T, srv *httptest.Server, role, id string) []Job {
	t.Helper()
	return readEvents(t, srv, role, id, func(Job) {})
}

// readEvents reads a job's event stream to its end, calling each with
// every job it carries, checks that progress only moves forward, and
// returns the jobs.
func readEvents(t *testing.T, srv *httptest.Server, role, id string, each func(Job)) []Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/jobs/"+id+"/events", nil)
	req.Header.Set("X-Test-Role", role)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var out []Job
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if event != "job" {
				t.Errorf("event %q", event)
			}
			var j Job
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &j); err != nil {
				t.Fatal(err)
			}
			if len(out) > 0 && j.Done < out[len(out)-1].Done {
				t.Errorf("progress went back from %d to %d", out[len(out)-1].Done, j.Done)
			}
			out = append(out, j)
			each(j)
		}
	}
	if len(out) == 0 || !out[len(out)-1].Final() {
		t.Fatalf("the stream ended before the job: %+v", out)
	}
	return out
}
