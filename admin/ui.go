package admin

// The admin web UI: server-rendered pages (html/template, no JavaScript) over the same
// Service as the JSON API and the CLI, served at "/" of the admin listener.
//
// Security: its own login (admins from the config, passwords checked with passwd.Check in
// constant time, unknown admins checked against a dummy); an in-memory admin session with a
// random 256-bit id in the HttpOnly SameSite=Strict cookie gatehouse_admin (Secure when
// asked), ended after 30 idle minutes; every POST needs the session's CSRF token (hidden
// field, compared in constant time) and is refused when the browser says it is cross-site
// (Sec-Fetch-Site, or Origin against Host); a strict Content-Security-Policy; an audit line
// for every login, logout and change (the Service logs the changes with by=ui:<admin>).

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-sso/gatehouse/authn/passwd"
	"github.com/gatehouse-sso/gatehouse/configs"
)

// UICookie is the name of the admin session cookie.
const UICookie = "gatehouse_admin"

// uiLoginCookie carries the login form's CSRF token (double submit) before a session exists.
const uiLoginCookie = "gatehouse_admin_login"

// UIIdleTimeout ends an admin session that made no request for this long.
const UIIdleTimeout = 30 * time.Minute

// uiMaxSessions bounds the session map; the oldest session is dropped beyond it.
const uiMaxSessions = 10000

// uiCSP is the Content-Security-Policy of every UI answer: no scripts, no images, no
// frames; inline styles only; forms post to this origin only.
const uiCSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

//go:embed templates/*.html
var uiTemplates embed.FS

type ui struct {
	svc    *Service
	admins []configs.AdminUser
	dummy  string // checked when the login names no admin, so that costs the same
	secure bool
	log    *slog.Logger
	pages  map[string]*template.Template
	mux    *http.ServeMux
	cop    *http.CrossOriginProtection

	mu       sync.Mutex
	now      func() time.Time        // the clock (tests move it); read under mu
	sessions map[[32]byte]*uiSession // by SHA-256 of the cookie value
}

type uiSession struct {
	admin    string
	csrf     string
	created  time.Time
	seen     time.Time
	flash    string
	flashErr bool
}

// NewUI returns the admin web UI handler, to be served at "/" of the admin listener (next to
// the JSON API under /api/v1/ and /metrics; a ServeMux gives those longer patterns
// precedence). users are the admin accounts of the config (admin.users, password_hash made by
// `gatehouse hash-password`); secure marks the session cookie Secure (set it when the admin
// listener is reached over HTTPS); log (nil: slog.Default) receives the login and logout
// audit lines and request failures, while the Service logs every change it makes.
func NewUI(svc *Service, users []configs.AdminUser, secure bool, log *slog.Logger) (http.Handler, error) {
	if svc == nil {
		return nil, errors.New("admin UI: no service")
	}
	if log == nil {
		log = slog.Default()
	}
	u := &ui{svc: svc, secure: secure, log: log, now: time.Now, sessions: map[[32]byte]*uiSession{},
		cop: http.NewCrossOriginProtection()}
	seen := map[string]bool{}
	for i, a := range users {
		if a.Login == "" {
			return nil, fmt.Errorf("admin UI: admin.users[%d] has no login", i)
		}
		if seen[a.Login] {
			return nil, fmt.Errorf("admin UI: admin.users[%d]: login %q given twice", i, a.Login)
		}
		seen[a.Login] = true
		switch passwd.Classify(a.PasswordHash, false) {
		case passwd.FormatEmpty, passwd.FormatFailureToken:
			return nil, fmt.Errorf("admin UI: admin.users[%d] (%s) has no usable password_hash (make one with `gatehouse hash-password`)", i, a.Login)
		}
		u.admins = append(u.admins, a)
	}
	if len(u.admins) == 0 {
		log.Warn("admin UI: no admin.users configured: nobody can sign in")
		u.dummy = passwd.Dummy("", 0)
	} else {
		// An unknown login is checked against a real admin hash (and then refused whatever
		// the answer), so it costs exactly what a wrong password costs.
		u.dummy = u.admins[0].PasswordHash
	}
	var err error
	if u.pages, err = parseUITemplates(); err != nil {
		return nil, err
	}
	u.mux = http.NewServeMux()
	u.routes()
	return u, nil
}

func parseUITemplates() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"path":     url.PathEscape,
		"validity": ValidityName,
		"add":      func(a, b int) int { return a + b },
	}
	names, err := uiTemplates.ReadDir("templates")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		name := n.Name()
		if name == "layout.html" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(uiTemplates, "templates/layout.html", "templates/"+name)
		if err != nil {
			return nil, fmt.Errorf("admin UI template %s: %w", name, err)
		}
		out[strings.TrimSuffix(name, ".html")] = t
	}
	return out, nil
}

