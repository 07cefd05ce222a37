package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"cuttle/controller/uspjson"
	"cuttle/usp/usperr"
)

type body struct {
	Paths   []string         `json:"paths"`
	Timeout uspjson.Duration `json:"timeout"`
}

// decode runs DecodeJSON on a request with the given body and content
// type, behind a MaxBytesReader of limit bytes.
func decode(content, ct string, limit int64) (body, error) {
	r := httptest.NewRequest("POST", "/x", strings.NewReader(content))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, limit)
	var b body
	return b, DecodeJSON(r, &b)
}

func TestDecodeJSON(t *testing.T) {
	for _, tc := range []struct {
		name, body, ct string
		status         int    // 0: decoded
		field, detail  string // the field at fault; a part of the detail
	}{
		{"ok", `{"paths":["Device."],"timeout":"2s"}`, "application/json; charset=utf-8", 0, "", ""},
		{"vendor type", `{"paths":[]}`, "application/merge-patch+json", 0, "", ""},
		{"empty", ``, "", 0, "", ""},
		{"no content type", `{}`, "", 415, "", "not none"},
		{"text", `{}`, "text/plain", 415, "", "not text/plain"},
		{"syntax", `{"paths":`, "application/json", 400, "", "truncated"},
		{"bad byte", `{"paths":x}`, "application/json", 400, "", "not valid JSON"},
		{"whole body", `[]`, "application/json", 400, "", "The body must be an object, not array."},
		{"field type", `{"paths":"Device."}`, "application/json", 400, "paths", "must be an array, not string"},
		{"duration", `{"timeout":"soon"}`, "application/json", 400, "timeout", "a duration such as"},
		{"unknown field", `{"path":[]}`, "application/json", 400, "path", "unknown field"},
		{"two values", `{} {}`, "application/json", 400, "", "single JSON value"},
		{"too large", `{"paths":["` + strings.Repeat("x", 100) + `"]}`, "application/json", 413, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := decode(tc.body, tc.ct, 64)
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("err %v", err)
				}
				if tc.name == "ok" && (len(b.Paths) != 1 || time.Duration(b.Timeout) != 2*time.Second) {
					t.Errorf("decoded %+v", b)
				}
				return
			}
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				err = TooLarge(tooBig)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err %v is not an *Error", err)
			}
			if e.Status != tc.status || !strings.Contains(e.Detail, tc.detail) {
				t.Errorf("%d %q, want %d with %q", e.Status, e.Detail, tc.status, tc.detail)
			}
			if tc.field != "" && (len(e.Fields) != 1 || e.Fields[0].Field != tc.field) {
				t.Errorf("fields %+v, want %s", e.Fields, tc.field)
			}
		})
	}
}

func TestQuery(t *testing.T) {
	r := httptest.NewRequest("GET", "/x?status=a,b&status=c&limit=5&limit=6&bogus=1", nil)
	_, err := Query(r, []string{"status", "limit"}, "status")
	var e *Error
	if !errors.As(err, &e) || e.Status != 400 || len(e.Fields) != 2 || e.Fields[0].Field != "bogus" || e.Fields[1].Field != "limit" {
		t.Fatalf("Query: %v", err)
	}
	r = httptest.NewRequest("GET", "/x?status=a,%20b&status=c,&limit=5", nil)
	q, err := Query(r, []string{"status", "limit"}, "status")
	if err != nil {
		t.Fatal(err)
	}
	if got := ListParam(q, "status"); strings.Join(got, "|") != "a|b|c" {
		t.Errorf("ListParam = %q", got)
	}
	if n, err := IntParam(q, "limit"); n != 5 || err != nil {
		t.Errorf("IntParam = %d, %v", n, err)
	}
	if n, err := IntParam(q, "none"); n != 0 || err != nil {
		t.Errorf("IntParam of nothing = %d, %v", n, err)
	}
	q.Set("limit", "-1")
	if _, err := IntParam(q, "limit"); !errors.As(err, &e) || e.Fields[0].Field != "limit" {
		t.Errorf("IntParam of -1: %v", err)
	}
}

func TestWriteProblem(t *testing.T) {
	e := Invalid(uspjson.FieldError{Field: "paths[0]", Message: "bad", USPCode: 7026})
	e.USP = &usperr.Error{Code: usperr.InvalidPath, Msg: "bad", Params: []*usperr.Error{{Code: usperr.InvalidValue, Path: "X"}}}
	w := httptest.NewRecorder()
	WriteProblem(w, e.Document("/x", "id-1"))
	if w.Code != 400 || w.Header().Get("Content-Type") != ProblemContentType {
		t.Fatalf("%d %s", w.Code, w.Header().Get("Content-Type"))
	}
	var d Document
	if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	if d.Type != TypeInvalidRequest || d.Instance != "/x" || d.RequestID != "id-1" || d.Detail != "paths[0]: bad" ||
		d.USPCode != 7026 || d.USPName != "InvalidPath" || len(d.ParamErrors) != 1 || d.ParamErrors[0].Param != "X" {
		t.Errorf("problem %s", w.Body)
	}
	// Members that are not there are left out, not empty.
	w = httptest.NewRecorder()
	WriteProblem(w, NotFound("gone").Document("", ""))
	if got := strings.TrimSpace(w.Body.String()); got != `{"type":"`+TypeNotFound+`","title":"Not found","status":404,"detail":"gone"}` {
		t.Errorf("problem %s", got)
	}
}

// FuzzDecodeJSON: any body decodes or fails with a problem; nothing
// panics.
func FuzzDecodeJSON(f *testing.F) {
	f.Add(`{"paths":["Device."],"timeout":3}`)
	f.Add(`{"paths":[1]}`)
	f.Add(`[] []`)
	f.Fuzz(func(t *testing.T, in string) {
		_, err := decode(in, "application/json", 1<<10)
		var e *Error
		var tooBig *http.MaxBytesError
		if err != nil && !errors.As(err, &e) && !errors.As(err, &tooBig) {
			t.Fatalf("error %v is neither a problem nor too large", err)
		}
		if e != nil && (e.Status < 400 || e.Status > 499 || e.Detail == "") {
			t.Fatalf("problem %+v", e)
		}
	})
}
