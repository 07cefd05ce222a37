package api

import (
	"errors"
	"net/http"

	"cuttle/controller/httpapi"
)

type statusResponse struct {
	Status string `json:"status"`
}

// healthz answers while the process serves HTTP at all (liveness).
func (a *API) healthz(w http.ResponseWriter, r *http.Request) error {
	return WriteJSON(w, http.StatusOK, statusResponse{Status: "ok"})
}

// readyz answers 200 when Config.Ready says the service can take requests,
// else 503 with the reason (readiness).
func (a *API) readyz(w http.ResponseWriter, r *http.Request) error {
	if err := a.cfg.Ready(); err != nil {
		return &Error{Status: http.StatusServiceUnavailable, Type: httpapi.TypeUnavailable, Title: "Not ready", Detail: err.Error()}
	}
	return WriteJSON(w, http.StatusOK, statusResponse{Status: "ready"})
}

// defaultReady: the controller is connected to the broker and its
// inventory follows NATS.
func (a *API) defaultReady() error {
	switch {
	case a.mtp.Inbox() == "":
		return errors.New("the controller is not connected to the MQTT broker")
	case !a.inv.Healthy():
		return errors.New("the device inventory is not following NATS")
	}
	return nil
}
