package events

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestCompletions(t *testing.T) {
	l, _ := newLog(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	comps, err := l.FollowCompletions(ctx, "", "key-1")
	if err != nil {
		t.Fatal(err)
	}
	complete := func(eid, command, key string, data map[string]string) {
		t.Helper()
		d := map[string]string{DataCommandKey: key}
		for k, v := range data {
			d[k] = v
		}
		if _, err := l.Publish(testCtx(t), Event{EndpointID: eid, Type: TypeOperationComplete, Path: command, Data: d}); err != nil {
			t.Fatal(err)
		}
	}
	const download = "Device.DeviceInfo.FirmwareImage.2.Download()"

	t.Run("arrived before the wait", func(t *testing.T) {
		complete(dev1, download, "other-key", nil) // not ours
		complete(dev1, download, "key-1", map[string]string{DataOutputPrefix + "Size": "42"})
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		c, err := comps.Wait(wctx, dev1, download)
		if err != nil || c.Err != nil || c.Output["Size"] != "42" || c.Event.Data[DataCommandKey] != "key-1" {
			t.Fatalf("Wait = %+v, %v", c, err)
		}
	})
	t.Run("arrives during the wait, failed", func(t *testing.T) {
		got := make(chan Completion, 1)
		go func() {
			c, _ := comps.Wait(ctx, dev2, download)
			got <- c
		}()
		time.Sleep(50 * time.Millisecond) // let the wait begin; either order must work
		complete(dev2, download, "key-1", map[string]string{DataErrCode: "7022", DataErrMsg: "transfer failed"})
		select {
		case c := <-got:
			if c.Err == nil || c.Err.Code != 7022 || c.Err.Msg != "transfer failed" || c.Output != nil {
				t.Errorf("completion %+v", c)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no completion")
		}
	})
	t.Run("the wait times out", func(t *testing.T) {
		wctx, wcancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer wcancel()
		if _, err := comps.Wait(wctx, dev3, download); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Wait = %v, want a deadline error", err)
		}
	})
	t.Run("stopping ends waits", func(t *testing.T) {
		errc := make(chan error, 1)
		go func() {
			_, err := comps.Wait(context.Background(), dev3, "Device.Reboot()")
			errc <- err
		}()
		cancel()
		select {
		case <-comps.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("not done after its context ended")
		}
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Wait = %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a wait outlived the Completions")
		}
	})
}

// TestCompletionsSince: a Completions that starts in the past finds the
// completions stored since then, as a resumed bulk job must.
func TestCompletionsSince(t *testing.T) {
	l, _ := newLog(t)
	const download = "Device.DeviceInfo.FirmwareImage.2.Download()"
	before := time.Now().Add(-time.Second)
	if _, err := l.Publish(testCtx(t), Event{EndpointID: dev1, Type: TypeOperationComplete, Path: download,
		Data: map[string]string{DataCommandKey: "key-2", DataOutputPrefix + "Size": "7"}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	comps, err := l.FollowCompletionsSince(ctx, "", "key-2", before)
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if c, err := comps.Wait(wctx, dev1, download); err != nil || c.Output["Size"] != "7" {
		t.Fatalf("Wait = %+v, %v", c, err)
	}
	// From now on, the same event is not seen.
	now, err := l.FollowCompletions(ctx, "", "key-2")
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer scancel()
	if _, err := now.Wait(sctx, dev1, download); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a Completions from now found an older completion: %v", err)
	}
}
