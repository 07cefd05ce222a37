package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// report is everything one run measured, printed as aligned text or as
// markdown.
type report struct {
	header   []string // "key: value" facts about the run
	results  []result
	connects []connectResult
	memory   []memResult
	failures []string
}

// table is a header row and data rows.
type table [][]string

func (r *report) throughputTable() table {
	t := table{{"scenario", "broker", "sent", "delivered", "lost", "dup", "msgs/s", "CPU/msg", "p50", "p99", "queue/inflight drops, flow waits"}}
	for _, res := range r.results {
		if res.err != nil {
			t = append(t, []string{res.scenario.String(), res.target.name, "-", "-", "-", "-", "failed", "-", "-", "-", "-"})
			continue
		}
		drops := "n/a"
		if c := res.counters; c != nil {
			drops = fmt.Sprintf("%.0f/%.0f, %.0f", c["queue_drops"], c["inflight_drops"], c["flow_waits"])
		}
		t = append(t, []string{
			res.scenario.String(), res.target.name,
			fmt.Sprint(res.expected - res.pubFails), fmt.Sprint(res.tally.unique),
			lostCell(res), fmt.Sprint(res.tally.dups),
			fmt.Sprintf("%.0f", res.rate()), fmtDur(res.cpuPerMsg()), fmtDur(res.tally.p50), fmtDur(res.tally.p99), drops,
		})
	}
	return t
}

func lostCell(res result) string {
	lost := res.lost()
	if lost == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%.1f%%)", lost, 100*float64(lost)/float64(res.expected))
}

// connectResult is how long a fleet took to connect to one target (the
// median over the rounds).
type connectResult struct {
	target  string
	devices int
	took    time.Duration
}

func (r *report) connectTable() table {
	t := table{{"broker", "devices", "connect + subscribe", "devices/s"}}
	for _, c := range r.connects {
		t = append(t, []string{c.target, fmt.Sprint(c.devices), fmtDur(c.took), fmt.Sprintf("%.0f", float64(c.devices)/c.took.Seconds())})
	}
	return t
}

func (r *report) ratioTable() table {
	t := table{{"scenario", "secure msgs/s", "insecure msgs/s", "mosquitto msgs/s", "secure/insecure", "secure/mosquitto", "CPU/msg secure / insecure / mosquitto", "CPU insecure/secure", "CPU mosquitto/secure", "p99 secure / insecure / mosquitto"}}
	for _, sc := range scenarios {
		by := map[string]result{}
		for _, res := range r.results {
			if res.scenario == sc && res.err == nil {
				by[res.target.key] = res
			}
		}
		sec, okS := by["secure"]
		ins, okI := by["insecure"]
		mos, okM := by["mosquitto"]
		if !okS && !okI && !okM {
			continue
		}
		rate := func(res result, ok bool) string {
			if !ok {
				return "-"
			}
			return fmt.Sprintf("%.0f", res.rate())
		}
		ratio := func(a, b result, okA, okB bool) string {
			if !okA || !okB || b.rate() == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f", a.rate()/b.rate())
		}
		p99 := func(res result, ok bool) string {
			if !ok {
				return "-"
			}
			return fmtDur(res.tally.p99)
		}
		cpu := func(res result, ok bool) string {
			if !ok {
				return "-"
			}
			return fmtDur(res.cpuPerMsg())
		}
		// The CPU ratios are the other way round, so that, like the rate
		// ratios, above 1 means the secure broker is the cheaper.
		cpuRatio := func(a, b result, okA, okB bool) string {
			if !okA || !okB || b.cpuPerMsg() == 0 || a.cpuPerMsg() == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f", float64(a.cpuPerMsg())/float64(b.cpuPerMsg()))
		}
		t = append(t, []string{sc.String(), rate(sec, okS), rate(ins, okI), rate(mos, okM),
			ratio(sec, ins, okS, okI), ratio(sec, mos, okS, okM),
			cpu(sec, okS) + " / " + cpu(ins, okI) + " / " + cpu(mos, okM),
			cpuRatio(ins, sec, okI, okS), cpuRatio(mos, sec, okM, okS),
			p99(sec, okS) + " / " + p99(ins, okI) + " / " + p99(mos, okM)})
	}
	return t
}

func (r *report) memoryTable() table {
	t := table{{"broker", "idle devices", "RSS before", "RSS connected", "RSS after disconnect", "30 s after", "RSS after FreeOSMemory", "RSS/conn", "heap/conn", "stacks/conn", "goroutines/conn", "heap after", "idle CPU"}}
	for _, m := range r.memory {
		if m.err != nil {
			t = append(t, []string{m.broker, fmt.Sprint(m.idle), "failed", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-"})
			continue
		}
		t = append(t, []string{
			m.broker, fmt.Sprint(m.idle),
			mib(m.before.rss), mib(m.during.rss), mib(m.after.rss), mib(m.later.rss), mib(m.freed.rss),
			kb(perConn(m.before.rss, m.during.rss, m.idle)),
			kb(perConn(m.before.heap, m.during.heap, m.idle)),
			kb(perConn(m.before.stack, m.during.stack, m.idle)),
			fmt.Sprintf("%.1f", float64(m.during.goroutines-m.before.goroutines)/float64(m.idle)),
			mib(m.after.heap),
			fmt.Sprintf("%.1f%% of a core", float64(m.idleCPU)/float64(time.Second)*100),
		})
	}
	return t
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func kb(b int64) string { return fmt.Sprintf("%.1f KB", float64(b)/1000) }

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

// write prints the report as aligned text, or as markdown.
func (r *report) write(w io.Writer, markdown bool) {
	sections := []struct {
		title string
		t     table
	}{
		{"Throughput and end-to-end latency", r.throughputTable()},
		{"Ratios (same run; CPU/msg is the CPU time of broker and clients together per delivered Record)", r.ratioTable()},
		{fmt.Sprintf("Fleet connect (%d CONNECTs in flight, each followed by a SUBSCRIBE)", connectWorkers), r.connectTable()},
		{"Memory per idle connection (broker in its own process)", r.memoryTable()},
	}
	if markdown {
		for _, h := range r.header {
			fmt.Fprintf(w, "- %s\n", h)
		}
		for _, s := range sections {
			if len(s.t) < 2 {
				continue
			}
			fmt.Fprintf(w, "\n### %s\n\n", s.title)
			writeMarkdown(w, s.t)
		}
		if len(r.failures) > 0 {
			fmt.Fprintf(w, "\n### Failures\n\n")
			for _, f := range r.failures {
				fmt.Fprintf(w, "- %s\n", f)
			}
		}
		return
	}
	for _, h := range r.header {
		fmt.Fprintln(w, h)
	}
	for _, s := range sections {
		if len(s.t) < 2 {
			continue
		}
		fmt.Fprintf(w, "\n%s\n", s.title)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, row := range s.t {
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
		_ = tw.Flush()
	}
	if len(r.failures) > 0 {
		fmt.Fprintf(w, "\nFAILURES\n")
		for _, f := range r.failures {
			fmt.Fprintf(w, "  %s\n", f)
		}
	}
}

func writeMarkdown(w io.Writer, t table) {
	for i, row := range t {
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
		if i == 0 {
			sep := make([]string, len(row))
			for j, name := range row {
				sep[j] = "---:" // numbers
				if name == "scenario" || name == "broker" {
					sep[j] = "---"
				}
			}
			fmt.Fprintf(w, "|%s|\n", strings.Join(sep, "|"))
		}
	}
}
