package admin

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/gatehouse-sso/gatehouse/directory"
)

// APIPrefix is where the JSON API lives on the admin listener.
const APIPrefix = "/api/v1/"

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the API's OpenAPI 3 document (served at /api/v1/openapi.json).
func OpenAPI() []byte { return bytes.Clone(openAPIDoc) }

// maxBody bounds request bodies.
const maxBody = 1 << 20

// LoadTokens reads admin.api_tokens_file: one bearer token per line; blank lines and lines
// starting with # are ignored, surrounding whitespace is trimmed. A token shorter than 16
// characters is refused (guessable). An empty path gives no tokens (the API answers 401).
func LoadTokens(path string) ([]string, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("admin.api_tokens_file: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if len(t) < 16 {
			return nil, fmt.Errorf("admin.api_tokens_file %s:%d: token shorter than 16 characters", path, n)
		}
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("admin.api_tokens_file: %w", err)
	}
	return out, nil
}

type api struct {
	svc    *Service
	tokens [][32]byte // sha256 of each token
	log    *slog.Logger
	mux    *http.ServeMux
}

// route is one API route: a ServeMux pattern and its handler.
type route struct {
	pattern string
	public  bool
	h       func(w http.ResponseWriter, r *http.Request, by string)
}

// NewAPI returns the JSON API handler (paths under /api/v1/). Requests need
// "Authorization: Bearer <token>" with one of tokens (compared in constant time); the
// OpenAPI document at /api/v1/openapi.json is public. log (nil: slog.Default) receives
// request failures; the service logs the audit lines.
func NewAPI(svc *Service, tokens []string, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	a := &api{svc: svc, log: log, mux: http.NewServeMux()}
	for _, t := range tokens {
		if t != "" {
			a.tokens = append(a.tokens, sha256.Sum256([]byte(t)))
		}
	}
	for _, rt := range a.routes() {
		rt := rt
		a.mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) {
			by := ""
			if !rt.public {
				var ok bool
				if by, ok = a.auth(r); !ok {
					w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse admin API"`)
					writeError(w, http.StatusUnauthorized, "missing or invalid bearer token", "")
					return
				}
			}
			rt.h(w, r, by)
		})
	}
	return a
}

// routes lists every route; the OpenAPI test checks them against the document.
func (a *api) routes() []route {
	return []route{
		{pattern: "GET /api/v1/openapi.json", public: true, h: a.openapi},
		{pattern: "GET /api/v1/customers", h: a.listCustomers},
		{pattern: "POST /api/v1/customers", h: a.addCustomer},
		{pattern: "GET /api/v1/customers/{id}", h: a.getCustomer},
		{pattern: "PATCH /api/v1/customers/{id}", h: a.patchCustomer},
		{pattern: "DELETE /api/v1/customers/{id}", h: a.noDelete("customer")},
		{pattern: "GET /api/v1/customer-users", h: a.listCustomerUsers},
		{pattern: "POST /api/v1/customer-users", h: a.addCustomerUser},
		{pattern: "GET /api/v1/customer-users/{login}", h: a.getCustomerUser},
		{pattern: "PATCH /api/v1/customer-users/{login}", h: a.patchCustomerUser},
		{pattern: "DELETE /api/v1/customer-users/{login}", h: a.noDelete("customer user")},
		{pattern: "GET /api/v1/customer-users/{login}/permissions", h: a.permissions},
		{pattern: "GET /api/v1/customer-users/{login}/customers", h: a.customerIDs},
		{pattern: "PUT /api/v1/customer-users/{login}/customers/{id}", h: a.addCustomerID},
		{pattern: "DELETE /api/v1/customer-users/{login}/customers/{id}", h: a.removeCustomerID},
		{pattern: "GET /api/v1/groups", h: a.listGroups},
		{pattern: "POST /api/v1/groups", h: a.addGroup},
		{pattern: "GET /api/v1/groups/{name}", h: a.getGroup},
		{pattern: "PATCH /api/v1/groups/{name}", h: a.patchGroup},
		{pattern: "PUT /api/v1/groups/{name}/members/{login}", h: a.member(MemberUser, true)},
		{pattern: "DELETE /api/v1/groups/{name}/members/{login}", h: a.member(MemberUser, false)},
		{pattern: "PUT /api/v1/groups/{name}/customers/{id}", h: a.member(MemberCustomer, true)},
		{pattern: "DELETE /api/v1/groups/{name}/customers/{id}", h: a.member(MemberCustomer, false)},
	}
}

// auth checks the bearer token and names the caller for the audit log ("api:" and the
// first 8 hex digits of the token's SHA-256).
func (a *api) auth(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	found := 0
	for _, t := range a.tokens {
		found |= subtle.ConstantTimeCompare(sum[:], t[:])
	}
	if found != 1 {
		return "", false
	}
	return "api:" + hex.EncodeToString(sum[:4]), true
}

