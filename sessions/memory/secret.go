package memory

import (
	"context"
	"crypto/rand"

	"github.com/gatehouse-sso/gatehouse/sessions"
)

var _ sessions.SecretKeeper = (*Store)(nil)

// SharedSecret implements sessions.SecretKeeper for one process: a memory store is never
// shared, so the secret only has to be stable for the store's lifetime.
func (s *Store) SharedSecret(_ context.Context, name string, size int) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.secrets[name]; ok && len(v) == size {
		return v, nil
	}
	v := make([]byte, size)
	if _, err := rand.Read(v); err != nil {
		return nil, err
	}
	if s.secrets == nil {
		s.secrets = map[string][]byte{}
	}
	s.secrets[name] = v
	return v, nil
}
