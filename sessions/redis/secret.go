package redis

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-sso/gatehouse/sessions"
)

var _ sessions.SecretKeeper = (*Store)(nil)

// SharedSecret implements sessions.SecretKeeper: <prefix>secret:<name>, created with SET NX
// so that concurrent first starts agree on one value. It has no expiry.
func (s *Store) SharedSecret(ctx context.Context, name string, size int) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	key := s.prefix + "secret:" + name
	fresh := make([]byte, size)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	if err := s.client.SetNX(ctx, key, fresh, 0).Err(); err != nil {
		return nil, fmt.Errorf("redis shared secret %s: %w: %v", name, sessions.ErrUnavailable, err)
	}
	v, err := s.client.Get(ctx, key).Bytes()
	if errors.Is(err, goredis.Nil) || (err == nil && len(v) != size) {
		return nil, fmt.Errorf("redis shared secret %s: unexpected value", name)
	}
	if err != nil {
		return nil, fmt.Errorf("redis shared secret %s: %w: %v", name, sessions.ErrUnavailable, err)
	}
	return v, nil
}
