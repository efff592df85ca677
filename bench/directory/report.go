package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
)

// report renders the measurements in the JSON lines file as markdown on stdout (the script
// puts it into its region of docs/benchmarks.md). built says how long `migrate --indexes`
// took per database ("postgres=31s mysql=8s").
func report(in, commit, built string, stdout io.Writer) error {
	results, err := readResults(in)
	if err != nil {
		return err
	}
	if len(results) == 0 {
		return fmt.Errorf("%s: no measurements", in)
	}
	fmt.Fprint(stdout, render(results, commit, parseBuilt(built)))
	return nil
}

// parseBuilt reads "db=duration" pairs separated by spaces.
func parseBuilt(s string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.Fields(s) {
		if k, v, ok := strings.Cut(f, "="); ok {
			out[k] = v
		}
	}
	return out
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

// render builds the markdown: a table per database with the phases side by side, the
// indexes created and how long that took, and the plans of the main operations.
func render(results []result, commit string, built map[string]string) string {
	var b strings.Builder
	first, last := results[0], results[len(results)-1]
	loMin, loMax := first.Load, first.Load
	for _, r := range results {
		loMin, loMax = min(loMin, r.Load), max(loMax, r.Load)
	}
	b.WriteString("## Directory at scale (`make bench-directory`)\n\n")
	fmt.Fprintf(&b, "%s generated customer users (%s customers) per database, measured one operation at a time by one\n"+
		"client through `directory/sqldb`: the `Get` and `Search` gatehouse runs at login and in the admin UI and API.\n"+
		"*before*: the OTRS schema as it is (gatehouse's indexes dropped); *after*: `gatehouse migrate --indexes`.\n"+
		"p99 is the nearest rank (the slowest run when n < 100); n counts the timed runs; \"cancelled\" means the\n"+
		"database stopped the statement at the benchmark's statement timeout.\n\n",
		thousands(first.Seeded), thousands(first.Companies))
	fmt.Fprintf(&b, "Measured %s on %s, %d CPUs, %s; 1-minute load average %.1f–%.1f (a shared machine); commit %s.\n\n",
		last.Measured.Format("2006-01-02 15:04 UTC"), machine(), runtime.NumCPU(), first.GoVersion, loMin, loMax, orUnknown(commit))
	for _, dbName := range uniq(results, func(r result) string { return r.DB }) {
		var server, collation string
		for _, r := range results {
			if r.DB == dbName {
				server, collation = r.Server, r.Collation
			}
		}
		fmt.Fprintf(&b, "### %s", serverName(dbName, server))
		if collation != "" {
			fmt.Fprintf(&b, " (customer_user.login: %s)", collation)
		}
		b.WriteString("\n\n")
		if dbName == "mysql" {
			b.WriteString("The login and email lookups compare without `LOWER()` where the column's collation already\n" +
				"ignores case the same way (checked on the server, `directory/sqldb/fold.go`): OTRS's unique index on\n" +
				"`login` serves the login lookup in both phases, with no index of gatehouse's.\n\n")
		}
		phases := uniq(results, func(r result) string { return r.Phase })
		b.WriteString("| operation |")
		for _, p := range phases {
			fmt.Fprintf(&b, " %s p50 | %s p99 | n |", p, p)
		}
		b.WriteString(" rows |\n|---|")
		for range phases {
			b.WriteString("---:|---:|---:|")
		}
		b.WriteString("---:|\n")
		for _, key := range uniq(results, func(r result) string { return r.Key }) {
			var name string
			rows := 0
			cells := make([]string, 0, len(phases)*3)
			for _, p := range phases {
				r, ok := find(results, dbName, p, key)
				if !ok {
					cells = append(cells, "", "", "")
					continue
				}
				if name == "" || !r.TimedOut {
					name, rows = r.Name, r.Rows
				}
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
			if name != "" {
				fmt.Fprintf(&b, "| %s | %s | %d |\n", name, strings.Join(cells, " | "), rows)
			}
		}
		b.WriteString("\n")
		if r, ok := find(results, dbName, phases[len(phases)-1], "get"); ok {
			took := ""
			if d := built[dbName]; d != "" {
				took = " (took " + d + ")"
			}
			idx := "none"
			if len(r.Indexes) > 0 {
				idx = "`" + strings.Join(r.Indexes, "`, `") + "`"
			}
			fmt.Fprintf(&b, "Indexes named `gatehouse_*` during *%s*%s: %s.\n\n", r.Phase, took, idx)
		}
		fmt.Fprintf(&b, "<details><summary>%s query plans (EXPLAIN, planned with the values of one run)</summary>\n\n", title(dbName))
		for _, p := range phases {
			for _, key := range []string{"get", "email", "search-smith", "search-miss"} {
				r, ok := find(results, dbName, p, key)
				if !ok || len(r.Plan) == 0 {
					continue
				}
				fmt.Fprintf(&b, "*%s*, %s:\n\n```\n%s\n```\n\n", p, r.Name, strings.Join(r.Plan, "\n"))
			}
		}
		b.WriteString("</details>\n\n")
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

// serverName is the product and version from the server's version() string:
// "PostgreSQL 15.20 (Debian …)" and "10.11.19-MariaDB-0+deb12u1".
func serverName(dialect, version string) string {
	f := strings.Fields(version)
	switch {
	case dialect == "postgres" && len(f) >= 2:
		return f[0] + " " + f[1]
	case dialect == "mysql" && len(f) >= 1:
		v, rest, _ := strings.Cut(f[0], "-")
		if strings.HasPrefix(rest, "MariaDB") {
			return "MariaDB " + v
		}
		return "MySQL " + v
	}
	return title(dialect)
}

// title names a dialect as people write it.
func title(dialect string) string {
	switch dialect {
	case "postgres":
		return "PostgreSQL"
	case "mysql":
		return "MariaDB"
	}
	return dialect
}

// thousands writes n with thin spaces between groups of three digits: 1 000 000.
func thousands(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
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
