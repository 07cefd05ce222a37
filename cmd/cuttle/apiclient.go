package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// apiClient calls the controller's REST API (controller/api; openapi.json
// is the contract) with a bearer token. Every request carries an
// X-Request-ID, which the API echoes in its logs and problem documents.
type apiClient struct {
	// base is the server's root URL, without a trailing slash or /api/v1.
	base  string
	token string
	http  *http.Client
}

// maxResponseBytes bounds a response body read whole: a page of 1,000
// devices is far below it, a misdirected download is not.
const maxResponseBytes = 64 << 20

// apiError is an RFC 9457 problem the API answered with, or a non-problem
// error response described the same way.
type apiError struct {
	Status      int             `json:"status"`
	Type        string          `json:"type"`
	Title       string          `json:"title"`
	Detail      string          `json:"detail"`
	Instance    string          `json:"instance"`
	RequestID   string          `json:"request_id"`
	Errors      []apiFieldError `json:"errors"`
	USPCode     uint32          `json:"usp_code"`
	USPName     string          `json:"usp_name"`
	USPMessage  string          `json:"usp_message"`
	ParamErrors []uspError      `json:"param_errors"`
}

// apiFieldError is one field-level failure of an invalid-request problem.
type apiFieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
	USPCode uint32 `json:"usp_code"`
}

// uspError is a USP failure with its code, as the API writes them in
// results ("error", "param_errors", "unaffected") and problems.
type uspError struct {
	Param   string `json:"param"`
	Path    string `json:"path"`
	Code    uint32 `json:"code"`
	Name    string `json:"name"`
	Message string `json:"message"`
}

func (e uspError) String() string {
	s := fmt.Sprintf("%d %s", e.Code, e.Name)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Error prints "title: detail", then one indented line per field error,
// the USP error and each parameter error.
func (e *apiError) Error() string {
	var b strings.Builder
	b.WriteString(cmp.Or(e.Title, http.StatusText(e.Status), fmt.Sprintf("HTTP status %d", e.Status)))
	switch {
	case e.USPCode != 0 && len(e.Errors) == 0:
		// The detail repeats the USP error and its parameter errors.
		fmt.Fprintf(&b, ": %s", uspError{Code: e.USPCode, Name: e.USPName, Message: e.USPMessage})
	case e.Detail != "":
		b.WriteString(": " + e.Detail)
	}
	for _, f := range e.Errors {
		line := f.Field + ": " + f.Message
		if f.USPCode != 0 {
			line += fmt.Sprintf(" (USP %d)", f.USPCode)
		}
		if e.Detail == f.Field+": "+f.Message && len(e.Errors) == 1 {
			b.WriteString(strings.TrimPrefix(line, e.Detail)) // the detail said it all but the code
			continue
		}
		b.WriteString("\n  " + line)
	}
	for _, p := range e.ParamErrors {
		fmt.Fprintf(&b, "\n  %s: %s", cmp.Or(p.Param, p.Path, "parameter"), p)
	}
	if e.Status >= 500 && e.RequestID != "" {
		fmt.Fprintf(&b, "\n  (request ID %s, in the server's logs)", e.RequestID)
	}
	return b.String()
}

// errUnreachable wraps failures to reach the API at all.
var errUnreachable = errors.New("cannot reach the API")

// newRequestID returns an X-Request-ID the API accepts as given.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails
	return "cli-" + hex.EncodeToString(b[:])
}

// newRequest builds a request to path (already escaped) with query and a
// JSON body (nil for none).
func (c *apiClient) newRequest(ctx context.Context, method, path string, query url.Values, body any) (*http.Request, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encoding the request: %w", err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", "cuttle/"+version)
	req.Header.Set("X-Request-ID", newRequestID())
	return req, nil
}

// send sends req and returns the response when its status is 2xx; other
// statuses become an *apiError.
func (c *apiClient) send(req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, ctxErr
		}
		var nerr net.Error
		var operr *net.OpError
		if errors.As(err, &operr) || errors.As(err, &nerr) && nerr.Timeout() {
			return nil, fmt.Errorf("%w at %s (is `cuttle up` running? set --server or CUTTLE_SERVER): %v", errUnreachable, c.base, err)
		}
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return nil, problemFrom(resp, body)
}

// problemFrom decodes an error response: a problem document when it is
// one, else the status and the start of the body.
func problemFrom(resp *http.Response, body []byte) *apiError {
	e := &apiError{}
	if json.Unmarshal(body, e) != nil || e.Title == "" && e.Type == "" {
		detail := strings.TrimSpace(string(body))
		if len(detail) > 200 {
			detail = detail[:200] + "…"
		}
		e = &apiError{Detail: detail, RequestID: resp.Header.Get("X-Request-ID")}
	}
	e.Status = resp.StatusCode // the status line is authoritative
	return e
}

// do sends a request and returns the response body, read whole (nil for
// 204 No Content).
func (c *apiClient) do(ctx context.Context, method, path string, query url.Values, body any) ([]byte, error) {
	req, err := c.newRequest(ctx, method, path, query, body)
	if err != nil {
		return nil, err
	}
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s %s: reading the response: %w", method, path, err)
	case len(b) > maxResponseBytes:
		return nil, fmt.Errorf("%s %s: the response is larger than %d bytes", method, path, maxResponseBytes)
	}
	return b, nil
}

// doJSON is do, decoding the body into out as well as returning it.
func (c *apiClient) doJSON(ctx context.Context, method, path string, query url.Values, body, out any) ([]byte, error) {
	raw, err := c.do(ctx, method, path, query, body)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, fmt.Errorf("%s %s: decoding the response: %w", method, path, err)
	}
	return raw, nil
}

// stream opens a Server-Sent Events stream; the caller closes the body.
func (c *apiClient) stream(ctx context.Context, path string, query url.Values) (io.ReadCloser, error) {
	req, err := c.newRequest(ctx, http.MethodGet, path, query, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// newHTTPClient returns the client for API calls. There is no overall
// timeout: an Operate with --wait and event streams last as long as they
// must; dialling and the TLS handshake are bounded so that a server that is
// down fails fast.
func newHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	return &http.Client{Transport: t}
}

// escapeID escapes an endpoint, job or token ID as one path segment.
func escapeID(id string) string { return url.PathEscape(id) }

// devicePath is the API path of a device, with more segments after it.
func devicePath(id string, rest ...string) string {
	p := "/api/v1/devices/" + escapeID(id)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}
