package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse: Parse never panics; it returns a config or Errors, never both; a config it returns
// validates again.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("examples/*.yaml")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	for _, s := range []string{
		base,
		base + "server: {listen: \"[::1]:0\", public_url: ${PUBLICURL}}\n",
		base + "sessions: {store: redis, redis: {addrs: [a:1, b:2], master_name: m}}\n",
		"customer_user: [{module: db, params: {dsn_file: /secrets/dsn}, map: [[UserLogin, L, login, 1, 1, var, '', 0]]}]\n",
		"a: &a [x]\nb: [*a, *a]\n",
		"x-a: &a {module: db}\ncustomer_auth: [{<<: *a}]\n",
		"routes: [{upstream: echo, require: {groups: {a: rw}}}]\n",
		"claims: {headers: {X-A: UserLogin}}\n",
	} {
		f.Add([]byte(s))
	}
	opt := testOptions()
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parse(data, "fuzz.yaml", opt)
		if err != nil {
			var errs Errors
			if c != nil || !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("config %v, error %T %v", c, err, err)
			}
			for _, e := range errs {
				if e.Msg == "" || e.File != "fuzz.yaml" || strings.Contains(e.Msg, "\n") && !strings.HasPrefix(e.Msg, "YAML") {
					t.Fatalf("bad error %#v", e)
				}
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("parsed config does not validate again:\n%v\n--- input:\n%s", err, data)
		}
	})
}
