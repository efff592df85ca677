package redis

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-sso/gatehouse/sessions"
)

// The invalidation feed (sessions.Invalidator).
//
// Delete and DeleteUser PUBLISH what ended on <prefix>invalidate ("k:<key>" or
// "u:<login>"), and every process that caches sessions SUBSCRIBEs to it: one connection,
// read by one goroutine. Plain (not sharded) pub/sub, so in Cluster mode a message reaches
// the subscribers on every node; with Sentinel, go-redis follows the master. The feed is
// live only from the server's confirmation of the SUBSCRIBE: go-redis reconnects and
// resubscribes by itself after an error, and the confirmation that follows tells the
// subscribers to forget what they cached, since messages published meanwhile are lost. A
// quiet connection is PINGed; one that answers nothing for another interval is reported
// down (a stalled link does not always fail a read).
//
// Noticing a stall takes seconds, so the feed also vouches for itself in short leases: a
// second goroutine PINGs the subscription connection every feedBeat with its send time as
// the payload. Redis answers on the same connection after every message published before
// it took the PING, so the PONG proves that nothing published before that send time is
// still on its way, and the subscribers get FeedFresh with Until = send time + feedLease.
// A link that stalls silently therefore stops the local caches within feedLease of the
// first revocation they might miss, long before the stall is reported.

// feedPing is how long the feed may stay quiet before it is PINGed, and how long the PONG
// may take before the feed is reported down.
const feedPing = time.Second

// feedLease is how long a revocation may go unseen by a process whose feed stalled
// silently (issue 8: refused everywhere within 100 ms); feedBeat is the PING interval that
// renews it, a quarter of it so that a late PONG or two do not interrupt the cache.
const (
	feedLease = 100 * time.Millisecond
	feedBeat  = feedLease / 4
)

// Backoff between attempts to reach Redis while the feed is down.
const (
	feedRetryMin = 50 * time.Millisecond
	feedRetryMax = time.Second
)

// Message payload prefixes.
const (
	msgKey  = "k:"
	msgUser = "u:"
)

func (s *Store) channel() string { return s.prefix + "invalidate" }

// Subscribe implements sessions.Invalidator. fn learns the feed's state at once (FeedDown
// until the first subscription is confirmed); the first call starts the feed.
func (s *Store) Subscribe(fn func(sessions.Invalidation)) (cancel func()) {
	s.subMu.Lock()
	if s.subs == nil {
		s.subs = make(map[int]func(sessions.Invalidation))
	}
	id := s.subNext
	s.subNext++
	s.subs[id] = fn
	state := sessions.Invalidation{Kind: sessions.FeedDown}
	if s.live {
		state = sessions.Invalidation{Kind: sessions.FeedLive, Until: s.until}
	}
	fn(state)
	start := !s.feedStarted && !s.closed
	if start {
		s.feedStarted = true
		ctx, stop := context.WithCancel(context.Background())
		s.feedStop = stop
		s.feedDone = make(chan struct{})
		// No channel yet: this does not dial, the goroutine does.
		s.pubsub = s.client.Subscribe(ctx)
		go s.feed(ctx, s.pubsub, s.feedDone)
		go s.beat(ctx, s.pubsub)
	}
	s.subMu.Unlock()
	return func() {
		s.subMu.Lock()
		delete(s.subs, id)
		s.subMu.Unlock()
	}
}

// deliver hands ev to every subscriber, one call at a time.
func (s *Store) deliver(ev sessions.Invalidation) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	for _, fn := range s.subs {
		fn(ev)
	}
}

// setLive records the feed's state and tells the subscribers: FeedLive at every
// confirmation (each may follow lost messages), FeedDown once per outage.
func (s *Store) setLive(live bool, why error) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	if !live && !s.live {
		return
	}
	was := s.live
	s.live = live
	ev := sessions.Invalidation{Kind: sessions.FeedDown}
	if live {
		// Confirmed now: nothing published from now on can be missed unseen for longer
		// than the lease, which the beat renews.
		s.until = time.Now().Add(feedLease)
		ev = sessions.Invalidation{Kind: sessions.FeedLive, Until: s.until}
	}
	for _, fn := range s.subs {
		fn(ev)
	}
	switch {
	case live && !was:
		logger().Info("session invalidation feed live: the local session cache is in use", "channel", s.channel())
	case !live && errors.Is(why, errStoreClosed):
		// Closing is deliberate: nothing to warn about.
	case !live:
		logger().Warn("session invalidation feed down: every request asks Redis until it is back", "channel", s.channel(), "err", why)
	}
}

