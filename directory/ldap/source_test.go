package ldap_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/directory"
	ldapdir "github.com/gatehouse-sso/gatehouse/directory/ldap"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

var quiet = slog.New(slog.DiscardHandler)

func row(v, storage string) configs.MapRow {
	return configs.MapRow{Var: v, Label: v, Storage: storage, Shown: true, Type: "var"}
}

// srcCfg is a source over ou=people of the test directory, read as cn=readonly.
func srcCfg(e testenv.LDAPEnv) configs.CustomerUserSource {
	join := " "
	return configs.CustomerUserSource{
		Name:   "LDAP",
		Module: "ldap",
		Params: configs.SourceParams{
			Host: []string{e.URL}, BaseDN: e.PeopleDN, SScope: "one",
			UserDN: e.ReadOnlyDN, UserPw: e.ReadOnlyPassword, SourceCharset: "utf-8",
			Params: configs.LDAPParams{Timeout: 3 * time.Second},
		},
		CustomerKey:                        "uid",
		CustomerID:                         "o",
		CustomerUserValidFilter:            "(!(employeeType=disabled))",
		CustomerUserSearchFields:           []string{"uid", "cn", "mail"},
		CustomerUserSearchPrefix:           "",
		CustomerUserSearchSuffix:           "*",
		CustomerUserSearchListLimit:        200,
		CustomerUserPostmasterSearchFields: []string{"mail"},
		CustomerUserNameFields:             []string{"givenName", "sn"},
		CustomerUserNameFieldsJoin:         &join,
		ReadOnly:                           true,
		Map: []configs.MapRow{
			row("UserFirstname", "givenname"),
			row("UserLastname", "sn"),
			row("UserLogin", "uid"),
			row("UserPassword", "userPassword"), // never read
			row("UserEmail", "mail"),
			row("UserCustomerID", "o"),
			row("UserCustomerIDs", "departmentNumber"),
			row("UserPhone", "telephonenumber"),
			row("UserAddress", "postalAddress"),
			row("UserComment", "description"),
			row("UserMailbox", "targetAddress"),
		},
	}
}

