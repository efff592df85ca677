package configs

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder turns a yaml.Node tree into a Config by reflection, by the fields' yaml tags. Unlike
// yaml.v3's own decoder it goes on after an error, so that every problem is reported with its
// key path and line, and it records which keys the file sets, so that defaults fill only what
// the file leaves out (an explicit empty value, e.g. admin.listen: "", is kept).
type decoder struct {
	errorList
	env     func(string) (string, bool)
	present map[string]bool     // key paths the file sets to a non-null value
	failed  map[string]bool     // key paths with a decoding error (validation stays quiet below them)
	active  map[*yaml.Node]bool // mappings and lists being decoded, to catch aliases to themselves
	budget  int                 // nodes left to visit; bounds alias expansion ("billion laughs")
}

// maxNodes bounds the nodes visited while decoding, aliases counted every time they are used.
const maxNodes = 100000

var (
	durationType = reflect.TypeFor[time.Duration]()
	mapRowType   = reflect.TypeFor[MapRow]()
	stringsType  = reflect.TypeFor[[]string]()
)

func newDecoder(file string, env func(string) (string, bool)) *decoder {
	return &decoder{
		errorList: errorList{file: file, lines: map[string]int{}},
		env:       env,
		present:   map[string]bool{},
		failed:    map[string]bool{},
		active:    map[*yaml.Node]bool{},
		budget:    maxNodes,
	}
}

// errorf records a decoding error at path on the line of node n.
func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: n.Line, Path: path, Msg: fmt.Sprintf(format, args...)})
	d.failed[path] = true
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

// decode stores node n into v. A null node leaves v as it is (unset).
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	n = resolve(n)
	if d.budget--; d.budget < 0 {
		if d.budget == -1 {
			d.errorf(n, path, "document too large (more than %d values, aliases counted each time they are used)", maxNodes)
		}
		return
	}
	if isNull(n) {
		return
	}
	if v.Kind() == reflect.Pointer {
		p := reflect.New(v.Type().Elem())
		d.budget++ // the pointed-to value is the same node
		d.decode(n, p.Elem(), path)
		v.Set(p)
		return
	}
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		if d.active[n] {
			d.errorf(n, path, "an alias refers to a value that contains it")
			return
		}
		d.active[n] = true
		defer delete(d.active, n)
	}
	d.present[path] = true
	switch v.Type() {
	case durationType:
		if s, ok := d.scalar(n, path); ok {
			dur, err := parseDuration(s)
			if err != nil {
				d.errorf(n, path, "want a duration such as 90s, 15m or 2h (a bare number is seconds), got %q", s)
			}
			v.SetInt(int64(dur))
		}
		return
	case mapRowType:
		d.mapRow(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Map:
		d.mapping(n, v, path)
	case reflect.Slice:
		d.sequence(n, v, path)
	case reflect.String:
		if s, ok := d.scalar(n, path); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		if s, ok := d.scalar(n, path); ok {
			b, ok := parseBool(s)
			if !ok {
				d.errorf(n, path, "want true or false, got %q", s)
			}
			v.SetBool(b)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if s, ok := d.scalar(n, path); ok {
			i, err := strconv.ParseInt(s, 10, v.Type().Bits())
			if err != nil {
				d.errorf(n, path, "want an integer, got %q", s)
			}
			v.SetInt(i)
		}
	default:
		panic("configs: no decoder for field type " + v.Type().String())
	}
}

// scalar returns the ${VAR}-expanded value of a scalar node.
func (d *decoder) scalar(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "want a single value, got %s", kindName(n))
		return "", false
	}
	s, err := expandEnv(n.Value, d.env)
	if err != nil {
		d.errorf(n, path, "%v", err)
		return "", false
	}
	return s, true
}

// pair is one key and value of a mapping; merged pairs come from a "<<" merge key.
type pair struct {
	key, val *yaml.Node
	merged   bool
}

