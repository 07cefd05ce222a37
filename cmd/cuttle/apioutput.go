package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"
)

// Output of the API commands. For scripts, -o json prints the API's JSON
// unchanged but indented: a single object as the API returned it, a list
// as a JSON array of the API's objects (over every page fetched). -o yaml
// is the same document as YAML, keys in the API's order.

// printDoc prints raw, a JSON document from the API, as format (json or
// yaml).
func printDoc(w io.Writer, format string, raw []byte) error {
	if format == fmtYAML {
		y, err := jsonToYAML(raw)
		if err != nil {
			return err
		}
		_, err = w.Write(y)
		return err
	}
	var b bytes.Buffer
	if err := json.Indent(&b, bytes.TrimSpace(raw), "", "  "); err != nil {
		return fmt.Errorf("the API sent invalid JSON: %w", err)
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

// printList prints the API's objects of a list: -o json and yaml as one
// array, -o id as the IDs that id picks, one a line, and a table
// otherwise, with header and the row that row makes of each object.
func printList[V any](c *apiCLI, format string, items []json.RawMessage, header string, id, row func(V) string) error {
	if format == fmtJSON || format == fmtYAML {
		return printDoc(c.stdout, format, jsonArray(items))
	}
	tw := newTable(c.stdout)
	if format == fmtTable {
		fmt.Fprintln(tw, header)
	}
	for _, raw := range items {
		var v V
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		if format == fmtID {
			fmt.Fprintln(c.stdout, id(v))
			continue
		}
		fmt.Fprintln(tw, row(v))
	}
	return tw.Flush()
}

// jsonArray joins raw JSON values into an array; never null.
func jsonArray(items []json.RawMessage) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(bytes.TrimSpace(it))
	}
	b.WriteByte(']')
	return b.Bytes()
}

// jsonToYAML converts a JSON document to block-style YAML, keeping the
// order of object keys and the type of every scalar: JSON is YAML, so it
// is parsed as YAML and re-emitted without JSON's flow style and quotes
// (strings that would read as another type stay quoted).
func jsonToYAML(raw []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("the API sent a document YAML cannot read: %w", err)
	}
	var plain func(n *yaml.Node)
	plain = func(n *yaml.Node) {
		n.Style = 0
		for _, c := range n.Content {
			plain(c)
		}
	}
	plain(&doc)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// newTable returns a writer aligning tab-separated columns.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// dash stands in for an empty table cell.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// cell makes s safe in a tab-separated row (tabs and line breaks would
// break the columns); empty is "-".
func cell(s string) string { return dash(value(s)) }

// value is cell for parameter values, where "-" could be a value: empty
// stays empty.
func value(s string) string {
	return strings.NewReplacer("\t", `\t`, "\n", `\n`, "\r", `\r`).Replace(s)
}

// joinKV formats a map as sorted key=value pairs.
func joinKV(m map[string]string, sep string) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, sep)
}

// ago formats how long before now t was, for people: "12s ago", "5m ago".
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// timestamp formats t for tables; zero is "-".
func timestamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.RFC3339)
}

// comparePaths orders USP paths for people: segment by segment, instance
// numbers numerically (….SSID.2. before ….SSID.10.).
func comparePaths(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		if as[i] == bs[i] {
			continue
		}
		an, aerr := strconv.ParseUint(as[i], 10, 64)
		bn, berr := strconv.ParseUint(bs[i], 10, 64)
		switch {
		case aerr == nil && berr == nil:
			if an < bn {
				return -1
			}
			return 1
		case aerr == nil:
			return -1
		case berr == nil:
			return 1
		}
		return strings.Compare(as[i], bs[i])
	}
	return len(as) - len(bs)
}

// sortedPaths returns m's keys in comparePaths order.
func sortedPaths[V any](m map[string]V) []string {
	return slices.SortedFunc(maps.Keys(m), comparePaths)
}
