// Package redis is the Redis session store, on the go-redis universal client: a single
// server (redis:// or rediss:// URL), Sentinel (addrs + master_name) or Cluster (addrs +
// cluster: true). gatehouse nodes sharing one Redis share their sessions.
//
// Importing the package registers it with sessions.Open as "redis".
//
// # Key layout
//
//	<prefix>s:<key>    hash {d: session JSON, t: LastSeen (Unix ns), l: login}, PEXPIREAT expiry
//	<prefix>u:<login>  sorted set of the login's keys, scored by their expiry (Unix ms),
//	                   PEXPIREAT = the highest score (the longest session)
//
// <key> is sessions.Key(id), the SHA-256 of the session id: a Redis dump does not hand out
// live sessions. The session is a hash rather than one JSON string so that Touch rewrites
// only LastSeen, atomically and without a read-modify-write round trip. The per-login index
// is scored by expiry so that it prunes itself: every index update first drops members
// whose score is past (by the Redis server's clock, the clock that expires the session
// keys), so it does not grow with logins that ended by expiry.
//
// # Consistency, and why no hash tags
//
// The invariant that matters is: every live session is in its login's index, with a score
// no earlier than its expiry — else DeleteUser could miss it, and a revoked user would keep
// a session. A stale index member (a session already gone) is harmless: DeleteUser deletes
// a missing key and does not count it.
//
// On a single server and with Sentinel, Save and Touch update the index and the session in
// one Lua script (atomic; the index first, so an error there aborts before the session is
// written). In Cluster mode the two keys hash to different slots, and neither a script
// nor MULTI can span slots. Hash tags cannot fix that: the
// session key would need the login in its tag, but Get knows only the key. So in Cluster
// mode every command touches one key and the order keeps the invariant: the index is
// updated first and the session written only when that succeeded; Delete removes the
// session first and the index member after. DeleteUser reads the index, deletes the
// members' sessions and removes exactly those members (never the whole index, which may
// have gained a member meanwhile) — in one MULTI, or a per-node pipeline in Cluster mode.
// A key_prefix containing a hash tag ("{gh}:") puts every key in one slot; the store still
// uses the Cluster code path then, which is correct either way.
//
// Every Redis error (network, timeout, server) is wrapped with sessions.ErrUnavailable, so
// the gateway fails closed; redis.Nil becomes sessions.ErrNotFound. go-redis keeps a pool
// and reconnects by itself when Redis comes back; the Store needs no restart.
package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/sessions"
)

func init() {
	sessions.Register("redis", func(cfg configs.Sessions) (sessions.Store, error) { return New(cfg.Redis) })
}

// Defaults for unset configuration values.
const (
	// DefaultTimeout bounds each store operation when configs.Redis.Timeout is zero.
	DefaultTimeout = time.Second
	// DefaultKeyPrefix is used when configs.Redis.KeyPrefix is empty.
	DefaultKeyPrefix = "gatehouse:"
)

// Hash fields of a stored session.
const (
	fieldData     = "d"
	fieldLastSeen = "t"
	fieldLogin    = "l"
)

