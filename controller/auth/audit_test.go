package auth

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func auditLog(t testing.TB, s *Store, since time.Time, limit int) []AuditEntry {
	t.Helper()
	got, err := s.AuditLog(testCtx(t), since, limit)
	if err != nil {
		t.Fatalf("AuditLog: %v", err)
	}
	return got
}

// TestAuditMiddleware sends real requests through the middleware chain and
// checks that exactly the mutating, authenticated ones are recorded, with
// who, what and how they ended.
func TestAuditMiddleware(t *testing.T) {
	s, _ := newStore(t)
	srv := apiServer(t, s)
	adminTok, admin := create(t, s, "alice", RoleAdmin, 0)
	_, operator := create(t, s, "bob", RoleOperator, 0)
	_, viewer := create(t, s, "carol", RoleViewer, 0)
	victim, _ := create(t, s, "victim", RoleViewer, 0)

	start := time.Now()
	do(t, srv, "GET", "/devices", "Bearer "+admin)                    // read: not audited
	do(t, srv, "POST", "/devices/os::1/set", "")                      // unauthenticated: not audited
	do(t, srv, "POST", "/devices/os::1/set", "Bearer "+operator)      // 202
	do(t, srv, "POST", "/devices/os::1/set", "Bearer "+viewer)        // 403
	do(t, srv, "DELETE", "/tokens/"+victim.ID, "Bearer "+admin)       // 204
	do(t, srv, "DELETE", "/tokens/bbbbbbbbbbbbbbbb", "Bearer "+admin) // 404
	do(t, srv, "POST", "/panic", "Bearer "+viewer)                    // handler panics
	do(t, srv, "HEAD", "/devices", "Bearer "+admin)                   // safe: not audited

	want := []AuditEntry{
		{TokenName: "bob", Role: RoleOperator, Method: "POST", Path: "/devices/os::1/set", Summary: "set 1 parameter on os::1", Status: 202},
		{TokenName: "carol", Role: RoleViewer, Method: "POST", Path: "/devices/os::1/set", Status: 403},
		{TokenID: adminTok.ID, TokenName: "alice", Role: RoleAdmin, Method: "DELETE", Path: "/tokens/" + victim.ID, Summary: "revoked token " + victim.ID, Status: 204},
		{TokenName: "alice", Method: "DELETE", Path: "/tokens/bbbbbbbbbbbbbbbb", Status: 404},
		{TokenName: "carol", Method: "POST", Path: "/panic", Status: 500},
	}
	got := auditLog(t, s, time.Time{}, 0)
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.TokenName != w.TokenName || g.Method != w.Method || g.Path != w.Path || g.Status != w.Status ||
			(w.Summary != "" && g.Summary != w.Summary) || (w.Role != "" && g.Role != w.Role) ||
			(w.TokenID != "" && g.TokenID != w.TokenID) {
			t.Errorf("entry %d = %+v, want %+v", i, g, w)
		}
		if g.TokenID == "" || g.ID == 0 || g.Time.Before(start.Add(-time.Second)) || g.Remote == "" {
			t.Errorf("entry %d lacks who or when: %+v", i, g)
		}
		if i > 0 && g.ID <= got[i-1].ID {
			t.Errorf("entry %d out of order", i)
		}
	}
}

func TestAuditLog(t *testing.T) {
	s, _ := newStore(t)
	ctx := testCtx(t)
	if got := auditLog(t, s, time.Time{}, 0); len(got) != 0 {
		t.Fatalf("empty log returned %+v", got)
	}
	for i := range 5 {
		if err := s.Audit(ctx, AuditEntry{TokenID: "t", Method: "POST", Path: "/x", Status: 200 + i}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * time.Millisecond)
	mid := time.Now()
	time.Sleep(20 * time.Millisecond)
	for i := range 3 {
		if err := s.Audit(ctx, AuditEntry{TokenID: "t", Method: "DELETE", Path: "/y", Status: 300 + i}); err != nil {
			t.Fatal(err)
		}
	}

	statuses := func(es []AuditEntry) string {
		var out []string
		for _, e := range es {
			out = append(out, strconv.Itoa(e.Status))
		}
		return strings.Join(out, " ")
	}
	tests := []struct {
		name  string
		since time.Time
		limit int
		want  string
	}{
		{"all", time.Time{}, 0, "200 201 202 203 204 300 301 302"},
		{"newest", time.Time{}, 3, "300 301 302"},
		{"since", mid, 0, "300 301 302"},
		{"since and limit", mid, 2, "301 302"},
		{"limit beyond since", mid, 5, "300 301 302"},
		{"future", time.Now().Add(time.Hour), 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statuses(auditLog(t, s, tt.since, tt.limit)); got != tt.want {
				t.Fatalf("statuses %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := s.AuditLog(ctx, time.Time{}, -1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative limit: %v", err)
	}

	// Oversized fields are cut, not refused.
	long := strings.Repeat("é", maxSummaryLen)
	if err := s.Audit(ctx, AuditEntry{Method: "POST", Path: long, Summary: long}); err != nil {
		t.Fatal(err)
	}
	last := auditLog(t, s, time.Time{}, 1)[0]
	if len(last.Summary) > maxSummaryLen || len(last.Path) > maxPathLen || !strings.HasPrefix(long, last.Summary) {
		t.Fatalf("summary %d bytes, path %d bytes", len(last.Summary), len(last.Path))
	}
}
