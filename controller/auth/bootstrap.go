package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// BootstrapName is the name of the admin token Bootstrap creates.
const BootstrapName = "bootstrap"

// maxTokenFile bounds how much of a token file Bootstrap reads.
const maxTokenFile = 4096

// Bootstrap gives a fresh installation its first admin token. If file holds
// an active admin token, or another active admin token exists, it does
// nothing. Otherwise it creates an admin token named "bootstrap" and writes
// its secret to file with mode 0600, creating the parent directory with
// mode 0700; the file is replaced atomically, so a reader never sees half a
// token. It reports whether it created one.
//
// Two replicas bootstrapping the same empty bucket at the same moment may
// both create a token; each writes its own file, and both tokens work.
func (s *Store) Bootstrap(ctx context.Context, file string) (created bool, err error) {
	data, err := readTokenFile(file)
	switch {
	case err == nil:
		e, verr := s.verify(strings.TrimSpace(string(data)))
		if verr == nil && e.rec.Role == RoleAdmin {
			return false, nil
		}
		s.log.Info("token file holds no usable admin token", "file", file, "err", verr)
	case !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("bootstrap: %w", err)
	}
	if s.hasAdmin() {
		return false, nil
	}
	t, secret, err := s.Create(ctx, BootstrapName, RoleAdmin, BootstrapName, 0)
	if err != nil {
		return false, fmt.Errorf("bootstrap: %w", err)
	}
	if err := writeTokenFile(file, secret); err != nil {
		// The secret is lost with the file; a token nobody holds is only
		// a liability.
		if rerr := s.Revoke(context.WithoutCancel(ctx), t.ID); rerr != nil {
			s.log.Warn("cannot revoke unsaved bootstrap token", "token_id", t.ID, "err", rerr)
		}
		return false, fmt.Errorf("bootstrap: %w", err)
	}
	s.log.Info("bootstrap admin token created", "token_id", t.ID, "file", file)
	return true, nil
}

func readTokenFile(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTokenFile))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	return data, nil
}

// writeTokenFile writes secret to file through a temporary file in the
// same directory, created 0600 before any secret is in it.
func writeTokenFile(file, secret string) error {
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(file)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes 0600 files already; say so, whatever the platform.
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	if _, err := tmp.WriteString(secret + "\n"); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		os.Remove(tmp.Name())
		done = true
		return fmt.Errorf("writing %s: %w", file, err)
	}
	done = true
	return nil
}
