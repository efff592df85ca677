package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

var quiet = slog.New(slog.DiscardHandler)

// fake is an in-memory source; logins match ignoring case, like the SQL source.
type fake struct {
	name     string
	users    map[string]*CustomerUser // lower-case login → record
	ids      map[string][]string
	err      error // returned by every call when set
	readOnly bool
	die      bool
	added    []string
	pw       map[string]string
	gets     int // Get calls, for the cache tests
	searches []Query
}

func newFake(name string, logins ...string) *fake {
	f := &fake{name: name, users: map[string]*CustomerUser{}, ids: map[string][]string{}, pw: map[string]string{}}
	for _, l := range logins {
		f.users[strings.ToLower(l)] = &CustomerUser{Login: l, Source: name, Attrs: map[string]string{"UserLogin": l}}
	}
	return f
}

func (f *fake) Name() string   { return f.name }
func (f *fake) ReadOnly() bool { return f.readOnly }
func (f *fake) Die() bool      { return f.die }

func (f *fake) Get(_ context.Context, login string) (*CustomerUser, error) {
	f.gets++
	if f.err != nil {
		return nil, f.err
	}
	if u, ok := f.users[strings.ToLower(login)]; ok {
		c := *u
		return &c, nil
	}
	return nil, ErrNotFound
}

func (f *fake) Search(_ context.Context, q Query) ([]CustomerUser, error) {
	if f.err != nil {
		return nil, f.err
	}
	var out []CustomerUser
	for _, u := range f.users {
		if strings.Contains(strings.ToLower(u.Login), strings.ToLower(q.UserLogin)) {
			out = append(out, *u)
		}
	}
	// In login order, as the SQL source answers.
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Login) < strings.ToLower(out[j].Login) })
	if q.Offset > 0 {
		out = out[min(q.Offset, len(out)):]
	}
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	f.searches = append(f.searches, q)
	return out, nil
}

func (f *fake) CustomerIDs(_ context.Context, login string) ([]string, error) {
	if f.err != nil {
		return nil, f.err
	}
	return f.ids[strings.ToLower(login)], nil
}

func (f *fake) Add(_ context.Context, attrs map[string]string, _ string) (*CustomerUser, error) {
	if f.readOnly {
		return nil, ErrReadOnly
	}
	l := attrs[VarLogin]
	f.added = append(f.added, l)
	u := &CustomerUser{Login: l, Source: f.name, Attrs: attrs}
	f.users[strings.ToLower(l)] = u
	return u, nil
}

func (f *fake) Update(_ context.Context, login string, attrs map[string]string, _ string) (*CustomerUser, error) {
	u := f.users[strings.ToLower(login)]
	for k, v := range attrs {
		u.Attrs[k] = v
	}
	return u, nil
}

func (f *fake) SetPassword(_ context.Context, login, password string) error {
	f.pw[login] = password
	return nil
}

func (f *fake) Ping(context.Context) error { return f.err }

// readOnlyFake has no write methods at all (like an LDAP source).
type readOnlyFake struct{ f *fake }

func (r readOnlyFake) Name() string { return r.f.Name() }
func (r readOnlyFake) Get(ctx context.Context, login string) (*CustomerUser, error) {
	return r.f.Get(ctx, login)
}
func (r readOnlyFake) Search(ctx context.Context, q Query) ([]CustomerUser, error) {
	return r.f.Search(ctx, q)
}
func (r readOnlyFake) CustomerIDs(ctx context.Context, login string) ([]string, error) {
	return r.f.CustomerIDs(ctx, login)
}

func TestDirectoryGet(t *testing.T) {
	ctx := context.Background()
	a := newFake("A", "Alice", "Shared")
	b := newFake("B", "bob", "shared")
	d := New(a, b)
	tests := []struct {
		login, wantLogin, wantSource string
		wantErr                      error
	}{
		{"alice", "Alice", "A", nil},
		{"BOB", "bob", "B", nil},
		{"SHARED", "Shared", "A", nil}, // the first source wins
		{"nobody", "", "", ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.login, func(t *testing.T) {
			u, err := d.Get(ctx, tt.login)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (u.Login != tt.wantLogin || u.Source != tt.wantSource) {
				t.Errorf("got %s from %s", u.Login, u.Source)
			}
		})
	}
}