// feed reads the subscription until ctx ends.
func (s *Store) feed(ctx context.Context, ps *goredis.PubSub, done chan struct{}) {
	defer close(done)
	ch := s.channel()
	// Recorded even when Redis is down: go-redis then subscribes at every (re)connect.
	if err := ps.Subscribe(ctx, ch); err != nil && ctx.Err() == nil {
		s.setLive(false, err)
	}
	retry := feedRetryMin
	pinged, stalled := false, false
	for {
		msg, err := ps.ReceiveTimeout(ctx, feedPing)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if isTimeout(err) {
				if pinged {
					// Nothing, not even the PONG, for a whole interval.
					stalled = true
					s.setLive(false, errors.New("no answer to PING within "+feedPing.String()))
				}
				if err := ps.Ping(ctx); err == nil {
					pinged = true
					continue
				}
				// The PING could not be written: go-redis has dropped the connection.
			}
			pinged, stalled = false, false
			s.setLive(false, err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(retry):
			}
			retry = min(2*retry, feedRetryMax)
			continue
		}
		retry, pinged = feedRetryMin, false
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" && m.Channel == ch {
				stalled = false
				s.setLive(true, nil)
			}
		case *goredis.Pong:
			if sent, ok := beatSent(m.Payload); ok {
				s.renew(sent.Add(feedLease))
			}
			if stalled {
				// The same connection answered after all: everything published before the
				// PONG has arrived before it, in order, so nothing was lost.
				stalled = false
				s.setLive(true, nil)
			}
		case *goredis.Message:
			if m.Channel != ch {
				break
			}
			if ev, ok := parseMessage(m.Payload); ok {
				s.deliver(ev)
			} else {
				s.forgetAll()
			}
		}
	}
}

// beatBase anchors the beat's PING payloads: nanoseconds since it, so that a PONG gives
// back the send time with its monotonic reading.
var beatBase = time.Now()

// beatPrefix marks the beat's PING payloads (the feed's own quiet-link PING has none).
const beatPrefix = "beat:"

// beatSent is the send time of the beat PING a PONG answers.
func beatSent(payload string) (time.Time, bool) {
	v, ok := strings.CutPrefix(payload, beatPrefix)
	if !ok {
		return time.Time{}, false
	}
	ns, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ns < 0 {
		return time.Time{}, false
	}
	return beatBase.Add(time.Duration(ns)), true
}

// beat PINGs the subscription connection every feedBeat while the feed is live, each
// PING carrying its send time (see the lease above). Errors are the feed's to handle:
// go-redis reconnects, and the feed reads the failure.
func (s *Store) beat(ctx context.Context, ps *goredis.PubSub) {
	t := time.NewTicker(feedBeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.subMu.Lock()
		live := s.live
		s.subMu.Unlock()
		if !live {
			continue // while the feed is down it reconnects by itself, with backoff
		}
		_ = ps.Ping(ctx, beatPrefix+strconv.FormatInt(int64(time.Since(beatBase)), 10))
	}
}

// renew moves the live feed's lease on to until and tells the subscribers.
func (s *Store) renew(until time.Time) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	if !s.live || !until.After(s.until) {
		return
	}
	s.until = until
	for _, fn := range s.subs {
		fn(sessions.Invalidation{Kind: sessions.FeedFresh, Until: until})
	}
}

// parseMessage reads a message's payload.
func parseMessage(payload string) (sessions.Invalidation, bool) {
	if k, ok := strings.CutPrefix(payload, msgKey); ok {
		return sessions.Invalidation{Kind: sessions.InvalidateKey, Key: k}, true
	}
	if l, ok := strings.CutPrefix(payload, msgUser); ok {
		return sessions.Invalidation{Kind: sessions.InvalidateUser, Login: l}, true
	}
	return sessions.Invalidation{}, false
}

// forgetAll answers a message the feed cannot read (a newer gatehouse's, say): whatever it
// ended, the subscribers forget everything (FeedLive again, if the feed is live; a feed
// that is down has nothing cached to forget).
func (s *Store) forgetAll() {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	if !s.live {
		return
	}
	for _, fn := range s.subs {
		fn(sessions.Invalidation{Kind: sessions.FeedLive, Until: s.until})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// stopFeed ends the feed goroutine and tells the subscribers that the feed is down.
func (s *Store) stopFeed() {
	s.subMu.Lock()
	s.closed = true
	stop, done, ps := s.feedStop, s.feedDone, s.pubsub
	s.subMu.Unlock()
	if stop != nil {
		stop()
		_ = ps.Close()
		<-done
	}
	s.setLive(false, errStoreClosed)
}

var errStoreClosed = errors.New("store closed")
