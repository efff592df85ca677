package authn

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/directory"
)

type stubModule struct {
	name string
	res  Result
	err  error
	hits int
}

func (m *stubModule) Name() string { return m.name }
func (m *stubModule) Authenticate(context.Context, Credentials) (Result, error) {
	m.hits++
	return m.res, m.err
}

type stubLookup map[string]*directory.CustomerUser

func (s stubLookup) Get(_ context.Context, login string) (*directory.CustomerUser, error) {
	if login == "broken" {
		return nil, errors.New("database down")
	}
	if u, ok := s[strings.ToLower(login)]; ok {
		return u, nil
	}
	return nil, directory.ErrNotFound
}

var people = stubLookup{
	"jdoe":  {Login: "JDoe", ValidID: 1},
	"gone":  {Login: "gone", ValidID: 2, HasValidity: true},
	"temp":  {Login: "temp", ValidID: 3, HasValidity: true},
	"zero":  {Login: "zero", ValidID: 0, HasValidity: true}, // 0 or text: defined and not 1
	"nomap": {Login: "nomap"},                               // source maps no validity
}

func ok(login string) Result { return Result{Outcome: Authenticated, Login: login} }

func TestChain(t *testing.T) {
	fault := errors.New("server down")
	for _, tc := range []struct {
		name    string
		mods    []*stubModule
		die     []bool
		wantErr error
		want    string // login of the record
		module  string
		hits    []int
	}{
		{name: "first success wins", mods: []*stubModule{{name: "a", res: ok("jdoe")}, {name: "b", res: ok("jdoe")}}, want: "JDoe", module: "a", hits: []int{1, 0}},
		{name: "rejection moves on", mods: []*stubModule{{name: "a", res: Result{Outcome: Rejected}}, {name: "b", res: ok("jdoe")}}, want: "JDoe", module: "b", hits: []int{1, 1}},
		{name: "not mine moves on", mods: []*stubModule{{name: "a"}, {name: "b", res: ok("jdoe")}}, want: "JDoe", module: "b", hits: []int{1, 1}},
		{name: "fault moves on without die", mods: []*stubModule{{name: "a", err: fault}, {name: "b", res: ok("jdoe")}}, want: "JDoe", module: "b", hits: []int{1, 1}},
		{name: "fault with die stops", mods: []*stubModule{{name: "a", err: fault}, {name: "b", res: ok("jdoe")}}, die: []bool{true, false}, wantErr: ErrBackendUnavailable, hits: []int{1, 0}},
		{name: "overload stops", mods: []*stubModule{{name: "a", err: ErrOverloaded}, {name: "b", res: ok("jdoe")}}, wantErr: ErrOverloaded, hits: []int{1, 0}},
		{name: "all reject", mods: []*stubModule{{name: "a", res: Result{Outcome: Rejected}}}, wantErr: ErrRejected, hits: []int{1}},
		{name: "no record", mods: []*stubModule{{name: "a", res: ok("ghost")}}, wantErr: ErrNoRecord},
		{name: "invalid", mods: []*stubModule{{name: "a", res: ok("gone")}}, wantErr: ErrInvalidUser},
		{name: "invalid-temporarily", mods: []*stubModule{{name: "a", res: ok("temp")}}, wantErr: ErrInvalidUser},
		{name: "validity 0 or not a number", mods: []*stubModule{{name: "a", res: ok("zero")}}, wantErr: ErrInvalidUser},
		{name: "no validity mapped", mods: []*stubModule{{name: "a", res: ok("nomap")}}, want: "nomap", module: "a"},
		{name: "lookup fault", mods: []*stubModule{{name: "a", res: ok("broken")}}, wantErr: ErrBackendUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var entries []Entry
			for i, m := range tc.mods {
				e := Entry{Module: m}
				if tc.die != nil {
					e.Die = tc.die[i]
				}
				entries = append(entries, e)
			}
			var seen []string
			c, err := NewChain(entries, people, slog.New(slog.NewTextHandler(io.Discard, nil)), func(m, r string) { seen = append(seen, m+":"+r) })
			if err != nil {
				t.Fatal(err)
			}
			s, err := c.Login(context.Background(), Credentials{Login: "x", Password: "y"})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if s.User.Login != tc.want || s.Module != tc.module {
				t.Fatalf("got %s via %s, want %s via %s", s.User.Login, s.Module, tc.want, tc.module)
			}
			for i, h := range tc.hits {
				if tc.mods[i].hits != h {
					t.Errorf("module %s asked %d times, want %d", tc.mods[i].name, tc.mods[i].hits, h)
				}
			}
			if len(seen) == 0 {
				t.Error("no metric observed")
			}
		})
	}
}

func TestChainSlots(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := NewChain(nil, people, log, nil); err == nil {
		t.Error("empty chain accepted")
	}
	entries := make([]Entry, MaxModules+1)
	for i := range entries {
		entries[i] = Entry{Module: &stubModule{name: "m"}}
	}
	if _, err := NewChain(entries, people, log, nil); err == nil {
		t.Error("12 modules accepted; OTRS has 11 slots")
	}
	if _, err := NewChain(entries[:MaxModules], people, log, nil); err != nil {
		t.Errorf("11 modules refused: %v", err)
	}
}
