package sessions

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/gatehouse-sso/gatehouse/configs"
)

// Opener opens a store from the sessions configuration.
type Opener func(cfg configs.Sessions) (Store, error)

var (
	openersMu sync.RWMutex
	openers   = map[string]Opener{}
)

// Register makes a store available to Open under name (the sessions.store setting). The
// stores register themselves when imported — the binary imports the ones it offers:
//
//	import (
//		_ "github.com/gatehouse-sso/gatehouse/sessions/memory"
//		_ "github.com/gatehouse-sso/gatehouse/sessions/redis"
//	)
//
// (The stores import this package, so this package cannot import them.) Register panics
// when name is registered twice.
func Register(name string, open Opener) {
	openersMu.Lock()
	defer openersMu.Unlock()
	if _, dup := openers[name]; dup {
		panic("sessions: store " + name + " registered twice")
	}
	openers[name] = open
}

// Open opens the store that cfg.Store names ("memory" when empty). It does not wait for a
// remote store to be reachable; use Store.Ping for that.
func Open(cfg configs.Sessions) (Store, error) {
	name := cfg.Store
	if name == "" {
		name = "memory"
	}
	openersMu.RLock()
	open, ok := openers[name]
	known := make([]string, 0, len(openers))
	for n := range openers {
		known = append(known, n)
	}
	openersMu.RUnlock()
	if !ok {
		sort.Strings(known)
		return nil, fmt.Errorf("sessions: unknown store %q (registered: %s; is github.com/gatehouse-sso/gatehouse/sessions/%s imported?)",
			name, strings.Join(known, ", "), name)
	}
	s, err := open(cfg)
	if err != nil {
		return nil, fmt.Errorf("sessions: open %s store: %w", name, err)
	}
	return s, nil
}