// pairs lists a mapping's keys and values, with "<<: *anchor" merges resolved: keys the
// mapping sets itself win, then earlier merged mappings win over later ones.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var own, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!merge" {
			own = append(own, pair{key: k, val: v})
			continue
		}
		if d.budget--; d.budget < 0 {
			if d.budget == -1 {
				d.errorf(k, path, "document too large (more than %d values, aliases counted each time they are used)", maxNodes)
			}
			return own
		}
		src := resolve(v)
		var srcs []*yaml.Node
		switch src.Kind {
		case yaml.MappingNode:
			srcs = []*yaml.Node{src}
		case yaml.SequenceNode:
			for _, s := range src.Content {
				srcs = append(srcs, resolve(s))
			}
		}
		for _, s := range srcs {
			switch {
			case s.Kind != yaml.MappingNode:
				d.errorf(k, join(path, "<<"), "want a mapping or a list of mappings to merge, got %s", kindName(s))
			case d.active[s]:
				d.errorf(k, join(path, "<<"), "merges a mapping that contains this merge")
			default:
				d.active[s] = true
				for _, p := range d.pairs(s, path) {
					merged = append(merged, pair{key: p.key, val: p.val, merged: true})
				}
				delete(d.active, s)
			}
		}
	}
	if len(merged) == 0 {
		return own
	}
	seen := map[string]bool{}
	for _, p := range own {
		seen[p.key.Value] = true
	}
	for _, p := range merged {
		if !seen[p.key.Value] {
			seen[p.key.Value] = true
			own = append(own, p)
		}
	}
	return own
}

// keyOf checks a mapping key: a scalar, not set twice. It returns the key and false on error.
func (d *decoder) keyOf(p pair, path string, seen map[string]int) (string, bool) {
	k := resolve(p.key)
	if k.Kind != yaml.ScalarNode {
		d.errorf(k, path, "a key must be a single value, got %s", kindName(k))
		return "", false
	}
	if first, dup := seen[k.Value]; dup && !p.merged {
		d.errorf(k, join(path, k.Value), "key set twice (first on line %d)", first)
		return "", false
	}
	seen[k.Value] = k.Line
	return k.Value, true
}

// structure decodes a mapping into a struct by its fields' yaml tags; unknown keys are errors.
func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping of keys, got %s", kindName(n))
		return
	}
	fields := fieldsOf(v.Type())
	seen := map[string]int{}
	for _, p := range d.pairs(n, path) {
		key, ok := d.keyOf(p, path, seen)
		if !ok {
			continue
		}
		kp := join(path, key)
		if path == "" && strings.HasPrefix(key, "x-") {
			continue // extension keys, e.g. to hold YAML anchors (as in Compose files)
		}
		i, ok := fields.index[key]
		if !ok {
			d.errorf(p.key, kp, "unknown key%s", suggest(key, fields.names))
			continue
		}
		d.lines[kp] = p.key.Line
		d.decode(p.val, v.Field(i), kp)
	}
}

// mapping decodes a mapping with string keys into a Go map.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping, got %s", kindName(n))
		return
	}
	m := reflect.MakeMap(v.Type())
	seen := map[string]int{}
	for _, p := range d.pairs(n, path) {
		key, ok := d.keyOf(p, path, seen)
		if !ok {
			continue
		}
		kp := join(path, key)
		d.lines[kp] = p.key.Line
		e := reflect.New(v.Type().Elem()).Elem()
		d.decode(p.val, e, kp)
		m.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), e)
	}
	v.Set(m)
}