// TestDirectoryFaults: OTRS skips a failing source unless it dies (Params->{Die}); writes
// never skip.
func TestDirectoryFaults(t *testing.T) {
	ctx := context.Background()
	newDown := func(die bool) *fake {
		down := newFake("down", "bob", "carol")
		down.err = errors.New("connection refused")
		down.die = die
		return down
	}
	b := newFake("B", "bob")
	b.ids["bob"] = []string{"B1"}
	d := func(down *fake) *Directory {
		dir, err := NewDirectory(quiet, down, b)
		if err != nil {
			t.Fatal(err)
		}
		return dir
	}
	t.Run("get skips a failing source", func(t *testing.T) {
		u, err := d(newDown(false)).Get(ctx, "bob")
		if err != nil || u.Source != "B" {
			t.Fatalf("got %+v, %v", u, err)
		}
		if _, err := d(newDown(false)).Get(ctx, "carol"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("only in the failing source: %v", err)
		}
	})
	t.Run("get fails on a dying source", func(t *testing.T) {
		_, err := d(newDown(true)).Get(ctx, "bob")
		if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `source "down"`) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("an ended context is not skipped", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		down := newDown(false)
		down.err = cctx.Err()
		if _, err := d(down).Get(cctx, "bob"); err == nil || errors.Is(err, ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("search skips a failing source", func(t *testing.T) {
		got, err := d(newDown(false)).Search(ctx, Query{})
		if err != nil || len(got) != 1 || got[0].Source != "B" {
			t.Fatalf("got %v, %v", got, err)
		}
		if _, err := d(newDown(true)).Search(ctx, Query{}); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("dying: %v", err)
		}
	})
	t.Run("customer ids skip a failing source", func(t *testing.T) {
		ids, err := d(newDown(false)).CustomerIDs(ctx, "bob")
		if err != nil || !reflect.DeepEqual(ids, []string{"B1"}) {
			t.Fatalf("got %v, %v", ids, err)
		}
		if _, err := d(newDown(true)).CustomerIDs(ctx, "bob"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("dying: %v", err)
		}
	})
	t.Run("writes never skip", func(t *testing.T) {
		w := newFake("W")
		dir, _ := NewDirectory(quiet, newDown(false), w)
		if _, err := dir.Add(ctx, "W", map[string]string{VarLogin: "carol"}, ""); !errors.Is(err, ErrUnavailable) {
			t.Errorf("add while a source is down: %v", err)
		}
		if len(w.added) != 0 {
			t.Errorf("added %v", w.added)
		}
		w.users["bob"] = &CustomerUser{Login: "bob", Source: "W", Attrs: map[string]string{}}
		if err := dir.SetPassword(ctx, "bob", "pw"); !errors.Is(err, ErrUnavailable) {
			t.Errorf("set password while an earlier source is down: %v", err)
		}
		if _, err := dir.Update(ctx, "bob", map[string]string{"UserCity": "X"}, ""); !errors.Is(err, ErrUnavailable) {
			t.Errorf("update while an earlier source is down: %v", err)
		}
	})
}

func TestNewDirectory(t *testing.T) {
	var srcs []Source
	for i := range MaxSources + 1 {
		srcs = append(srcs, newFake(fmt.Sprint("S", i)))
	}
	if _, err := NewDirectory(quiet, srcs[:MaxSources]...); err != nil {
		t.Errorf("%d sources: %v", MaxSources, err)
	}
	if _, err := NewDirectory(quiet, srcs...); err == nil {
		t.Errorf("%d sources accepted", len(srcs))
	}
	if _, err := NewDirectory(quiet, newFake("A"), newFake("A")); err == nil {
		t.Error("duplicate names accepted")
	}
}

func TestDirectorySearch(t *testing.T) {
	ctx := context.Background()
	a := newFake("A", "x1", "Dup")
	b := newFake("B", "x2", "dup", "x3")
	got, err := New(a, b).Search(ctx, Query{})
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string]string{}
	for _, u := range got {
		sources[u.Login] = u.Source
	}
	want := map[string]string{"x1": "A", "Dup": "A", "x2": "B", "x3": "B"}
	if !reflect.DeepEqual(sources, want) {
		t.Errorf("merged %v, want %v", sources, want)
	}
	// The limit applies per source.
	got, _ = New(a, b).Search(ctx, Query{UserLogin: "x", Limit: 1})
	if len(got) != 2 {
		t.Errorf("limit 1 per source over 2 sources gave %d", len(got))
	}
}

// TestDirectorySearchOffset: the offset skips merged results. One source skips them itself
// (asked with the offset: a deep page costs one page); several are asked for offset+limit and
// the merged, de-duplicated list is cut.
func TestDirectorySearchOffset(t *testing.T) {
	ctx := context.Background()
	logins := func(us []CustomerUser) (out []string) {
		for _, u := range us {
			out = append(out, u.Login)
		}
		return out
	}
	one := newFake("A", "u1", "u2", "u3", "u4", "u5")
	got, err := New(one).Search(ctx, Query{Limit: 2, Offset: 3})
	if err != nil || !reflect.DeepEqual(logins(got), []string{"u4", "u5"}) {
		t.Fatalf("one source, offset 3 limit 2: %v %v", logins(got), err)
	}
	if q := one.searches[len(one.searches)-1]; q.Offset != 3 || q.Limit != 2 {
		t.Errorf("one source was asked %+v, want offset 3 limit 2", q)
	}
	if got, _ := New(one).Search(ctx, Query{Offset: 9}); len(got) != 0 {
		t.Errorf("offset past the end: %v", logins(got))
	}

	a := newFake("A", "a1", "dup", "a2")
	b := newFake("B", "DUP", "b1", "b2")
	for _, tc := range []struct {
		offset, limit int
		want          []string
	}{
		{0, 0, []string{"a1", "a2", "dup", "b1", "b2"}},
		{2, 0, []string{"dup", "b1", "b2"}},
		{3, 1, []string{"b1", "b2"}}, // each source asked for 4 (the limit applies per source); B's DUP is dropped
		{5, 0, nil},
	} {
		got, err := New(a, b).Search(ctx, Query{Offset: tc.offset, Limit: tc.limit})
		if err != nil || !reflect.DeepEqual(logins(got), tc.want) {
			t.Errorf("two sources, offset %d limit %d: %v (%v), want %v", tc.offset, tc.limit, logins(got), err, tc.want)
		}
		for _, f := range []*fake{a, b} {
			if q := f.searches[len(f.searches)-1]; q.Offset != 0 {
				t.Errorf("source %s was asked with offset %d; several sources are cut after merging", f.name, q.Offset)
			}
		}
	}
}

func TestDirectoryCustomerIDs(t *testing.T) {
	ctx := context.Background()
	a := newFake("A", "u")
	b := newFake("B", "u")
	c := newFake("C", "u")
	b.ids["u"] = []string{"B1", "B2"}
	c.ids["u"] = []string{"C1"}
	got, err := New(a, b, c).CustomerIDs(ctx, "u")
	if err != nil || !reflect.DeepEqual(got, []string{"B1", "B2"}) {
		t.Errorf("CustomerIDs = %v, %v; want the first non-empty list", got, err)
	}
	if got, err := New(a).CustomerIDs(ctx, "u"); err != nil || len(got) != 0 {
		t.Errorf("CustomerIDs = %v, %v", got, err)
	}
}

func TestDirectoryAdd(t *testing.T) {
	ctx := context.Background()
	ro := newFake("ro", "existing")
	ro.readOnly = true
	w1 := newFake("w1")
	w2 := newFake("w2")
	noWriter := readOnlyFake{newFake("plain")}
	d := New(noWriter, ro, w1, w2)
	tests := []struct {
		name, source, login string
		wantErr             error
		wantIn              *fake
	}{
		{"first writable source", "", "new1", nil, w1},
		{"named source", "w2", "new2", nil, w2},
		{"exists in any source", "w2", "EXISTING", ErrExists, nil},
		{"exists in a later source", "", "new2", ErrExists, nil},
		{"named read-only source", "ro", "new3", ErrReadOnly, nil},
		{"unknown source", "nope", "new4", ErrNotFound, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.Add(ctx, tt.source, map[string]string{VarLogin: tt.login}, "admin")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantIn != nil && (len(tt.wantIn.added) == 0 || tt.wantIn.added[len(tt.wantIn.added)-1] != tt.login) {
				t.Errorf("%s not added to %s (added %v)", tt.login, tt.wantIn.name, tt.wantIn.added)
			}
		})
	}
	if _, err := New(ro).Add(ctx, "", map[string]string{VarLogin: "x"}, ""); !errors.Is(err, ErrReadOnly) {
		t.Errorf("no writable source: %v", err)
	}
}