// ServeHTTP sets the security headers, refuses cross-site writes and dispatches.
func (u *ui) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", uiCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
		h.Set("Allow", "GET, HEAD, POST")
		u.errorPage(w, r, http.StatusMethodNotAllowed, "Method not allowed",
			"The admin pages only read (GET) and post forms (POST). Nothing can be deleted: set the validity instead.")
		return
	}
	if err := u.cop.Check(r); err != nil {
		u.log.Warn("admin UI: cross-site request refused", "method", r.Method, "path", r.URL.Path,
			"sec_fetch_site", r.Header.Get("Sec-Fetch-Site"), "origin", r.Header.Get("Origin"))
		u.errorPage(w, r, http.StatusForbidden, "Request refused",
			"This form was sent from another site. Open the admin pages directly and try again.")
		return
	}
	u.mux.ServeHTTP(w, r)
}

// ---- sessions ----

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func sessionKey(id string) [32]byte { return sha256.Sum256([]byte(id)) }

// session returns the admin session of r, or nil; it refreshes the idle timer.
func (u *ui) session(r *http.Request) *uiSession {
	c, err := r.Cookie(UICookie)
	if err != nil || c.Value == "" {
		return nil
	}
	k := sessionKey(c.Value)
	u.mu.Lock()
	defer u.mu.Unlock()
	now := u.now()
	s, ok := u.sessions[k]
	if !ok {
		return nil
	}
	if now.Sub(s.seen) > UIIdleTimeout {
		delete(u.sessions, k)
		return nil
	}
	s.seen = now
	return s
}

// newSession starts an admin session for admin and sets its cookie.
func (u *ui) newSession(w http.ResponseWriter, admin string) *uiSession {
	id := randomToken()
	csrf := randomToken()
	u.mu.Lock()
	now := u.now()
	s := &uiSession{admin: admin, csrf: csrf, created: now, seen: now}
	for k, o := range u.sessions { // sweep the idle ones
		if now.Sub(o.seen) > UIIdleTimeout {
			delete(u.sessions, k)
		}
	}
	if len(u.sessions) >= uiMaxSessions {
		var oldest [32]byte
		first := true
		for k, o := range u.sessions {
			if first || o.seen.Before(u.sessions[oldest].seen) {
				oldest, first = k, false
			}
		}
		delete(u.sessions, oldest)
	}
	u.sessions[sessionKey(id)] = s
	u.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: UICookie, Value: id, Path: "/", HttpOnly: true, Secure: u.secure,
		SameSite: http.SameSiteStrictMode})
	return s
}

func (u *ui) endSession(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(UICookie); err == nil {
		u.mu.Lock()
		delete(u.sessions, sessionKey(c.Value))
		u.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: UICookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: u.secure,
		SameSite: http.SameSiteStrictMode})
}

func (u *ui) setFlash(s *uiSession, msg string, isErr bool) {
	u.mu.Lock()
	s.flash, s.flashErr = msg, isErr
	u.mu.Unlock()
}

func (u *ui) takeFlash(s *uiSession) (string, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	m, e := s.flash, s.flashErr
	s.flash, s.flashErr = "", false
	return m, e
}

// checkAdmin checks login and password against the configured admins in constant time:
// every admin login is compared, and exactly one password check runs (against the dummy
// when the login names no admin).
func (u *ui) checkAdmin(login, password string) (string, bool) {
	hash, name, found := u.dummy, "", 0
	for _, a := range u.admins {
		if subtle.ConstantTimeCompare([]byte(a.Login), []byte(login)) == 1 {
			hash, name, found = a.PasswordHash, a.Login, 1
		}
	}
	ok := passwd.Check(hash, password, login, false)
	return name, ok && found == 1
}

// ---- request wrappers ----

type uiHandler func(w http.ResponseWriter, r *http.Request, s *uiSession)

// page wraps a GET handler: without a session it redirects to the login page.
func (u *ui) page(h uiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := u.session(r)
		if s == nil {
			next := r.URL.RequestURI()
			http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
		h(w, r, s)
	}
}

// post wraps a form handler: it needs a session and the session's CSRF token.
func (u *ui) post(h uiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		s := u.session(r)
		if s == nil {
			u.errorPage(w, r, http.StatusUnauthorized, "Signed out",
				"Your admin session has ended (30 minutes without activity, or signed out). Sign in again; nothing was changed.")
			return
		}
		if err := r.ParseForm(); err != nil {
			u.errorPage(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(s.csrf)) != 1 {
			u.log.Warn("admin UI: form without a valid CSRF token refused", "by", s.admin, "path", r.URL.Path)
			u.errorPage(w, r, http.StatusForbidden, "Request refused",
				"The form's security token is missing or out of date. Go back, reload the page and try again; nothing was changed.")
			return
		}
		h(w, r, s)
	}
}

// actor names the admin for the audit lines and the create_by/change_by columns.
func actor(s *uiSession) string { return "ui:" + s.admin }

// ---- rendering ----

// view is what every page template receives.
type view struct {
	Title    string
	Section  string // customer-users, customers, groups (the current nav entry)
	Admin    string
	CSRF     string
	Flash    string
	FlashErr bool
	Error    string // the form's error message
	Field    string // the field it concerns
	Data     any
}

