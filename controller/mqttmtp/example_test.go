package mqttmtp_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"cuttle/controller/mqttmtp"
	"cuttle/usp"
	"cuttle/usp/usperr"
)

// A controller that acknowledges notifications and reads a parameter.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var c *mqttmtp.Client // the handler runs only once Run has started
	c, err := mqttmtp.New(mqttmtp.Config{
		Brokers:  []string{"mqtt://127.0.0.1:1883"},
		Username: "self::cuttle-controller",
		Password: "secret",
		Handler: func(in mqttmtp.Incoming) {
			if in.Msg == nil {
				return // an mqtt_connect or disconnect Record
			}
			// Agents resend a Notify with send_resp until it is answered.
			if n, ok := in.Msg.Body.(*usp.Notify); ok && n.SendResp {
				if err := c.Reply(ctx, in, usp.NewNotifyResp(n.SubscriptionID)); err != nil {
					slog.Warn("acknowledging notify", "error", err)
				}
			}
		},
	})
	if err != nil {
		panic(err)
	}
	go func() { _ = c.Run(ctx) }()

	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	resp, err := c.Get(rctx, "os::012345-0001", usp.NewGet(0, "Device.DeviceInfo.SoftwareVersion"))
	var uspErr *usperr.Error
	switch {
	case errors.As(err, &uspErr):
		fmt.Println("the device refused:", uspErr.Code)
	case errors.Is(err, mqttmtp.ErrTimeout), errors.Is(err, mqttmtp.ErrNotConnected):
		fmt.Println("no answer:", err)
	case err != nil:
		fmt.Println(err)
	default:
		fmt.Println(resp.Values()["Device.DeviceInfo.SoftwareVersion"])
	}
}
