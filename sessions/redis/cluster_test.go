package redis

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/sessions"
	"github.com/gatehouse-sso/gatehouse/sessions/storetest"
)

// startCluster starts a throwaway three-node Redis Cluster (no replicas) and returns its
// addresses once every slot is served.
func startCluster(t *testing.T) []string {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		if testenv.Required() {
			t.Fatalf("redis-cli not found: %v", err)
		}
		t.Skip("redis-cli not found")
	}
	var addrs []string
	for range 3 {
		srv := testenv.StartRedisServer(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000")
		addrs = append(addrs, srv.Addr())
	}
	create := exec.Command(cli, append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	st := newClusterStore(t, addrs, "gh_wait:")
	defer st.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := st.client.ClusterInfo(context.Background()).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return addrs
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not ok: %v %s", err, info)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// newClusterStore returns a Store on the Cluster at addrs, closed at the end of the test.
func newClusterStore(t *testing.T, addrs []string, prefix string) *Store {
	t.Helper()
	st, err := New(configs.Redis{Addrs: addrs, Cluster: true, KeyPrefix: prefix, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// startSentinel starts a throwaway master and a Sentinel monitoring it as gh-master, and
// returns the Sentinel's address once the master is found through it.
func startSentinel(t *testing.T) string {
	t.Helper()
	master := testenv.StartRedisServer(t)
	host, port, _ := strings.Cut(master.Addr(), ":")
	sentinel := testenv.StartRedisServerConf(t, "sentinel monitor gh-master "+host+" "+port+" 1\n", "--sentinel")
	st := newSentinelStore(t, sentinel.Addr(), "gh_wait:")
	defer st.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := st.Ping(context.Background())
		if err == nil {
			return sentinel.Addr()
		}
		if time.Now().After(deadline) {
			t.Fatalf("no master through Sentinel: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// newSentinelStore returns a Store through the Sentinel at addr, closed at the end of the
// test.
func newSentinelStore(t *testing.T, addr, prefix string) *Store {
	t.Helper()
	st, err := New(configs.Redis{Addrs: []string{addr}, MasterName: "gh-master", KeyPrefix: prefix, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// TestCluster runs the conformance suite on a throwaway three-node Redis Cluster, where a
// session and its login's index live on different slots (and usually nodes): the
// per-key, index-first code path.
func TestCluster(t *testing.T) {
	t.Parallel()
	addrs := startCluster(t)
	st := newClusterStore(t, addrs, testenv.RandomName("gh_test_")+":")
	defer st.Close()
	ctx := context.Background()
	cc := st.client
	if cc.ClusterKeySlot(ctx, st.sessionKey(sessions.Key("x"))).Val() == cc.ClusterKeySlot(ctx, st.userKey("alice")).Val() {
		t.Fatal("test premise: session and index keys share a slot")
	}
	storetest.Run(t, func(t *testing.T) sessions.Store {
		return newClusterStore(t, addrs, testenv.RandomName("gh_test_")+":")
	})
}

// TestSentinel runs the conformance suite through a throwaway Sentinel that monitors a
// throwaway master: the store finds the master by name.
func TestSentinel(t *testing.T) {
	t.Parallel()
	addr := startSentinel(t)
	storetest.Run(t, func(t *testing.T) sessions.Store {
		return newSentinelStore(t, addr, testenv.RandomName("gh_test_")+":")
	})
}
