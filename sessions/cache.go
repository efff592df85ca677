package sessions

import (
	"crypto/sha256"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// digest is a session id's SHA-256, the local cache's key: the cache never holds raw ids.
type digest = [sha256.Size]byte

// cacheShards spreads the cache over independently locked maps, so that concurrent
// requests rarely wait on one lock. A power of two (the shard is digest[0] masked).
const cacheShards = 16

// localCache holds recently loaded sessions for a short time (ttl), in front of a store
// that is an Invalidator. It is only trusted while the store's feed is live: every
// invalidation bumps gen, and a miss stores what it read only if gen did not move
// meanwhile, so a session ended while it was being read is never cached.
type localCache struct {
	ttl      time.Duration
	perShard int // most entries per shard

	live atomic.Bool   // the feed is confirmed live
	gen  atomic.Uint64 // bumped by every event of the feed
	// lease is how long the feed vouches for itself (Invalidation.Until), as monoNow reads
	// time; noLease while it vouches until FeedDown.
	lease atomic.Int64

	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[digest]*cacheEntry
	_  [32]byte // pad to a cache line (RWMutex 24 + map 8 bytes): shards do not share one
}

// cacheEntry is one cached session. The *Session it points to is never modified once
// stored (readers share it): a touch stores a new copy instead.
type cacheEntry struct {
	s        atomic.Pointer[Session]
	until    time.Time   // cached until (fetch time + ttl); immutable
	touching atomic.Bool // one goroutine writes the sliding expiry back at a time
}

// noLease is the lease of a feed that vouches for itself until FeedDown.
const noLease = math.MaxInt64

// monoBase anchors monoNow: leases are compared on the monotonic clock, never the wall
// clock (nor a Manager's test clock), so a clock step cannot stretch one.
var monoBase = time.Now()

// monoNow is the monotonic time in nanoseconds since monoBase.
func monoNow() int64 { return int64(time.Since(monoBase)) }

// monoOf is t (read from time.Now, with its monotonic reading) as monoNow reads it.
func monoOf(t time.Time) int64 { return int64(t.Sub(monoBase)) }

func newLocalCache(ttl time.Duration, maxEntries int) *localCache {
	c := &localCache{ttl: ttl, perShard: max(1, (maxEntries+cacheShards-1)/cacheShards)}
	c.lease.Store(noLease)
	for i := range c.shards {
		c.shards[i].m = make(map[digest]*cacheEntry)
	}
	return c
}

func (c *localCache) shard(d *digest) *cacheShard { return &c.shards[d[0]&(cacheShards-1)] }

// usable reports whether cached entries may be used now: the feed is live and within
// its lease.
func (c *localCache) usable() bool {
	if !c.live.Load() {
		return false
	}
	lease := c.lease.Load()
	return lease == noLease || monoNow() < lease
}

// get returns the entry for d if the cache is usable and the entry is younger than ttl.
func (c *localCache) get(d *digest, now time.Time) *cacheEntry {
	if !c.usable() {
		return nil
	}
	sh := c.shard(d)
	sh.mu.RLock()
	e := sh.m[*d]
	sh.mu.RUnlock()
	if e == nil || !now.Before(e.until) {
		return nil
	}
	return e
}

// put caches s under d unless an invalidation happened since gen was read (or the feed is
// not live), and reports whether it did; s is then shared. A full shard first drops its
// expired entries, then an arbitrary one.
func (c *localCache) put(d *digest, s *Session, gen uint64, now time.Time) bool {
	e := &cacheEntry{until: now.Add(c.ttl)}
	e.s.Store(s)
	sh := c.shard(d)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	// Checked under the shard lock: an event bumps gen before it takes this lock to evict,
	// so either this sees the new gen or the event's eviction comes after this insert.
	if !c.live.Load() || c.gen.Load() != gen {
		return false
	}
	if _, ok := sh.m[*d]; !ok && len(sh.m) >= c.perShard {
		for k, old := range sh.m {
			if !now.Before(old.until) {
				delete(sh.m, k)
			}
		}
		if len(sh.m) >= c.perShard {
			for k := range sh.m { // map order is random: an arbitrary victim
				delete(sh.m, k)
				break
			}
		}
	}
	sh.m[*d] = e
	return true
}

// drop removes d's entry if it is still e (a newer entry stays).
func (c *localCache) drop(d *digest, e *cacheEntry) {
	sh := c.shard(d)
	sh.mu.Lock()
	if sh.m[*d] == e {
		delete(sh.m, *d)
	}
	sh.mu.Unlock()
}

// invalidate applies one event of the store's feed.
func (c *localCache) invalidate(ev Invalidation) {
	c.gen.Add(1) // first: a miss in flight must not cache what it read
	switch ev.Kind {
	case InvalidateKey:
		d, ok := digestOf(ev.Key)
		if !ok {
			c.flush() // not a key this cache could hold; be safe
			return
		}
		sh := c.shard(&d)
		sh.mu.Lock()
		delete(sh.m, d)
		sh.mu.Unlock()
	case InvalidateUser:
		for i := range c.shards {
			sh := &c.shards[i]
			sh.mu.Lock()
			for k, e := range sh.m {
				if e.s.Load().Claims.Login == ev.Login {
					delete(sh.m, k)
				}
			}
			sh.mu.Unlock()
		}
	case FeedLive:
		c.flush()
		if ev.Until.IsZero() {
			c.lease.Store(noLease)
		} else {
			c.lease.Store(monoOf(ev.Until))
		}
		c.live.Store(true)
		c.gen.Add(1)
	case FeedFresh:
		// Nothing was missed: no gen bump, nothing dropped; the lease only moves forward.
		if ev.Until.IsZero() {
			return
		}
		until := monoOf(ev.Until)
		for {
			cur := c.lease.Load()
			if cur == noLease || until <= cur || c.lease.CompareAndSwap(cur, until) {
				return
			}
		}
	case FeedDown:
		c.live.Store(false)
		c.gen.Add(1)
		c.flush()
	default:
		c.flush()
	}
}

func (c *localCache) flush() {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		clear(sh.m)
		sh.mu.Unlock()
	}
}

// len reports the number of cached entries, expired ones included.
func (c *localCache) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
