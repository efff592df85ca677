package sessions_test

import (
	"bytes"
	"context"
	"sync"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/sessions"
	"github.com/gatehouse-sso/gatehouse/sessions/memory"
	"github.com/gatehouse-sso/gatehouse/sessions/redis"
)

// Every process sharing a store gets the same secret, however many ask at once.
func TestSharedSecret(t *testing.T) {
	prefix := testenv.RandomName("gh_test_") + ":"
	addr := testenv.RedisAddr(t)
	t.Cleanup(func() {
		c := goredis.NewClient(&goredis.Options{Addr: addr})
		defer c.Close()
		c.Del(context.Background(), prefix+"secret:oidc-state")
	})
	for _, tc := range []struct {
		name string
		open func(t *testing.T) sessions.SecretKeeper
	}{
		{"memory", func(*testing.T) sessions.SecretKeeper { return memory.New() }},
		{"redis", func(t *testing.T) sessions.SecretKeeper {
			st, err := redis.New(configs.Redis{URL: "redis://" + addr, KeyPrefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keepers := []sessions.SecretKeeper{tc.open(t)}
			if tc.name == "redis" { // a second process on the same Redis
				keepers = append(keepers, tc.open(t))
			}
			var mu sync.Mutex
			var got [][]byte
			var wg sync.WaitGroup
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func(k sessions.SecretKeeper) {
					defer wg.Done()
					v, err := k.SharedSecret(context.Background(), "oidc-state", 32)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					got = append(got, v)
					mu.Unlock()
				}(keepers[i%len(keepers)])
			}
			wg.Wait()
			for _, v := range got {
				if len(v) != 32 || !bytes.Equal(v, got[0]) {
					t.Fatalf("secrets differ: %x vs %x", v, got[0])
				}
			}
		})
	}
}