func newSource(t testing.TB, cfg configs.CustomerUserSource, opts ...ldapdir.Option) *ldapdir.Source {
	t.Helper()
	s, err := ldapdir.New(cfg, quiet, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func ctx10(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestGet(t *testing.T) {
	e := testenv.LDAP(t)
	s := newSource(t, srcCfg(e))
	ctx := ctx10(t)
	tests := []struct {
		login     string
		wantLogin string
		attrs     map[string]string
		custID    string
		custIDs   []string
	}{
		{"alice", "alice", map[string]string{
			"UserFirstname": "Alice", "UserLastname": "Anders", "UserEmail": "alice@example.com",
			"UserFullname": "Alice Anders", "UserPhone": "+49 30 12341",
			"UserMailbox":    "alice@exchange.example.com", // "SMTP:" stripped
			"UserMailString": `"Alice Anders" <alice@example.com>`,
			"UserCustomerID": "ACME", "UserCustomerIDs": "ACME;ACME-EAST",
			"UserAddress": "Hauptstr. 1$10115 Berlin", "UserComment": "Alice in wonderland",
			"UserLogin": "alice", "UserID": "alice", "UserPassword": "",
		}, "ACME", []string{"ACME", "ACME-EAST"}},
		// The directory's spelling of the login is returned.
		{"ALICE", "alice", map[string]string{"UserLogin": "alice"}, "ACME", []string{"ACME", "ACME-EAST"}},
		// "smtp: " in another case, with a blank: stripped as OTRS's s/SMTP:\s*//i.
		{"bob", "bob", map[string]string{"UserMailbox": "bob@exchange.example.com", "UserFullname": "Bob Builder"}, "BUILD", []string{"BUILD"}},
		{"jmuller", "jmuller", map[string]string{
			"UserFullname": "José Müller", "UserFirstname": "José", "UserLastname": "Müller",
			"UserAddress": "Königstraße 1$10115 Berlin$Deutschland", "UserComment": "Entwickler für Straßenbahnen",
		}, "ACME", []string{"ACME"}},
		// customer_user_valid_filter is for searches only: carol (disabled) is found.
		{"carol", "carol", map[string]string{"UserFullname": "Carol Disabled"}, "ACME", []string{"ACME"}},
	}
	for _, tt := range tests {
		t.Run(tt.login, func(t *testing.T) {
			u, err := s.Get(ctx, tt.login)
			if err != nil {
				t.Fatal(err)
			}
			if u.Login != tt.wantLogin || u.Source != "LDAP" || u.CustomerID != tt.custID || !reflect.DeepEqual(u.CustomerIDs, tt.custIDs) {
				t.Errorf("got login %q source %q customer id %q ids %v", u.Login, u.Source, u.CustomerID, u.CustomerIDs)
			}
			for k, want := range tt.attrs {
				if got := u.Attrs[k]; got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if u.ValidID != 0 || !u.Valid() {
				t.Errorf("ValidID %d without a mapped validity", u.ValidID)
			}
			if _, ok := u.Attrs["UserPassword"]; ok {
				t.Error("UserPassword read from the directory")
			}
		})
	}
	for _, login := range []string{"nobody", "", "*", "al*", "alice)(uid=*", "*)(|(uid=*", "alice\x00", "José Müller"} {
		t.Run("not found "+login, func(t *testing.T) {
			if u, err := s.Get(ctx, login); !errors.Is(err, directory.ErrNotFound) {
				t.Fatalf("got %+v, %v; want ErrNotFound", u, err)
			}
		})
	}
	t.Run("non-ASCII key", func(t *testing.T) {
		cfg := srcCfg(e)
		cfg.CustomerKey = "cn"
		u, err := newSource(t, cfg).Get(ctx, "josé müller")
		if err != nil || u.Login != "José Müller" {
			t.Fatalf("got %+v, %v", u, err)
		}
	})
	t.Run("always_filter applies to Get", func(t *testing.T) {
		cfg := srcCfg(e)
		cfg.Params.AlwaysFilter = "(employeeType=active)"
		if _, err := newSource(t, cfg).Get(ctx, "carol"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("carol: %v", err)
		}
	})
	t.Run("customer ids", func(t *testing.T) {
		ids, err := s.CustomerIDs(ctx, "alice")
		if err != nil || !reflect.DeepEqual(ids, []string{"ACME", "ACME-EAST"}) {
			t.Fatalf("alice: %v %v", ids, err)
		}
		ids, err = s.CustomerIDs(ctx, "nobody")
		if err != nil || len(ids) != 0 {
			t.Fatalf("nobody: %v %v", ids, err)
		}
		cfg := srcCfg(e)
		cfg.CustomerUserExcludePrimaryCustomerID = true
		cfg.Map = slices.DeleteFunc(slices.Clone(cfg.Map), func(r configs.MapRow) bool { return r.Var == "UserCustomerIDs" })
		ids, err = newSource(t, cfg).CustomerIDs(ctx, "alice")
		if err != nil || len(ids) != 0 {
			t.Fatalf("no UserCustomerIDs, primary excluded: %v %v", ids, err)
		}
	})
}

// TestSourceCharset: lmuller's legacyDescription holds ISO-8859-1 bytes; source_charset
// iso-8859-1 turns them into UTF-8, a UTF-8 source shows U+FFFD instead of invalid UTF-8.
func TestSourceCharset(t *testing.T) {
	e := testenv.LDAP(t)
	ctx := ctx10(t)
	cfg := srcCfg(e)
	cfg.Params.BaseDN = e.Latin1DN
	cfg.Map = append(cfg.Map, row("UserStreet", "legacyDescription"))
	for _, tt := range []struct{ charset, want string }{
		{"iso-8859-1", "Lüdenscheider Straße"},
		{"ISO_8859-1", "Lüdenscheider Straße"},
		{"latin1", "Lüdenscheider Straße"},
		{"windows-1252", "Lüdenscheider Straße"},
		{"utf-8", "L\uFFFDdenscheider Stra\uFFFDe"},
	} {
		t.Run(tt.charset, func(t *testing.T) {
			c := cfg
			c.Params.SourceCharset = tt.charset
			u, err := newSource(t, c).Get(ctx, "lmuller")
			if err != nil {
				t.Fatal(err)
			}
			if got := u.Attrs["UserStreet"]; got != tt.want {
				t.Errorf("UserStreet = %q, want %q", got, tt.want)
			}
			if u.Attrs["UserFullname"] != "Lena Mueller" {
				t.Errorf("ASCII values changed: %q", u.Attrs["UserFullname"])
			}
		})
	}
	t.Run("a login not representable in the charset is not found", func(t *testing.T) {
		c := cfg
		c.Params.SourceCharset = "iso-8859-1"
		if _, err := newSource(t, c).Get(ctx, "lmüller☃"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatal(err)
		}
	})
}

func logins(us []directory.CustomerUser) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.Login)
	}
	return out
}

func TestSearch(t *testing.T) {
	e := testenv.LDAP(t)
	ctx := ctx10(t)
	s := newSource(t, srcCfg(e))
	wildPrefix := srcCfg(e)
	wildPrefix.CustomerUserSearchPrefix = "*"
	sw := newSource(t, wildPrefix)
	limited := srcCfg(e)
	limited.CustomerUserSearchListLimit = 2
	sl := newSource(t, limited)
	all := []string{"alice", "bob", "carol", "jmuller"}
	tests := []struct {
		name string
		src  *ldapdir.Source
		q    directory.Query
		want []string
	}{
		{"everyone", s, directory.Query{}, all},
		{"wildcard", s, directory.Query{Search: "*"}, all},
		{"prefix of uid", s, directory.Query{Search: "ali"}, []string{"alice"}},
		{"prefix of cn", s, directory.Query{Search: "Jos"}, []string{"jmuller"}},
		{"prefix of cn, case-insensitive", s, directory.Query{Search: "josé"}, []string{"jmuller"}},
		{"no search prefix: inside a word is no match", s, directory.Query{Search: "Müller"}, nil},
		{"search prefix *", sw, directory.Query{Search: "Müller"}, []string{"jmuller"}},
		{"user wildcard", s, directory.Query{Search: "*o*"}, []string{"alice", "bob", "carol", "jmuller"}},
		{"user wildcard, narrower", s, directory.Query{Search: "b*b"}, []string{"bob"}},
		{"+ means AND", sw, directory.Query{Search: "alice+anders"}, []string{"alice"}},
		{"+ means AND, no match", sw, directory.Query{Search: "alice+builder"}, nil},
		{"valid filter on searches", s, directory.Query{Search: "*", ValidOnly: true}, []string{"alice", "bob", "jmuller"}},
		{"user login substring", s, directory.Query{UserLogin: "li"}, []string{"alice"}},
		{"postmaster", s, directory.Query{PostMasterSearch: "BOB@example.com"}, []string{"bob"}},
		{"postmaster is exact", s, directory.Query{PostMasterSearch: "bob@"}, nil},
		{"customer id", s, directory.Query{CustomerID: "ACME"}, []string{"alice", "carol", "jmuller"}},
		{"customer id, valid only", s, directory.Query{CustomerID: "ACME", ValidOnly: true}, []string{"alice", "jmuller"}},
		{"customer id wildcard", s, directory.Query{CustomerID: "BUI*"}, []string{"bob"}},
		{"criteria together", s, directory.Query{CustomerID: "ACME", UserLogin: "a"}, []string{"alice", "carol"}},
		{"query limit", s, directory.Query{Limit: 1}, []string{"*"}},
		{"source limit", sl, directory.Query{}, []string{"*", "*"}},
		{"offset", s, directory.Query{Search: "*", Offset: 3}, []string{"*"}},
		// Injection: everything but '*' is escaped, so none of these can restructure the filter.
		{"injected term", s, directory.Query{Search: "*)(uid=*"}, nil},
		{"injected or", s, directory.Query{Search: "x)(|(objectClass=*"}, nil},
		{"injected postmaster", s, directory.Query{PostMasterSearch: "*)(mail=*"}, nil},
		{"injected postmaster wildcard", s, directory.Query{PostMasterSearch: "*"}, nil},
		{"NUL", s, directory.Query{UserLogin: "\x00"}, nil},
		{"backslash", s, directory.Query{Search: `\2a`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.src.Search(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			gl := logins(got)
			if len(tt.want) > 0 && tt.want[0] == "*" { // only the count matters
				if len(gl) != len(tt.want) {
					t.Errorf("got %v, want %d results", gl, len(tt.want))
				}
				return
			}
			if !slices.Equal(gl, tt.want) {
				t.Errorf("got %v, want %v", gl, tt.want)
			}
		})
	}
	t.Run("records are complete", func(t *testing.T) {
		got, err := s.Search(ctx, directory.Query{Search: "alice"})
		if err != nil || len(got) != 1 {
			t.Fatalf("%v %v", got, err)
		}
		u := got[0]
		if u.Attrs["UserMailbox"] != "alice@exchange.example.com" || u.Attrs["UserFullname"] != "Alice Anders" || u.Source != "LDAP" {
			t.Errorf("record %+v", u)
		}
	})
}

func TestReadOnly(t *testing.T) {
	e := testenv.LDAP(t)
	ctx := ctx10(t)
	s := newSource(t, srcCfg(e))
	if _, ok := any(s).(directory.Writer); ok {
		t.Fatal("the LDAP source implements directory.Writer")
	}
	if !s.ReadOnly() {
		t.Fatal("ReadOnly() is false")
	}
	for _, d := range []*directory.Directory{
		directory.New(s),
		directory.New(directory.Cached(s, time.Minute)),
	} {
		if _, err := d.Add(ctx, "LDAP", map[string]string{directory.VarLogin: "newbie"}, "admin"); !errors.Is(err, directory.ErrReadOnly) {
			t.Errorf("add to the LDAP source: %v", err)
		}
		if _, err := d.Add(ctx, "", map[string]string{directory.VarLogin: "newbie"}, "admin"); !errors.Is(err, directory.ErrReadOnly) {
			t.Errorf("add with only an LDAP source: %v", err)
		}
		if _, err := d.Update(ctx, "alice", map[string]string{"UserCity": "x"}, "admin"); !errors.Is(err, directory.ErrReadOnly) {
			t.Errorf("update: %v", err)
		}
		if err := d.SetPassword(ctx, "alice", "x"); !errors.Is(err, directory.ErrReadOnly) {
			t.Errorf("set password: %v", err)
		} else if !strings.Contains(err.Error(), "data source is read-only") {
			t.Errorf("message %q", err)
		}
	}
}

func deadURL(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return "ldap://" + addr
}

func TestUnreachable(t *testing.T) {
	e := testenv.LDAP(t)
	ctx := ctx10(t)
	cfg := srcCfg(e)
	cfg.Params.Host = []string{deadURL(t)}
	s := newSource(t, cfg) // no die: built without a connection
	if _, err := s.Get(ctx, "alice"); !errors.Is(err, ldapdir.ErrUnavailable) || errors.Is(err, directory.ErrNotFound) {
		t.Errorf("get: %v", err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("ping of a dead host")
	}
	cfg.Params.Die = true
	if _, err := ldapdir.New(cfg, quiet); err == nil {
		t.Error("die set and the directory unreachable: New succeeded")
	}
	good := newSource(t, srcCfg(e))
	if err := good.Ping(ctx); err != nil {
		t.Errorf("ping: %v", err)
	}
	cfg = srcCfg(e)
	cfg.Params.UserPw = "wrong"
	if _, err := newSource(t, cfg).Get(ctx, "alice"); !errors.Is(err, ldapdir.ErrSearchBind) {
		t.Errorf("wrong user_pw: %v", err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	e := testenv.LDAPEnv{URL: "ldap://127.0.0.1:1", PeopleDN: "ou=people,dc=example,dc=com"}
	tests := []struct {
		name string
		mod  func(*configs.CustomerUserSource)
	}{
		{"no host", func(c *configs.CustomerUserSource) { c.Params.Host = nil }},
		{"no base dn", func(c *configs.CustomerUserSource) { c.Params.BaseDN = "" }},
		{"bad scope", func(c *configs.CustomerUserSource) { c.Params.SScope = "children" }},
		{"key with a filter", func(c *configs.CustomerUserSource) { c.CustomerKey = "uid=*" }},
		{"map storage with a filter", func(c *configs.CustomerUserSource) { c.Map[0].Storage = "cn)(uid=*" }},
		{"search field", func(c *configs.CustomerUserSource) { c.CustomerUserSearchFields = []string{"*"} }},
		{"broken valid filter", func(c *configs.CustomerUserSource) { c.CustomerUserValidFilter = "(!(x=y)" }},
		{"broken always filter", func(c *configs.CustomerUserSource) { c.Params.AlwaysFilter = "x=y" }},
		{"charset", func(c *configs.CustomerUserSource) { c.Params.SourceCharset = "nope" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := srcCfg(e)
			cfg.Map = slices.Clone(cfg.Map)
			tt.mod(&cfg)
			if _, err := ldapdir.New(cfg, quiet); err == nil {
				t.Fatal("accepted")
			} else {
				t.Log(err)
			}
		})
	}
}

// opCounter counts the LDAP operations sent, by protocolOp tag (0x60 bind, 0x63 search).
type opCounter struct {
	binds, searches atomic.Int64
}

func (c *opCounter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &opConn{Conn: nc, c: c}, nil
}

type opConn struct {
	net.Conn
	c *opCounter
}

func (oc *opConn) Write(b []byte) (int, error) {
	switch opTag(b) {
	case 0x60:
		oc.c.binds.Add(1)
	case 0x63:
		oc.c.searches.Add(1)
	}
	return oc.Conn.Write(b)
}

// opTag is the protocolOp tag of an LDAPMessage written in one piece:
// SEQUENCE { messageID INTEGER, protocolOp, ... }.
func opTag(b []byte) byte {
	if len(b) < 2 || b[0] != 0x30 {
		return 0
	}
	i := 2
	if b[1]&0x80 != 0 {
		i += int(b[1] & 0x7f)
	}
	if i+1 >= len(b) || b[i] != 0x02 {
		return 0
	}
	i += 2 + int(b[i+1])
	if i >= len(b) {
		return 0
	}
	return b[i]
}

func TestCachedSource(t *testing.T) {
	e := testenv.LDAP(t)
	ctx := ctx10(t)
	var c opCounter
	s := newSource(t, srcCfg(e), ldapdir.WithDial(c.dial))
	cs := directory.Cached(s, 300*time.Millisecond)
	get := func() {
		t.Helper()
		if u, err := cs.Get(ctx, "alice"); err != nil || u.Login != "alice" {
			t.Fatalf("%+v %v", u, err)
		}
	}
	get()
	get()
	if n := c.searches.Load(); n != 1 {
		t.Fatalf("%d searches for two cached lookups", n)
	}
	time.Sleep(350 * time.Millisecond)
	get()
	if n := c.searches.Load(); n != 2 {
		t.Fatalf("%d searches after the ttl; want 2", n)
	}
	cs.(directory.Invalidator).Invalidate("ALICE")
	get()
	if n := c.searches.Load(); n != 3 {
		t.Fatalf("%d searches after Invalidate; want 3", n)
	}
	if _, ok := cs.(directory.Dier); !ok || cs.(directory.Dier).Die() {
		t.Error("the cache must pass die through")
	}
}