// ServeHTTP answers from the routes; unknown paths and methods get JSON 404 and 405.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := a.mux.Handler(r); pattern == "" {
		rec := &statusRecorder{header: http.Header{}}
		h, _ := a.mux.Handler(r)
		h.ServeHTTP(rec, r)
		switch rec.status {
		case http.StatusMethodNotAllowed:
			if allow := rec.header.Get("Allow"); allow != "" {
				w.Header().Set("Allow", allow)
			}
			writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed here", "")
		case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
			for k, v := range rec.header {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.status)
		default:
			writeError(w, http.StatusNotFound, "no such API path", "")
		}
		return
	}
	a.mux.ServeHTTP(w, r)
}

type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return len(b), nil
}
func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
}

// ---- responses ----

// APIError is the JSON error body.
type APIError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg, field string) {
	writeJSON(w, status, APIError{Error: msg, Field: field})
}

// statusOf maps service errors to HTTP statuses.
func statusOf(err error) int {
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, directory.ErrExists), errors.Is(err, directory.ErrReadOnly), errors.Is(err, ErrNoCustomer):
		return http.StatusConflict
	case errors.Is(err, directory.ErrInvalid), errors.Is(err, ErrBadRows):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnsupported):
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}

func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	st := statusOf(err)
	msg := err.Error()
	if st == http.StatusInternalServerError {
		a.log.Error("admin API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error (see the gatehouse log)"
	}
	writeError(w, st, msg, FieldOf(err))
}

// ---- requests ----

// decodeAttrs reads a JSON object of field → string or number (null: ""). Nested values
// are refused with the field named.
func decodeAttrs(w http.ResponseWriter, r *http.Request) (map[string]string, error) {
	raw := map[string]any{}
	if err := decodeBody(w, r, &raw); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		switch x := v.(type) {
		case nil:
			out[k] = ""
		case string:
			out[k] = x
		case json.Number:
			out[k] = x.String()
		default:
			return nil, fail(directory.ErrInvalid, k, "%s must be a string or a number", k)
		}
	}
	return out, nil
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return fail(directory.ErrInvalid, "", "Content-Type must be application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return fail(directory.ErrInvalid, "", "empty body: a JSON object is required")
		}
		return fail(directory.ErrInvalid, "", "invalid JSON body: %v", err)
	}
	if dec.More() {
		return fail(directory.ErrInvalid, "", "invalid JSON body: more than one value")
	}
	return nil
}

func queryInt(r *http.Request, name string) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fail(directory.ErrInvalid, name, "%s must be a non-negative integer", name)
	}
	return n, nil
}

// ---- handlers ----

func (a *api) openapi(w http.ResponseWriter, _ *http.Request, _ string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDoc)
}

func (a *api) noDelete(what string) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, _ *http.Request, _ string) {
		w.Header().Set("Allow", "GET, PATCH")
		writeError(w, http.StatusMethodNotAllowed,
			"a "+what+" cannot be deleted: set its validity instead (PATCH with {\"ValidID\": 2} for invalid)", directory.VarValidID)
	}
}

