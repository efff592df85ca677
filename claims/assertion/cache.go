package assertion

import (
	"container/list"
	"hash/maphash"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-sso/gatehouse/claims"
)

// Cache bounds: the whole cache holds at most cacheShards × cacheShardSize tokens (16384,
// about 16 MiB of tokens of 1 KiB); each shard evicts its least recently used entry when full.
const (
	cacheShards    = 16
	cacheShardSize = 1024
)

// cacheKey identifies a cached token: one per session and audience.
type cacheKey struct {
	session, audience string
}

// entry is a cached token with what it was signed for.
type entry struct {
	key   cacheKey
	token string
	kid   string
	// reuseUntil is when half of the token's lifetime has passed.
	reuseUntil time.Time
	// set is a copy of the claim set the token carries; a lookup with other claims misses.
	set claims.Set
}

// tokenCache is a sharded LRU of signed tokens, safe for concurrent use.
type tokenCache struct {
	seed     maphash.Seed
	perShard int
	shards   [cacheShards]cacheShard
}

type cacheShard struct {
	mu    sync.Mutex
	items map[cacheKey]*list.Element
	lru   list.List // of *entry, most recently used first
}

// newTokenCache returns a cache of at most cacheShards × perShard tokens.
func newTokenCache(perShard int) *tokenCache {
	c := &tokenCache{seed: maphash.MakeSeed(), perShard: perShard}
	for i := range c.shards {
		c.shards[i].items = make(map[cacheKey]*list.Element)
	}
	return c
}

func (c *tokenCache) shard(k cacheKey) *cacheShard {
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteString(k.session)
	h.WriteByte(0)
	h.WriteString(k.audience)
	return &c.shards[h.Sum64()%cacheShards]
}

// get returns the cached token for k if it was signed by kid for the same claims and more
// than half of its lifetime remains at now.
func (c *tokenCache) get(k cacheKey, kid string, s *claims.Set, now time.Time) (string, bool) {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	el, ok := sh.items[k]
	if !ok {
		return "", false
	}
	e := el.Value.(*entry)
	if e.kid != kid || !now.Before(e.reuseUntil) || !sameClaims(&e.set, s) {
		sh.lru.Remove(el)
		delete(sh.items, k)
		return "", false
	}
	sh.lru.MoveToFront(el)
	return e.token, true
}

// put stores e, evicting the least recently used entry of its shard when the shard is full.
func (c *tokenCache) put(e *entry) {
	sh := c.shard(e.key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if el, ok := sh.items[e.key]; ok {
		el.Value = e
		sh.lru.MoveToFront(el)
		return
	}
	sh.items[e.key] = sh.lru.PushFront(e)
	for sh.lru.Len() > c.perShard {
		last := sh.lru.Back()
		sh.lru.Remove(last)
		delete(sh.items, last.Value.(*entry).key)
	}
}

// clear drops every entry (after a rotation: new tokens come from the new key).
func (c *tokenCache) clear() {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		clear(sh.items)
		sh.lru.Init()
		sh.mu.Unlock()
	}
}

// len is the number of cached tokens.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += sh.lru.Len()
		sh.mu.Unlock()
	}
	return n
}

// cloneClaims copies s deeply, so that a caller changing its Set afterwards cannot change
// what the cache compares with.
func cloneClaims(s *claims.Set) claims.Set {
	c := *s
	c.CustomerIDs = slices.Clone(s.CustomerIDs)
	if s.Groups != nil {
		c.Groups = make(map[string][]string, len(s.Groups))
		for g, p := range s.Groups {
			c.Groups[g] = slices.Clone(p)
		}
	}
	c.Attrs = maps.Clone(s.Attrs)
	return c
}

// sameClaims reports whether a and b carry the same claims (nil and empty count as equal,
// as they render the same: the claims are omitted).
func sameClaims(a, b *claims.Set) bool {
	return a.Login == b.Login && a.Email == b.Email && a.Name == b.Name && a.CustomerID == b.CustomerID &&
		a.Source == b.Source && a.AuthModule == b.AuthModule &&
		slices.Equal(a.CustomerIDs, b.CustomerIDs) &&
		maps.EqualFunc(a.Groups, b.Groups, slices.Equal) &&
		maps.Equal(a.Attrs, b.Attrs)
}
