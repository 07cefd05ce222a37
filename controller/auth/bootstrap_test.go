package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readSecret(t testing.TB, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func bootstrap(t testing.TB, s *Store, file string) bool {
	t.Helper()
	created, err := s.Bootstrap(testCtx(t), file)
	if err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	return created
}

func TestBootstrap(t *testing.T) {
	s, js := newStore(t)
	ctx := testCtx(t)
	dir := filepath.Join(t.TempDir(), "data", "cuttle")
	file := filepath.Join(dir, "admin.token")

	if !bootstrap(t, s, file) {
		t.Fatal("first Bootstrap created nothing")
	}
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", st.Mode().Perm())
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("token directory: %v, %v; want mode 0700", st.Mode(), err)
	}
	secret := readSecret(t, file)
	tok, err := s.Authenticate(secret)
	if err != nil || tok.Role != RoleAdmin || tok.Name != BootstrapName {
		t.Fatalf("bootstrap token: %+v, %v", tok, err)
	}

	// Idempotent, on this Store and on a fresh one (a restart).
	if bootstrap(t, s, file) || bootstrap(t, openStore(t, js), file) {
		t.Fatal("Bootstrap created a second token")
	}
	if got := readSecret(t, file); got != secret {
		t.Fatal("Bootstrap rewrote a valid token file")
	}
	if list, err := s.List(ctx); err != nil || len(list) != 1 {
		t.Fatalf("tokens: %+v, %v", list, err)
	}

	// Another admin exists: a missing file is not a reason for a new one.
	other := filepath.Join(t.TempDir(), "other.token")
	if bootstrap(t, s, other) {
		t.Fatal("Bootstrap created a token while an admin exists")
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Fatalf("Bootstrap wrote %s: %v", other, err)
	}

	// No admin left: the next start makes a new one and replaces the file.
	if err := s.Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if !bootstrap(t, s, file) {
		t.Fatal("Bootstrap did not replace a revoked token")
	}
	if got := readSecret(t, file); got == secret {
		t.Fatal("token file not replaced")
	} else if _, err := s.Authenticate(got); err != nil {
		t.Fatalf("new bootstrap token: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("directory holds %d files, want only the token file", len(entries))
	}
}

// TestBootstrapNonAdminFile: a file holding a valid non-admin token is not
// a bootstrap token, and with no admin around, Bootstrap makes one.
func TestBootstrapNonAdminFile(t *testing.T) {
	s, _ := newStore(t)
	file := filepath.Join(t.TempDir(), "admin.token")
	_, secret := create(t, s, "viewer", RoleViewer, 0)
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !bootstrap(t, s, file) {
		t.Fatal("Bootstrap accepted a viewer token as the admin token")
	}
	if tok, err := s.Authenticate(readSecret(t, file)); err != nil || tok.Role != RoleAdmin {
		t.Fatalf("file now holds %+v, %v", tok, err)
	}
}

// TestBootstrapUnwritable: when the file cannot be written, Bootstrap
// fails and leaves no active token whose secret nobody has.
func TestBootstrapUnwritable(t *testing.T) {
	s, _ := newStore(t)
	// A regular file where a directory should be stops even root.
	blocker := filepath.Join(t.TempDir(), "blocker")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Bootstrap(testCtx(t), filepath.Join(blocker, "sub", "admin.token")); err == nil {
		t.Fatal("Bootstrap succeeded without a place for the file")
	}
	if s.hasAdmin() {
		t.Fatal("the unsaved bootstrap token was left active")
	}
}
