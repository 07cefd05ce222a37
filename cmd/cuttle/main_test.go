package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	cases := []struct {
		args    []string
		wantErr error
		stdout  string
		stderr  string
	}{
		{args: []string{"version"}, stdout: "cuttle " + version},
		{args: nil, wantErr: errUsage, stderr: "Usage: cuttle"},
		{args: []string{"--help"}, stderr: "Commands:"},
		{args: []string{"bogus"}, wantErr: errUsage, stderr: `unknown command "bogus"`},
		{args: []string{"version", "--nope"}, wantErr: errUsage},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), c.args, &out, &errOut)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if !strings.Contains(out.String(), c.stdout) {
				t.Errorf("stdout %q lacks %q", out.String(), c.stdout)
			}
			if !strings.Contains(errOut.String(), c.stderr) {
				t.Errorf("stderr %q lacks %q", errOut.String(), c.stderr)
			}
		})
	}
}
