package configs

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestLocalCache: sessions.local_cache_ttl and local_cache_size — defaults (the TTL capped
// for short idle timeouts), 0 kept as "off", and the errors, every one collected.
func TestLocalCache(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		sessions string // the sessions: section, after base
		ttl      time.Duration
		size     int
		errs     []string
	}{
		{"defaults", "", DefaultLocalCacheTTL, DefaultLocalCacheSize, nil},
		{"set", "  local_cache_ttl: 500ms\n  local_cache_size: 50\n", 500 * time.Millisecond, 50, nil},
		{"0 turns it off", "  local_cache_ttl: 0\n  local_cache_size: 0\n", 0, 0, nil},
		{"default capped by a short idle timeout", "  idle_timeout: 20s\n", time.Second, DefaultLocalCacheSize, nil},
		{"at most half the touch interval", "  local_cache_ttl: 31s\n", 0, 0,
			[]string{`9 sessions.local_cache_ttl: must be at most half the touch interval (idle_timeout/10, at most 1m0s): 30s, got 31s`}},
		{"half the touch interval of a short idle timeout", "  idle_timeout: 5m\n  local_cache_ttl: 16s\n", 0, 0,
			[]string{`10 sessions.local_cache_ttl: must be at most half the touch interval (idle_timeout/10, at most 1m0s): 15s, got 16s`}},
		{"negative", "  local_cache_ttl: -1s\n  local_cache_size: -1\n", 0, 0, []string{
			`9 sessions.local_cache_ttl: must not be negative (0 disables the cache), got -1s`,
			`10 sessions.local_cache_size: must not be negative (0 disables the cache), got -1`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := base
			if tc.sessions != "" {
				src += "sessions:\n" + tc.sessions
			}
			c, errs := parseTest(t, src)
			var got []string
			for _, e := range errs {
				got = append(got, fmt.Sprintf("%d %s: %s", e.Line, e.Path, e.Msg))
			}
			if strings.Join(got, "\n") != strings.Join(tc.errs, "\n") {
				t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.errs, "\n"))
			}
			if c == nil {
				return
			}
			if s := c.Sessions; s.LocalCacheTTL != tc.ttl || s.LocalCacheSize != tc.size {
				t.Fatalf("local_cache_ttl %v, local_cache_size %d; want %v, %d", s.LocalCacheTTL, s.LocalCacheSize, tc.ttl, tc.size)
			}
		})
	}
}

func TestTouchInterval(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ idle, want time.Duration }{
		{2 * time.Hour, time.Minute},
		{10 * time.Minute, time.Minute},
		{5 * time.Minute, 30 * time.Second},
		{time.Second, 100 * time.Millisecond},
	} {
		if got := TouchInterval(tc.idle); got != tc.want {
			t.Errorf("TouchInterval(%v) = %v, want %v", tc.idle, got, tc.want)
		}
	}
}