// luaIndex is shared by the scripts: index(ukey, member, score, mode) updates the
// per-login index ukey. It drops members expired by the server clock, then adds (mode
// "add") or raises (mode "xx": an existing member only, upwards only) member with score
// (expiry, Unix ms), and sets the index's expiry to its highest score. It needs
// replicate_commands (the default since Redis 5) because it reads TIME before writing.
const luaIndex = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local function index(ukey, member, score, mode)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZREMRANGEBYSCORE', ukey, '-inf', '(' .. now)
  if mode == 'xx' then
    local cur = redis.call('ZSCORE', ukey, member)
    if not cur or tonumber(cur) >= tonumber(score) then return end
  end
  redis.call('ZADD', ukey, score, member)
  local top = redis.call('ZRANGE', ukey, -1, -1, 'WITHSCORES')
  if top[2] then redis.call('PEXPIREAT', ukey, string.format('%.0f', tonumber(top[2]))) end
end
`

// indexScript runs index on KEYS[1] with ARGV[1..3] (Cluster mode, before the session).
var indexScript = goredis.NewScript(luaIndex + `
index(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
return 1
`)

// saveScript writes the session KEYS[1] (data ARGV[1], last seen ARGV[2], login ARGV[3],
// expiry ARGV[4] in Unix ms). With KEYS[2] it first adds member ARGV[5] to that index in
// the same atomic script; a failing index update then leaves no session behind.
var saveScript = goredis.NewScript(luaIndex + `
if KEYS[2] then index(KEYS[2], ARGV[5], ARGV[4], 'add') end
redis.call('HSET', KEYS[1], 'd', ARGV[1], 't', ARGV[2], 'l', ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return 1
`)

// touchScript sets last seen (ARGV[1]) and the expiry (ARGV[2], Unix ms) of the session
// KEYS[1] if it exists, with KEYS[2] first raising member ARGV[3] of that index. It returns
// nil for a missing session, so Touch never revives one that ended meanwhile (logout on
// another node).
var touchScript = goredis.NewScript(luaIndex + `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if KEYS[2] then index(KEYS[2], ARGV[3], ARGV[2], 'xx') end
redis.call('HSET', KEYS[1], 't', ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
`)

// deleteScript deletes the session KEYS[1] and returns its login (nil when missing). When
// there was one it publishes ARGV[2] on the invalidation channel ARGV[1], in the same
// atomic step: no process can read the session after the message went out.
var deleteScript = goredis.NewScript(`
local l = redis.call('HGET', KEYS[1], 'l')
redis.call('DEL', KEYS[1])
if l then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return l
`)

// Store is a sessions.Store and a sessions.Invalidator on Redis (see feed.go). It is safe
// for concurrent use.
type Store struct {
	client  goredis.UniversalClient
	cluster bool
	prefix  string
	timeout time.Duration

	// The invalidation feed; subMu is held while subscribers are called (one at a time).
	subMu       sync.Mutex
	subs        map[int]func(sessions.Invalidation)
	subNext     int
	live        bool      // the subscription is confirmed
	until       time.Time // the feed's lease (sessions.Invalidation.Until) while live
	feedStarted bool
	closed      bool
	feedStop    context.CancelFunc
	feedDone    chan struct{}
	pubsub      *goredis.PubSub
	closeOnce   sync.Once
	closeErr    error
}

var (
	_ sessions.Store       = (*Store)(nil)
	_ sessions.Invalidator = (*Store)(nil)
)

// New returns a Store for cfg. It does not contact Redis (the gateway may start before
// Redis does); Ping does.
//
// Exactly one of URL (redis:// or rediss://, single server) and Addrs must be set. Addrs
// with MasterName is Sentinel; Addrs with Cluster is Cluster; one address alone is a
// single server. Username, Password (or PasswordFile) and DB override the URL's; DB must
// be 0 in Cluster mode. Timeout bounds every store operation, retries included.
func New(cfg configs.Redis) (*Store, error) {
	password := cfg.Password
	if password == "" && cfg.PasswordFile != "" {
		b, err := os.ReadFile(cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("redis password_file: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	prefix := cfg.KeyPrefix
	if prefix == "" {
		prefix = DefaultKeyPrefix
	}
	st := &Store{prefix: prefix, timeout: timeout}

	switch {
	case cfg.URL != "" && len(cfg.Addrs) > 0:
		return nil, errors.New("redis: set either url or addrs, not both")
	case cfg.URL != "":
		if cfg.MasterName != "" || cfg.Cluster {
			return nil, errors.New("redis: url is a single server; Sentinel (master_name) and Cluster take addrs")
		}
		opt, err := goredis.ParseURL(cfg.URL)
		if err != nil {
			// url.Error repeats the URL, password included: keep only the reason.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return nil, fmt.Errorf("redis: invalid url: %w", err)
		}
		if cfg.Username != "" {
			opt.Username = cfg.Username
		}
		if password != "" {
			opt.Password = password
		}
		if cfg.DB != 0 {
			opt.DB = cfg.DB
		}
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.PoolTimeout = timeout, timeout, timeout, timeout
		opt.ContextTimeoutEnabled = true
		st.client = goredis.NewClient(opt)
	case len(cfg.Addrs) > 0:
		uo := &goredis.UniversalOptions{
			Addrs:                 cfg.Addrs,
			Username:              cfg.Username,
			Password:              password,
			DB:                    cfg.DB,
			MasterName:            cfg.MasterName,
			DialTimeout:           timeout,
			ReadTimeout:           timeout,
			WriteTimeout:          timeout,
			PoolTimeout:           timeout,
			ContextTimeoutEnabled: true,
		}
		switch {
		case cfg.MasterName != "" && cfg.Cluster:
			return nil, errors.New("redis: master_name (Sentinel) and cluster exclude each other")
		case cfg.MasterName != "":
			st.client = goredis.NewFailoverClient(uo.Failover())
		case cfg.Cluster:
			if cfg.DB != 0 {
				return nil, errors.New("redis: Cluster has only db 0")
			}
			st.client = goredis.NewClusterClient(uo.Cluster())
			st.cluster = true
		case len(cfg.Addrs) == 1:
			st.client = goredis.NewClient(uo.Simple())
		default:
			return nil, errors.New("redis: several addrs need master_name (Sentinel) or cluster: true")
		}
	default:
		return nil, errors.New("redis: url or addrs required")
	}
	return st, nil
}

func (s *Store) sessionKey(key string) string { return s.prefix + "s:" + key }
func (s *Store) userKey(login string) string  { return s.prefix + "u:" + login }

// fail maps a client error: redis.Nil to sessions.ErrNotFound, anything else to an error
// wrapping sessions.ErrUnavailable (and the cause). Keys are shown truncated.
func fail(op, key string, err error) error {
	if errors.Is(err, goredis.Nil) {
		return sessions.ErrNotFound
	}
	if key != "" {
		op += " " + sessions.ShortKey(key)
	}
	return fmt.Errorf("redis %s: %w: %w", op, sessions.ErrUnavailable, err)
}

// Get returns the session under key, or sessions.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (*sessions.Session, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	vals, err := s.client.HMGet(ctx, s.sessionKey(key), fieldData, fieldLastSeen).Result()
	if err != nil {
		return nil, fail("get", key, err)
	}
	data, ok := vals[0].(string)
	if !ok {
		return nil, sessions.ErrNotFound
	}
	sess := new(sessions.Session)
	err = json.Unmarshal([]byte(data), sess)
	if t, ok := vals[1].(string); ok && err == nil {
		var ns int64
		if ns, err = strconv.ParseInt(t, 10, 64); err == nil {
			sess.LastSeen = time.Unix(0, ns)
		}
	}
	if err != nil {
		// A session that cannot be read is no session: it is removed, so its cookie leads to
		// a new login rather than to 503 until it expires.
		_ = s.Delete(ctx, key)
		return nil, fmt.Errorf("redis get %s: corrupt session (removed): %v: %w", sessions.ShortKey(key), err, sessions.ErrNotFound)
	}
	return sess, nil
}

// Save stores sess under key until expires and adds key to its login's index (first).
func (s *Store) Save(ctx context.Context, key string, sess *sessions.Session, expires time.Time) error {
	data, err := json.Marshal(sess)
	if err != nil {
		return fmt.Errorf("redis save %s: %w", sessions.ShortKey(key), err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	keys := []string{s.sessionKey(key), s.userKey(sess.Claims.Login)}
	ms := expires.UnixMilli()
	if s.cluster {
		// Different slots: the index first, the session only when that worked.
		if err := indexScript.Run(ctx, s.client, keys[1:], key, ms, "add").Err(); err != nil {
			return fail("save index", key, err)
		}
		keys = keys[:1]
	}
	err = saveScript.Run(ctx, s.client, keys, data, sess.LastSeen.UnixNano(), sess.Claims.Login, ms, key).Err()
	if err != nil {
		return fail("save", key, err)
	}
	return nil
}

// Touch sets LastSeen and the expiry of the session under key, raising its index score
// first; a missing session gives sessions.ErrNotFound and is not created.
func (s *Store) Touch(ctx context.Context, key string, lastSeen, expires time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	sk, ms := s.sessionKey(key), expires.UnixMilli()
	login, err := s.client.HGet(ctx, sk, fieldLogin).Result()
	if err != nil {
		return fail("touch", key, err)
	}
	keys := []string{sk, s.userKey(login)}
	if s.cluster {
		// Different slots: raise the index score first (harmless if the touch then fails).
		if err := indexScript.Run(ctx, s.client, keys[1:], key, ms, "xx").Err(); err != nil {
			return fail("touch index", key, err)
		}
		keys = keys[:1]
	}
	if err := touchScript.Run(ctx, s.client, keys, lastSeen.UnixNano(), ms, key).Err(); err != nil {
		return fail("touch", key, err)
	}
	return nil
}

// Delete removes the session under key and its index member, and publishes the
// invalidation (to this process's subscribers before it returns); a missing session is not
// an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	login, err := deleteScript.Run(ctx, s.client, []string{s.sessionKey(key)}, s.channel(), msgKey+key).Text()
	if errors.Is(err, goredis.Nil) {
		return nil
	}
	if err != nil {
		return fail("delete", key, err)
	}
	s.deliver(sessions.Invalidation{Kind: sessions.InvalidateKey, Key: key})
	if err := s.client.ZRem(ctx, s.userKey(login), key).Err(); err != nil {
		return fail("delete index", key, err)
	}
	return nil
}

// DeleteUser removes every session in login's index and those members, publishes the
// invalidation (to this process's subscribers before it returns), and reports how many
// sessions were still live.
func (s *Store) DeleteUser(ctx context.Context, login string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	uk := s.userKey(login)
	keys, err := s.client.ZRange(ctx, uk, 0, -1).Result()
	if err != nil {
		return 0, fail("delete user", "", err)
	}
	if len(keys) == 0 {
		return 0, nil
	}
	dels := make([]*goredis.IntCmd, len(keys))
	members := make([]any, len(keys))
	msg := msgUser + login
	batch := func(p goredis.Pipeliner) error {
		for i, k := range keys {
			dels[i] = p.Del(ctx, s.sessionKey(k)) // per key: the keys may live in different slots
			members[i] = k
		}
		p.ZRem(ctx, uk, members...)
		if !s.cluster {
			p.Publish(ctx, s.channel(), msg) // in the MULTI: after the deletes, atomically
		}
		return nil
	}
	if s.cluster {
		_, err = s.client.Pipelined(ctx, batch)
		if err == nil {
			// Only now: the pipeline's deletes go to several nodes at once, and a message that
			// overtook one would let a process cache the session again.
			err = s.client.Publish(ctx, s.channel(), msg).Err()
		}
	} else {
		_, err = s.client.TxPipelined(ctx, batch)
	}
	if err != nil {
		return 0, fail("delete user", "", err)
	}
	s.deliver(sessions.Invalidation{Kind: sessions.InvalidateUser, Login: login})
	n := 0
	for _, d := range dels {
		n += int(d.Val())
	}
	return n, nil
}

// Ping reports whether Redis answers, as an error wrapping sessions.ErrUnavailable.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fail("ping", "", err)
	}
	return nil
}

// Close ends the invalidation feed (its subscribers get FeedDown) and closes the client's
// connections. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stopFeed()
		s.closeErr = s.client.Close()
	})
	return s.closeErr
}
