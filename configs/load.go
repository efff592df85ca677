package configs

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed examples/default.yaml
var defaultYAML []byte

// DefaultYAML returns the embedded default configuration file (configs/examples/default.yaml),
// e.g. for `gatehouse check-config` to show or for writing a starter file.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Default returns the embedded default configuration, parsed, with defaults applied and
// validated: listen on 127.0.0.1:8080, SQLite in gatehouse-data/ below the working directory,
// memory sessions, the db auth module and db data source, one route "/" to the echo upstream.
// Each call returns a new Config.
func Default() *Config {
	c, err := parse(defaultYAML, "default.yaml", options{env: func(string) (string, bool) { return "", false }})
	if err != nil {
		panic("configs: the embedded default.yaml is invalid: " + err.Error())
	}
	return c
}

// Load reads and parses the configuration file at path; see Parse. Failing to read the file
// gives an ordinary error (wrapping the os error); problems in it give Errors.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(data, path)
}

// Parse parses a configuration file's contents; name is the file name used in errors ("config"
// if empty).
//
// Steps: strict YAML decoding (an unknown key, a wrong type, a key set twice is an error),
// ${VAR} expansion in every value (see below), reading the *_file secrets (password_hash_file,
// password_file, dsn_file, search_user_pw_file, user_pw_file, client_secret_file: the file's
// contents with one trailing newline trimmed go to the sibling key; setting both is an error;
// relative paths are relative to the working directory),
// the defaults (defaults.go; a default fills only a key the file leaves out or sets to null, so an
// explicit "" or [] is kept), and validation.
//
// ${VAR} is replaced by the environment variable VAR; unset, it is an error unless written
// ${VAR:-default}. $$ is a literal $ (so $${ is a literal ${); any other $ is kept as it is.
//
// Top-level keys starting with x- are ignored, so they can hold YAML anchors for "<<: *name"
// merges, as in Compose files.
//
// All problems are reported together as Errors, each with its key path and line.
func Parse(data []byte, name string) (*Config, error) {
	return parse(data, name, options{env: os.LookupEnv, readFile: readSecretFile})
}

// options are parse's dependencies, replaceable in tests.
type options struct {
	env      func(string) (string, bool)
	readFile func(string) (string, error)
}

// yamlLineErr matches yaml.v3's syntax errors, "yaml: line 3: did not find expected key".
var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func parse(data []byte, name string, opt options) (*Config, error) {
	if name == "" {
		name = "config"
	}
	if opt.readFile == nil {
		opt.readFile = readSecretFile
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, Errors{yamlError(name, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if len(extra.Content) > 0 {
			line = extra.Content[0].Line
		}
		if err != nil {
			return nil, Errors{yamlError(name, err)}
		}
		return nil, Errors{{File: name, Line: line, Msg: "more than one YAML document (remove the extra ---)"}}
	}

	c := &Config{}
	d := newDecoder(name, opt.env)
	if len(root.Content) > 0 {
		d.decode(root.Content[0], reflect.ValueOf(c).Elem(), "")
	}
	readSecrets(c, d, opt.readFile)
	applyDefaults(c, d.present)
	if d.lines["server.listen"] > 0 && d.lines["server.public_url"] == 0 {
		d.lines["server.public_url"] = d.lines["server.listen"] // derived from it
	}

	v := &errorList{file: name, lines: d.lines}
	validate(v, c, d.present)
	errs := d.errs
	for _, e := range v.errs {
		if !d.covers(e.Path) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return nil, errs.sorted()
	}
	return c, nil
}

// covers reports whether a decoding error was already reported at path or above it, so that
// validation does not repeat it as, say, "required".
func (d *decoder) covers(path string) bool {
	for p := range d.failed {
		if under(path, p) {
			return true
		}
	}
	return false
}

// yamlError converts a yaml.v3 syntax error to an Error with its line.
func yamlError(name string, err error) *Error {
	msg := err.Error()
	if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: name, Line: line, Msg: "YAML: " + m[2]}
	}
	return &Error{File: name, Msg: "YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// maxSecretFile bounds a *_file secret's size, so a mistake like /dev/zero fails fast.
const maxSecretFile = 64 << 10

// readSecretFile reads a secret file and trims one trailing newline ("\n" or "\r\n").
func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("%s: larger than %d KiB, not a secret", path, maxSecretFile>>10)
	}
	s := strings.TrimSuffix(string(b), "\n")
	return strings.TrimSuffix(s, "\r"), nil
}

// secret is a key with a sibling *_file key.
type secret struct {
	value         *string
	file          string
	path, keyName string // path of the value key; the file key is path + "_file"
}

// secrets lists every key that may be read from a file.
func secrets(c *Config) []secret {
	var s []secret
	for i := range c.Admin.Users {
		u := &c.Admin.Users[i]
		s = append(s, secret{&u.PasswordHash, u.PasswordHashFile, fmt.Sprintf("admin.users[%d].password_hash", i), "password_hash"})
	}
	r := &c.Sessions.Redis
	s = append(s, secret{&r.Password, r.PasswordFile, "sessions.redis.password", "password"})
	for i := range c.CustomerAuth {
		a := &c.CustomerAuth[i]
		p := fmt.Sprintf("customer_auth[%d].", i)
		s = append(s,
			secret{&a.SearchUserPw, a.SearchUserPwFile, p + "search_user_pw", "search_user_pw"},
			secret{&a.Password, a.PasswordFile, p + "password", "password"},
			secret{&a.ClientSecret, a.ClientSecretFile, p + "client_secret", "client_secret"})
	}
	for i := range c.CustomerUser {
		p := &c.CustomerUser[i].Params
		s = append(s,
			secret{&p.DSN, p.DSNFile, fmt.Sprintf("customer_user[%d].params.dsn", i), "dsn"},
			secret{&p.UserPw, p.UserPwFile, fmt.Sprintf("customer_user[%d].params.user_pw", i), "user_pw"})
	}
	return s
}

// readSecrets fills each value from its *_file.
func readSecrets(c *Config, d *decoder, read func(string) (string, error)) {
	for _, s := range secrets(c) {
		if s.file == "" {
			continue
		}
		fp := s.path + "_file"
		if *s.value != "" {
			d.errs = append(d.errs, &Error{File: d.file, Line: d.line(fp), Path: fp,
				Msg: fmt.Sprintf("%s and %s_file are both set; use one", s.keyName, s.keyName)})
			d.failed[s.path], d.failed[fp] = true, true
			continue
		}
		v, err := read(s.file)
		if err != nil {
			d.errs = append(d.errs, &Error{File: d.file, Line: d.line(fp), Path: fp, Msg: fmt.Sprintf("cannot read the file: %v", err)})
			d.failed[s.path], d.failed[fp] = true, true
			continue
		}
		*s.value = v
		d.present[s.path] = true
		d.lines[s.path] = d.line(fp)
	}
}
