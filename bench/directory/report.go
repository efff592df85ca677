package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// The region of docs/benchmarks.md this benchmark owns; the rest of the file belongs to others.
const (
	regionBegin = "<!-- bench-directory:begin -->"
	regionEnd   = "<!-- bench-directory:end -->"
)

// report renders the measurements in the JSON lines file as markdown, prints it and, with
// doc, puts it between the region markers of that file (creating the file or the region when
// absent, leaving everything outside the region as it is).
func report(in, doc, commit string, stdout io.Writer) error {
	results, err := readResults(in)
	if err != nil {
		return err
	}
	if len(results) == 0 {
		return fmt.Errorf("%s: no measurements", in)
	}
	md := render(results, commit)
	fmt.Fprint(stdout, md)
	if doc == "" {
		return nil
	}
	return writeRegion(doc, md)
}

func readResults(path string) ([]result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []result
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// render builds the markdown: a table per database with before and after side by side, the
// indexes present after, and the plans of the searches.
func render(results []result, commit string) string {
	var b strings.Builder
	when := results[len(results)-1].Measured
	fmt.Fprintf(&b, "## Directory at scale (`make bench-directory`)\n\n")
	fmt.Fprintf(&b, "Measured %s on %s (%d CPUs as seen by Go, %s); commit %s.\n",
		when.Format("2006-01-02 15:04 UTC"), machine(), runtime.NumCPU(), runtime.GOOS+"/"+runtime.GOARCH, orUnknown(commit))
	fmt.Fprintf(&b, "One client, one operation at a time, through `directory/sqldb` (the code gatehouse runs);\n"+
		"p99 is the nearest rank, which is the maximum below 100 runs; `n` is the number of timed runs.\n\n")
	for _, dbName := range uniq(results, func(r result) string { return r.DB }) {
		var server string
		for _, r := range results {
			if r.DB == dbName {
				server = r.Server
			}
		}
		fmt.Fprintf(&b, "### %s (%s)\n\n", dbName, firstWord(server))
		phases := uniq(results, func(r result) string { return r.Phase })
		fmt.Fprintf(&b, "| operation |")
		for _, p := range phases {
			fmt.Fprintf(&b, " %s p50 | %s p99 | n |", p, p)
		}
		fmt.Fprintf(&b, " rows |\n|---|")
		for range phases {
			fmt.Fprintf(&b, "---:|---:|---:|")
		}
		fmt.Fprintf(&b, "---:|\n")
		for _, key := range uniq(results, func(r result) string { return r.Key }) {
			var name string
			rows := -1
			cells := make([]string, 0, len(phases)*3)
			for _, p := range phases {
				r, ok := find(results, dbName, p, key)
				if !ok {
					cells = append(cells, "", "", "")
					continue
				}
				name, rows = r.Name, r.Rows
				switch {
				case r.TimedOut && r.N == 0:
					// Not one run finished: the database cancelled it at the timeout.
					t := "> " + fmtMS(r.Timeout) + " (cancelled)"
					cells = append(cells, t, t, "0")
				case r.TimedOut:
					cells = append(cells, fmtMS(r.P50), "> "+fmtMS(r.Timeout)+" (cancelled)", fmt.Sprint(r.N))
				default:
					cells = append(cells, fmtMS(r.P50), fmtMS(r.P99), fmt.Sprint(r.N))
				}
			}
			if name == "" {
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %d |\n", name, strings.Join(cells, " | "), rows)
		}
		b.WriteString("\n")
		for _, p := range phases {
			r, ok := find(results, dbName, p, "get")
			if !ok {
				continue
			}
			idx := "none"
			if len(r.Indexes) > 0 {
				idx = "`" + strings.Join(r.Indexes, "`, `") + "`"
			}
			fmt.Fprintf(&b, "Indexes named `gatehouse_*` during *%s*: %s.\n\n", p, idx)
		}
		fmt.Fprintf(&b, "<details><summary>%s query plans (EXPLAIN)</summary>\n\n", dbName)
		for _, p := range phases {
			for _, key := range []string{"get", "search-smith", "search-miss", "email", "customer-users"} {
				r, ok := find(results, dbName, p, key)
				if !ok || len(r.Plan) == 0 {
					continue
				}
				fmt.Fprintf(&b, "*%s*, %s:\n\n```\n%s\n```\n\n", p, r.Name, strings.Join(r.Plan, "\n"))
			}
		}
		b.WriteString("</details>\n\n")
	}
	return b.String()
}

func find(results []result, db, phase, key string) (result, bool) {
	for _, r := range results {
		if r.DB == db && r.Phase == phase && r.Key == key {
			return r, true
		}
	}
	return result{}, false
}

// uniq lists the distinct values of f over results in first-seen order.
func uniq(results []result, f func(result) string) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range results {
		if v := f(r); !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func fmtMS(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.0f s", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.2f ms", v)
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, " ,"); i > 0 {
		return s[:i]
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return "`" + s + "`"
}

// machine describes the CPU and memory from /proc (Linux); "unknown machine" elsewhere.
func machine() string {
	var cpu, mem string
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			var kb int
			if _, err := fmt.Sscanf(l, "MemTotal: %d kB", &kb); err == nil {
				mem = fmt.Sprintf("%.0f GiB RAM", float64(kb)/(1<<20))
				break
			}
		}
	}
	if cpu == "" && mem == "" {
		return "unknown machine"
	}
	return strings.TrimSpace(strings.Join([]string{cpu, mem}, ", "))
}

// writeRegion replaces the text between the region markers of doc with md, or appends a new
// region (creating doc) when there is none. Text outside the region is kept byte for byte.
func writeRegion(doc, md string) error {
	old, err := os.ReadFile(doc)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	region := regionBegin + "\n" + md + regionEnd
	text := string(old)
	i := strings.Index(text, regionBegin)
	j := strings.Index(text, regionEnd)
	switch {
	case i >= 0 && j > i:
		text = text[:i] + region + text[j+len(regionEnd):]
	case i >= 0 || j >= 0:
		return fmt.Errorf("%s: only one of the %s / %s markers is there; fix the file by hand", doc, regionBegin, regionEnd)
	case text == "":
		text = "# Benchmarks\n\n" + region + "\n"
	default:
		if !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		text += "\n" + region + "\n"
	}
	// Write next to it and rename, so a concurrent reader never sees half a file.
	tmp := fmt.Sprintf("%s.tmp.%d.%d", doc, os.Getpid(), time.Now().UnixNano())
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, doc)
}