func TestDirectoryWritesGoToTheOwner(t *testing.T) {
	ctx := context.Background()
	a := newFake("A", "alice")
	b := newFake("B", "Bob")
	d := New(a, b)
	if err := d.SetPassword(ctx, "BOB", "pw"); err != nil {
		t.Fatal(err)
	}
	if b.pw["Bob"] != "pw" || len(a.pw) != 0 {
		t.Errorf("password went to %v / %v", a.pw, b.pw)
	}
	u, err := d.Update(ctx, "bob", map[string]string{"UserCity": "X"}, "")
	if err != nil || u.Attrs["UserCity"] != "X" || u.Source != "B" {
		t.Errorf("Update = %+v, %v", u, err)
	}
	b.readOnly = true
	if err := d.SetPassword(ctx, "bob", "pw"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only owner: %v", err)
	}
	if err := d.SetPassword(ctx, "nobody", "pw"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
}

func TestDirectoryPing(t *testing.T) {
	a := newFake("A")
	b := newFake("B")
	if err := New(a, b).Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.err = errors.New("down")
	if err := New(a, b).Ping(context.Background()); err == nil || !strings.Contains(err.Error(), `source "B"`) {
		t.Errorf("Ping = %v", err)
	}
}

// clock is a settable time for the cache.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestCached(t *testing.T) {
	ctx := context.Background()
	if src := newFake("A"); Cached(src, 0) != Source(src) {
		t.Fatal("ttl 0 must return the source itself")
	}
	clk := &clock{t: time.Unix(1_000_000, 0)}
	newCached := func(src Source) *cached {
		c := Cached(src, time.Minute).(*cached)
		c.now = clk.now
		return c
	}
	a := newFake("A", "Alice")
	a.ids["alice"] = []string{"X"}
	c := newCached(a)
	get := func(login string) *CustomerUser {
		t.Helper()
		u, err := c.Get(ctx, login)
		if err != nil {
			t.Fatalf("get %s: %v", login, err)
		}
		return u
	}
	get("alice")
	u := get("alice")
	if a.gets != 1 {
		t.Fatalf("%d source gets for two lookups; want 1", a.gets)
	}
	u.Attrs["UserCity"] = "changed by a caller"
	if get("alice").Attrs["UserCity"] != "" {
		t.Error("a caller changed the cached record")
	}
	clk.t = clk.t.Add(59 * time.Second)
	get("alice")
	if a.gets != 1 {
		t.Errorf("expired early")
	}
	clk.t = clk.t.Add(time.Second)
	get("alice")
	if a.gets != 2 {
		t.Errorf("ttl not honoured: %d gets", a.gets)
	}
	// Not found is not cached: a record added behind the cache's back shows at once.
	if _, err := c.Get(ctx, "newbie"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	a.users["newbie"] = &CustomerUser{Login: "newbie", Source: "A"}
	get("newbie")
	// Customer ids are cached too.
	for range 2 {
		if ids, err := c.CustomerIDs(ctx, "alice"); err != nil || !reflect.DeepEqual(ids, []string{"X"}) {
			t.Fatalf("ids %v %v", ids, err)
		}
	}
	a.ids["alice"] = []string{"Y"}
	if ids, _ := c.CustomerIDs(ctx, "alice"); !reflect.DeepEqual(ids, []string{"X"}) {
		t.Errorf("ids not cached: %v", ids)
	}
	c.Invalidate("ALICE")
	if ids, _ := c.CustomerIDs(ctx, "alice"); !reflect.DeepEqual(ids, []string{"Y"}) {
		t.Errorf("ids after Invalidate: %v", ids)
	}
	// The wrapper keeps the source's sides.
	if c.ReadOnly() || c.Die() {
		t.Error("ReadOnly/Die of a writable, non-dying source")
	}
	if ro := newCached(readOnlyFake{newFake("plain")}); !ro.ReadOnly() {
		t.Error("a source without Writer must be read-only through the cache")
	} else if _, err := ro.Add(ctx, map[string]string{VarLogin: "x"}, ""); !errors.Is(err, ErrReadOnly) {
		t.Errorf("add through the cache of a read-only source: %v", err)
	}
}

// TestCachedThroughDirectory: writes through a Directory drop the cached lookups: the login
// in every source on Add, the owner's whole cache on Update and SetPassword.
func TestCachedThroughDirectory(t *testing.T) {
	ctx := context.Background()
	a := newFake("A", "alice", "other")
	b := newFake("B", "bob")
	ca, cb := Cached(a, time.Hour), Cached(b, time.Hour)
	d, err := NewDirectory(quiet, ca, cb)
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(login string) *CustomerUser {
		t.Helper()
		u, err := d.Get(ctx, login)
		if err != nil {
			t.Fatalf("get %s: %v", login, err)
		}
		return u
	}
	lookup("alice")
	lookup("other")
	lookup("bob")
	gets := a.gets
	lookup("alice")
	if a.gets != gets {
		t.Fatal("not cached")
	}
	// Update through the directory: A's cache is dropped entirely, the change is visible.
	if _, err := d.Update(ctx, "alice", map[string]string{"UserCity": "Berlin"}, ""); err != nil {
		t.Fatal(err)
	}
	if got := lookup("alice").Attrs["UserCity"]; got != "Berlin" {
		t.Errorf("after Update: city %q", got)
	}
	gets = a.gets
	lookup("other")
	if a.gets != gets+1 {
		t.Errorf("Update did not purge the owner's cache")
	}
	// Behind the cache's back a change stays invisible until a write drops it.
	a.users["other"].Attrs["UserCity"] = "Hamburg"
	if got := lookup("other").Attrs["UserCity"]; got != "" {
		t.Errorf("uncached read: %q", got)
	}
	if err := d.SetPassword(ctx, "other", "pw"); err != nil {
		t.Fatal(err)
	}
	if got := lookup("other").Attrs["UserCity"]; got != "Hamburg" {
		t.Errorf("after SetPassword: city %q", got)
	}
	// Add drops the login everywhere: bob is cached in B; adding BOB to A must fail (exists)
	// and a new login added to A is found at once.
	if _, err := d.Add(ctx, "A", map[string]string{VarLogin: "BOB"}, ""); !errors.Is(err, ErrExists) {
		t.Fatalf("add existing: %v", err)
	}
	if _, err := d.Add(ctx, "A", map[string]string{VarLogin: "carol"}, ""); err != nil {
		t.Fatal(err)
	}
	if u := lookup("carol"); u.Source != "A" {
		t.Errorf("carol from %s", u.Source)
	}
}
