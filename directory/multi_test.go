package directory

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// fake is an in-memory source; logins match ignoring case, like the SQL source.
type fake struct {
	name     string
	users    map[string]*CustomerUser // lower-case login → record
	ids      map[string][]string
	err      error // returned by every call when set
	readOnly bool
	added    []string
	pw       map[string]string
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

func (f *fake) Get(_ context.Context, login string) (*CustomerUser, error) {
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
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
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
	t.Run("a failing source stops the lookup", func(t *testing.T) {
		down := newFake("down")
		down.err = errors.New("connection refused")
		_, err := New(down, b).Get(ctx, "bob")
		if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `source "down"`) {
			t.Errorf("err = %v", err)
		}
	})
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