func (u *ui) render(w http.ResponseWriter, r *http.Request, s *uiSession, status int, name string, v view) {
	if s != nil {
		v.Admin, v.CSRF = s.admin, s.csrf
		if v.Flash == "" {
			v.Flash, v.FlashErr = u.takeFlash(s)
		}
	}
	t, ok := u.pages[name]
	if !ok {
		panic("admin UI: no template " + name)
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, name+".html", v); err != nil {
		u.log.Error("admin UI: render failed", "template", name, "err", err)
		http.Error(w, "internal error (see the gatehouse log)", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(b.String()))
	}
}

func (u *ui) errorPage(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	u.render(w, r, nil, status, "message", view{Title: title, Error: msg})
}

// failPage answers a service error that has no form to go back to.
func (u *ui) failPage(w http.ResponseWriter, r *http.Request, s *uiSession, err error) {
	st := statusOf(err)
	msg := err.Error()
	if st == http.StatusInternalServerError {
		u.log.Error("admin UI request failed", "by", s.admin, "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "Internal error (see the gatehouse log)."
	}
	u.render(w, r, s, st, "message", view{Title: http.StatusText(st), Error: msg})
}

// formError renders a form again with the error of err; it logs internal errors.
func (u *ui) formError(w http.ResponseWriter, r *http.Request, s *uiSession, name string, v view, err error) {
	st := statusOf(err)
	v.Error, v.Field = err.Error(), FieldOf(err)
	if f, ok := v.Data.(fieldForm); ok && v.Field != "" {
		f.markInvalid(v.Field)
	}
	if st == http.StatusInternalServerError {
		u.log.Error("admin UI request failed", "by", s.admin, "method", r.Method, "path", r.URL.Path, "err", err)
		v.Error = "Internal error (see the gatehouse log)."
	}
	u.render(w, r, s, st, name, v)
}

// done sets a message for the next page and redirects there (POST, redirect, GET).
func (u *ui) done(w http.ResponseWriter, r *http.Request, s *uiSession, to, msg string) {
	u.setFlash(s, msg, false)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// doneOrFailed is done for an action without a form of its own (a button on another page):
// back to that page with msg, or with err as an error flash.
func (u *ui) doneOrFailed(w http.ResponseWriter, r *http.Request, s *uiSession, to string, err error, msg string) {
	if err != nil {
		u.setFlash(s, err.Error(), true)
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	u.done(w, r, s, to, msg)
}

// ---- login and logout ----

type loginData struct {
	Login string
	Next  string
	Token string
}

// safeNext keeps a post-login redirect on this site: a path, not //host or a scheme.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n") || strings.HasPrefix(next, "/login") {
		return "/"
	}
	return next
}

func (u *ui) loginForm(w http.ResponseWriter, r *http.Request, status int, d loginData, msg string) {
	d.Token = randomToken()
	http.SetCookie(w, &http.Cookie{Name: uiLoginCookie, Value: d.Token, Path: "/login", MaxAge: 3600, HttpOnly: true,
		Secure: u.secure, SameSite: http.SameSiteStrictMode})
	u.render(w, r, nil, status, "login", view{Title: "Sign in to gatehouse admin", Error: msg, Data: d})
}

func (u *ui) getLogin(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if u.session(r) != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	u.loginForm(w, r, http.StatusOK, loginData{Next: next}, "")
}

func (u *ui) postLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		u.errorPage(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	d := loginData{Login: strings.TrimSpace(r.PostForm.Get("login")), Next: safeNext(r.PostForm.Get("next"))}
	c, err := r.Cookie(uiLoginCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostForm.Get("csrf"))) != 1 {
		u.loginForm(w, r, http.StatusForbidden, d, "The sign-in form was out of date (or cookies are off). Please try again.")
		return
	}
	name, ok := u.checkAdmin(d.Login, r.PostForm.Get("password"))
	if !ok {
		u.log.Warn("admin UI: sign-in failed", "action", "admin.login_failed", "target", d.Login, "remote", r.RemoteAddr)
		u.loginForm(w, r, http.StatusUnauthorized, d, "Wrong admin login or password.")
		return
	}
	u.endSession(w, r) // a new id at every sign-in
	u.newSession(w, name)
	http.SetCookie(w, &http.Cookie{Name: uiLoginCookie, Value: "", Path: "/login", MaxAge: -1, HttpOnly: true,
		Secure: u.secure, SameSite: http.SameSiteStrictMode})
	u.log.Info("admin change", "by", "ui:"+name, "action", "admin.login", "target", name, "remote", r.RemoteAddr)
	http.Redirect(w, r, d.Next, http.StatusSeeOther)
}

func (u *ui) postLogout(w http.ResponseWriter, r *http.Request, s *uiSession) {
	u.endSession(w, r)
	u.log.Info("admin change", "by", actor(s), "action", "admin.logout", "target", s.admin)
	u.render(w, r, nil, http.StatusOK, "message", view{Title: "Signed out",
		Flash: "You are signed out of gatehouse admin.", Data: map[string]string{"Link": "/login", "LinkText": "Sign in again"}})
}