// sequence decodes a list into a slice. For a list of strings a single value is accepted as a
// one-element list (host: ldap://ldap.example.com), as OTRS admins write Host => '…'; an empty
// value ("") is an empty list.
func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.ScalarNode && v.Type() == stringsType {
		s, ok := d.scalar(n, path)
		if !ok {
			return
		}
		if s == "" {
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			return
		}
		ip := path + "[0]"
		d.lines[ip] = n.Line
		d.present[ip] = true
		v.Set(reflect.ValueOf([]string{s}))
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "want a list, got %s", kindName(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, e := range n.Content {
		ip := fmt.Sprintf("%s[%d]", path, i)
		d.lines[ip] = e.Line
		d.decode(e, s.Index(i), ip)
	}
	v.Set(s)
}

// mapRowFields are MapRow's fields in OTRS's order, by their names in the mapping form.
var mapRowFields = []string{"var", "label", "storage", "shown", "required", "type", "link", "readonly"}

// mapRow decodes an OTRS Map row, either as OTRS writes it,
//
//	[UserTitle, Title or salutation, title, 1, 0, var, "", 0]
//
// (OTRS's optional 9th and 10th items, the link target and class, are accepted and ignored), or as a
// mapping {var:, label:, storage:, shown:, required:, type:, link:, readonly:}. shown may be 0, 1 or 2
// (OTRS's "lite" display); 2 counts as shown. Sub-paths are named, e.g. map[3].storage.
func (d *decoder) mapRow(n *yaml.Node, v reflect.Value, path string) {
	field := func(name string, item *yaml.Node, line int) {
		fp := join(path, name)
		d.lines[fp] = line
		i := indexOf(mapRowFields, name)
		if name == "shown" {
			if item = resolve(item); item.Kind == yaml.ScalarNode && item.Value == "2" {
				d.present[fp] = true
				v.Field(i).SetBool(true)
				return
			}
		}
		d.decode(item, v.Field(i), fp)
	}
	switch n.Kind {
	case yaml.SequenceNode:
		if len(n.Content) < 8 || len(n.Content) > 10 {
			d.errorf(n, path, "a map row has 8 items [var, label, storage, shown, required, type, link, readonly], got %d", len(n.Content))
			return
		}
		for i, name := range mapRowFields {
			field(name, n.Content[i], n.Content[i].Line)
		}
	case yaml.MappingNode:
		seen := map[string]int{}
		for _, p := range d.pairs(n, path) {
			key, ok := d.keyOf(p, path, seen)
			if !ok {
				continue
			}
			if indexOf(mapRowFields, key) < 0 {
				d.errorf(p.key, join(path, key), "unknown key%s", suggest(key, mapRowFields))
				continue
			}
			field(key, p.val, p.key.Line)
		}
	default:
		d.errorf(n, path, "want a map row [var, label, storage, shown, required, type, link, readonly], got %s", kindName(n))
	}
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// structFields maps a struct type's yaml tags to field indexes.
type structFields struct {
	index map[string]int
	names []string
}

var fieldCache sync.Map // reflect.Type → *structFields

func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f := &structFields{index: map[string]int{}}
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		f.index[tag] = i
		f.names = append(f.names, tag)
	}
	fieldCache.Store(t, f)
	return f
}

// join appends a key to a key path; keys that are not plain names are quoted: headers["a b"].
func join(path, key string) string {
	plain := key != ""
	for _, c := range key {
		if !(c == '_' || c == '-' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			plain = false
			break
		}
	}
	switch {
	case !plain:
		return path + "[" + strconv.Quote(key) + "]"
	case path == "":
		return key
	}
	return path + "." + key
}

// suggest returns ` (did you mean "x"?)` for the known name closest to key, if one is close.
func suggest(key string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(key), k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// parseBool accepts true/false, yes/no, on/off and OTRS's 1/0, in any case.
func parseBool(s string) (value, ok bool) {
	switch strings.ToLower(s) {
	case "true", "yes", "on", "1":
		return true, true
	case "false", "no", "off", "0":
		return false, true
	}
	return false, false
}

// parseDuration accepts Go durations (90s, 15m, 2h30m) and bare integers as seconds, the
// unit OTRS uses (SessionMaxIdleTime 7200, CacheTTL 86400).
func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
			return 0, strconv.ErrRange
		}
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}