func (a *api) listCustomers(w http.ResponseWriter, r *http.Request, _ string) {
	limit, err := queryInt(r, "limit")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	cs, err := a.svc.ListCustomers(r.Context(), r.URL.Query().Get("search"), limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]map[string]any, len(cs))
	for i := range cs {
		out[i] = CompanyRecord(&cs[i])
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) addCustomer(w http.ResponseWriter, r *http.Request, by string) {
	attrs, err := decodeAttrs(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	c, err := a.svc.AddCustomer(r.Context(), by, attrs)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", APIPrefix+"customers/"+url.PathEscape(c.CustomerID))
	writeJSON(w, http.StatusCreated, CompanyRecord(c))
}

func (a *api) getCustomer(w http.ResponseWriter, r *http.Request, _ string) {
	c, err := a.svc.GetCustomer(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, CompanyRecord(c))
}

func (a *api) patchCustomer(w http.ResponseWriter, r *http.Request, by string) {
	attrs, err := decodeAttrs(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	c, err := a.svc.UpdateCustomer(r.Context(), by, r.PathValue("id"), attrs)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, CompanyRecord(c))
}

func (a *api) listCustomerUsers(w http.ResponseWriter, r *http.Request, _ string) {
	limit, err := queryInt(r, "limit")
	if err == nil {
		var offset int
		offset, err = queryInt(r, "offset")
		if err == nil {
			var us []directory.CustomerUser
			if q := r.URL.Query().Get("search"); q != "" {
				if offset > 0 {
					err = fail(directory.ErrInvalid, "offset", "offset does not apply to searches")
				} else {
					us, err = a.svc.SearchCustomerUsers(r.Context(), q, limit)
				}
			} else {
				us, err = a.svc.ListCustomerUsers(r.Context(), limit, offset)
			}
			if err == nil {
				out := make([]map[string]any, len(us))
				for i := range us {
					out[i] = a.svc.Record(&us[i])
				}
				writeJSON(w, http.StatusOK, out)
				return
			}
		}
	}
	a.fail(w, r, err)
}

func (a *api) addCustomerUser(w http.ResponseWriter, r *http.Request, by string) {
	attrs, err := decodeAttrs(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	source := attrs["Source"]
	delete(attrs, "Source")
	u, pw, err := a.svc.AddCustomerUser(r.Context(), by, source, attrs)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	rec := a.svc.Record(u)
	if pw != "" {
		rec[directory.VarPassword] = pw
	}
	w.Header().Set("Location", APIPrefix+"customer-users/"+url.PathEscape(u.Login))
	writeJSON(w, http.StatusCreated, rec)
}

func (a *api) getCustomerUser(w http.ResponseWriter, r *http.Request, _ string) {
	u, err := a.svc.GetCustomerUser(r.Context(), r.PathValue("login"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.svc.Record(u))
}

func (a *api) patchCustomerUser(w http.ResponseWriter, r *http.Request, by string) {
	attrs, err := decodeAttrs(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	u, n, err := a.svc.UpdateCustomerUser(r.Context(), by, r.PathValue("login"), attrs)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	rec := a.svc.Record(u)
	rec["SessionsEnded"] = n
	writeJSON(w, http.StatusOK, rec)
}

func (a *api) permissions(w http.ResponseWriter, r *http.Request, _ string) {
	e, err := a.svc.Permissions(r.Context(), r.PathValue("login"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

func (a *api) customerIDs(w http.ResponseWriter, r *http.Request, _ string) {
	ids, err := a.svc.CustomerIDsOf(r.Context(), r.PathValue("login"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ids)
}

func (a *api) addCustomerID(w http.ResponseWriter, r *http.Request, by string) {
	if err := a.svc.AddCustomerID(r.Context(), by, r.PathValue("login"), r.PathValue("id")); err != nil {
		a.fail(w, r, err)
		return
	}
	a.customerIDs(w, r, by)
}

func (a *api) removeCustomerID(w http.ResponseWriter, r *http.Request, by string) {
	if err := a.svc.RemoveCustomerID(r.Context(), by, r.PathValue("login"), r.PathValue("id")); err != nil {
		a.fail(w, r, err)
		return
	}
	a.customerIDs(w, r, by)
}

func (a *api) listGroups(w http.ResponseWriter, r *http.Request, _ string) {
	gs, err := a.svc.ListGroups(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]map[string]any, len(gs))
	for i := range gs {
		out[i] = GroupRecord(&gs[i])
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) addGroup(w http.ResponseWriter, r *http.Request, by string) {
	attrs, err := decodeAttrs(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for k := range attrs {
		if k != "Name" && k != "Comment" && k != "ValidID" {
			a.fail(w, r, fail(directory.ErrInvalid, k, "unknown group field %s (want Name, Comment, ValidID)", k))
			return
		}
	}
	g, err := a.svc.AddGroup(r.Context(), by, attrs["Name"], attrs["Comment"])
	if err == nil && attrs["ValidID"] != "" {
		g, err = a.svc.SetGroupValid(r.Context(), by, g.Name, attrs["ValidID"])
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", APIPrefix+"groups/"+url.PathEscape(g.Name))
	writeJSON(w, http.StatusCreated, GroupRecord(g))
}

func (a *api) groupWithMembers(w http.ResponseWriter, r *http.Request, name string, status int) {
	g, ms, err := a.svc.GetGroup(r.Context(), name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	rec := GroupRecord(g)
	users, customers := []map[string]string{}, []map[string]string{}
	for _, m := range ms {
		if m.Kind == MemberUser {
			users = append(users, map[string]string{"UserLogin": m.ID, "permission": m.Permission})
		} else {
			customers = append(customers, map[string]string{"CustomerID": m.ID, "permission": m.Permission})
		}
	}
	rec["Members"] = users
	rec["Customers"] = customers
	writeJSON(w, status, rec)
}

func (a *api) getGroup(w http.ResponseWriter, r *http.Request, _ string) {
	a.groupWithMembers(w, r, r.PathValue("name"), http.StatusOK)
}

func (a *api) patchGroup(w http.ResponseWriter, r *http.Request, by string) {
	attrs, err := decodeAttrs(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	g, err := a.svc.UpdateGroup(r.Context(), by, r.PathValue("name"), attrs)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.groupWithMembers(w, r, g.Name, http.StatusOK)
}

// member handles PUT/DELETE …/members/{login} and …/customers/{id} with
// {"permission": "ro"|"rw"}; the body is optional on DELETE (every permission).
func (a *api) member(kind string, grant bool) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, r *http.Request, by string) {
		var body struct {
			Permission string `json:"permission"`
		}
		if grant || r.ContentLength != 0 {
			if err := decodeBody(w, r, &body); err != nil && (grant || r.ContentLength > 0) {
				a.fail(w, r, err)
				return
			}
		}
		id := r.PathValue("login")
		if kind == MemberCustomer {
			id = r.PathValue("id")
		}
		var err error
		if grant {
			if body.Permission == "" {
				err = fail(directory.ErrInvalid, "permission", `permission is required: {"permission": "ro"} or "rw"`)
			} else {
				err = a.svc.Grant(r.Context(), by, r.PathValue("name"), kind, id, body.Permission)
			}
		} else {
			err = a.svc.Revoke(r.Context(), by, r.PathValue("name"), kind, id, body.Permission)
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		a.groupWithMembers(w, r, r.PathValue("name"), http.StatusOK)
	}
}
