package memory_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/sessions"
	"github.com/gatehouse-sso/gatehouse/sessions/memory"
	"github.com/gatehouse-sso/gatehouse/sessions/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) sessions.Store { return memory.New() })
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestSweep(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		live, expired int
	}{
		{"empty", 0, 0},
		{"small", 10, 20},
		{"mostly expired, several rounds", 500, 5000},
		{"mostly live", 5000, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Unix(1700000000, 0)}
			st := memory.New(memory.WithClock(clock.Now), memory.WithSweepInterval(0))
			defer st.Close()
			ctx := context.Background()
			s := &sessions.Session{Claims: claims.Set{Login: "alice"}}
			for i := range tc.live + tc.expired {
				exp := clock.Now().Add(time.Hour)
				if i < tc.expired {
					exp = clock.Now().Add(time.Minute)
				}
				if err := st.Save(ctx, sessions.Key(string(rune(i))+"k"), s, exp); err != nil {
					t.Fatal(err)
				}
			}
			clock.Add(2 * time.Minute)
			// Large stores are sampled: expired sessions go within a few sweeps.
			removed := 0
			for i := 0; i < 1000 && st.Len() > tc.live; i++ {
				removed += st.Sweep()
			}
			if removed != tc.expired || st.Len() != tc.live {
				t.Fatalf("swept %d, %d left; want %d, %d", removed, st.Len(), tc.expired, tc.live)
			}
			if n, _ := st.DeleteUser(ctx, "alice"); n != tc.live {
				t.Fatalf("DeleteUser = %d, want %d (index out of step)", n, tc.live)
			}
		})
	}
}

func TestBackgroundSweeper(t *testing.T) {
	t.Parallel()
	st := memory.New(memory.WithSweepInterval(10 * time.Millisecond))
	ctx := context.Background()
	if err := st.Save(ctx, "k", &sessions.Session{Claims: claims.Set{Login: "a"}}, time.Now().Add(20*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for st.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("sweeper did not remove the expired session")
		}
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan struct{})
	go func() { _ = st.Close(); _ = st.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not stop the sweeper")
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "memory"} {
		st, err := sessions.Open(configs.Sessions{Store: name})
		if err != nil {
			t.Fatalf("Open(%q): %v", name, err)
		}
		if _, ok := st.(*memory.Store); !ok {
			t.Fatalf("Open(%q) = %T", name, st)
		}
		_ = st.Close()
	}
	if _, err := sessions.Open(configs.Sessions{Store: "etcd"}); err == nil {
		t.Fatal("Open(etcd) succeeded")
	}
}

func TestGetAfterClose(t *testing.T) {
	t.Parallel()
	st := memory.New()
	_ = st.Close()
	if _, err := st.Get(context.Background(), "k"); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("Get = %v", err)
	}
}
