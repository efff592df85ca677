package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/authn"
	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/directory"
	"github.com/gatehouse-sso/gatehouse/sessions"
	"github.com/gatehouse-sso/gatehouse/sessions/memory"
)

// The gateway's unit tests use small fakes for the chain and the directory; the same paths
// run against the real databases, Redis and password formats in cmd/gatehouse's end-to-end
// tests.

type fakeModule struct {
	name      string
	passwords map[string]string
	fault     atomic.Bool
}

func (m *fakeModule) Name() string { return m.name }
func (m *fakeModule) Authenticate(_ context.Context, c authn.Credentials) (authn.Result, error) {
	if m.fault.Load() {
		return authn.Result{}, errors.New("back end down")
	}
	if pw, ok := m.passwords[c.Login]; ok && pw == c.Password {
		return authn.Result{Outcome: authn.Authenticated, Login: c.Login}, nil
	}
	return authn.Result{Outcome: authn.Rejected}, nil
}

type fakeLookup map[string]*directory.CustomerUser

func (f fakeLookup) Get(_ context.Context, login string) (*directory.CustomerUser, error) {
	if u, ok := f[strings.ToLower(login)]; ok {
		return u, nil
	}
	return nil, directory.ErrNotFound
}

type fakeGroups struct{}

func (fakeGroups) Permissions(context.Context, string, []string) (directory.Permissions, error) {
	return directory.Permissions{"users": {"rw"}, "billing": {"ro"}}, nil
}

// flakyStore wraps a store and fails every call while down is set.
type flakyStore struct {
	sessions.Store
	down atomic.Bool
}

func (f *flakyStore) err() error {
	if f.down.Load() {
		return sessions.ErrUnavailable
	}
	return nil
}
func (f *flakyStore) Get(ctx context.Context, k string) (*sessions.Session, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.Store.Get(ctx, k)
}
func (f *flakyStore) Save(ctx context.Context, k string, s *sessions.Session, exp time.Time) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Store.Save(ctx, k, s, exp)
}
func (f *flakyStore) Delete(ctx context.Context, k string) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Store.Delete(ctx, k)
}

// upstream records what reached it.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	last *http.Request
	n    int
}

func newUpstream(t testing.TB) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		u.last = r.Clone(context.Background())
		u.n++
		u.mu.Unlock()
		w.Header().Set("X-Upstream", "yes")
		_, _ = io.WriteString(w, "upstream says hi")
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) request() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

type harness struct {
	t        testing.TB
	gw       *Gateway
	base     string
	up       *upstream
	module   *fakeModule
	store    *flakyStore
	sessions *sessions.Manager
	logs     *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newHarness(t testing.TB, edit func(*configs.Config)) *harness {
	return newHarnessDeps(t, edit, nil)
}

// newHarnessDeps is newHarness with a hook to change the gateway's dependencies.
func newHarnessDeps(t testing.TB, edit func(*configs.Config), deps func(*Deps)) *harness {
	t.Helper()
	up := newUpstream(t)
	cfg := configs.Default()
	cfg.Admin.Listen = ""
	cfg.Routes = []configs.Route{{Name: "app", PathPrefix: "/", Upstream: up.URL}, {Name: "static", PathPrefix: "/static", Upstream: up.URL, Public: true}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Server.Listen = ln.Addr().String()
	cfg.Server.PublicURL = "http://" + ln.Addr().String()
	cfg.Server.ShutdownTimeout = 2 * time.Second
	cfg.Server.TrustedProxies = []string{"192.0.2.0/24"} // the test client is not a trusted proxy
	if edit != nil {
		edit(cfg)
	}
	mod := &fakeModule{name: "db", passwords: map[string]string{"jdoe": "Secret123!", "JDoe": "Secret123!", "ghost": "boo", "old": "pw"}}
	lookup := fakeLookup{
		"jdoe": {Login: "jdoe", Source: "Database Backend", ValidID: 1, CustomerID: "ACME", CustomerIDs: []string{"ACME", "OTHER"},
			Attrs: map[string]string{"UserEmail": "jdoe@example.com", "UserFullname": "John Doe", "UserCity": "Berlin\r\nX-Evil: 1"}},
		"old": {Login: "old", Source: "Database Backend", ValidID: 2, HasValidity: true, Attrs: map[string]string{}},
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	chain, err := authn.NewChain([]authn.Entry{{Module: mod}}, lookup, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	store := &flakyStore{Store: memory.New()}
	mgr := sessions.NewManager(store, cfg.Sessions.IdleTimeout, cfg.Sessions.MaxLifetime)
	d := Deps{Config: cfg, Chain: chain, Groups: fakeGroups{}, Sessions: mgr, Logger: log, AccessLog: log,
		Ready: map[string]func(context.Context) error{"sessions": store.Ping}}
	if deps != nil {
		deps(&d)
	}
	gw, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = gw.ServeListeners(ctx, ln, nil); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &harness{t: t, gw: gw, base: "http://" + ln.Addr().String(), up: up, module: mod, store: store, sessions: mgr, logs: logs}
}

// client does not follow redirects, so tests see each answer.
var client = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       30 * time.Second,
}

func (h *harness) do(method, path string, body io.Reader, hdr map[string]string, cookies ...*http.Cookie) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.base+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login signs in through the form and returns the session cookie.
func (h *harness) login(user, pw, rd string) (*http.Response, *http.Cookie) {
	h.t.Helper()
	resp, body := h.do("GET", PathLogin, nil, map[string]string{"Accept": "text/html"})
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		h.t.Fatalf("login page without csrf field: %s", body)
	}
	csrfCookie := cookieNamed(resp, cookieCSRF)
	if csrfCookie == nil {
		h.t.Fatal("login page set no csrf cookie")
	}
	form := url.Values{"username": {user}, "password": {pw}, "csrf": {m[1]}, "rd": {rd}}
	resp, _ = h.do("POST", PathLogin, strings.NewReader(form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}, csrfCookie)
	return resp, cookieNamed(resp, "gatehouse_session")
}

func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name && c.Value != "" {
			return c
		}
	}
	return nil
}
