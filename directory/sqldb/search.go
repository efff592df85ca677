package sqldb

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/gatehouse-sso/gatehouse/directory"
)

// The OTRS search syntax (Kernel::System::DB::QueryCondition, fact sheet §6), parsed into a
// small tree and rendered with bound values:
//
//   - a word is wrapped in customer_user_search_prefix/suffix; * is the wildcard; a word
//     without wildcard compares with =, otherwise LIKE;
//   - + , AND , && mean AND; OR , || mean OR; AND binds tighter (as in the SQL OTRS emits);
//     terms side by side without operator, like "(a)(b)", are ANDed;
//   - ! in front of a word negates it (NOT LIKE / != on every field, joined with AND);
//   - "a phrase" keeps spaces, parentheses and operators literal;
//   - whitespace is NOT an operator: "john doe" is one word (as in OTRS without Extended);
//   - \( \) \& \| \\ are literal characters;
//   - unlike OTRS, % and _ typed by the user are literal (escaped), not SQL wildcards.
//
// A malformed expression (unbalanced parentheses) matches nothing, as OTRS's "1=0" does.

// node is a parsed search expression.
type node struct {
	op   string  // "AND", "OR", or "" for a word
	kids []*node // operands of op
	word string  // the word, with * wildcards
	not  bool
}

type token struct {
	kind string // "word", "(", ")", "AND", "OR"
	text string
}

var phraseRE = regexp.MustCompile(`"(.+?)"`)

// phrase markers: private-use runes that cannot come from a keyboard.
const phraseOpen, phraseClose = '\uE000', '\uE001'

// tokenize splits a search expression into tokens.
func tokenize(expr string) []token {
	var phrases []string
	expr = phraseRE.ReplaceAllStringFunc(strings.TrimSpace(expr), func(m string) string {
		phrases = append(phrases, m[1:len(m)-1])
		return string(phraseOpen) + strconv.Itoa(len(phrases)-1) + string(phraseClose)
	})
	var toks []token
	var buf strings.Builder
	flush := func() {
		// Inside a run of plain text, AND and OR standing alone between spaces are
		// operators; everything else is one word, spaces included.
		var words []string
		emit := func() {
			if len(words) > 0 {
				toks = append(toks, token{kind: "word", text: restorePhrases(strings.Join(words, " "), phrases)})
				words = nil
			}
		}
		for _, w := range strings.FieldsFunc(buf.String(), unicode.IsSpace) {
			if w == "AND" || w == "OR" {
				emit()
				toks = append(toks, token{kind: w})
				continue
			}
			words = append(words, w)
		}
		emit()
		buf.Reset()
	}
	rs := []rune(expr)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		next := rune(0)
		if i+1 < len(rs) {
			next = rs[i+1]
		}
		switch {
		case r == '\\' && strings.ContainsRune(`()&|\`, next) && next != 0:
			buf.WriteRune(next)
			i++
		case r == '(' || r == ')':
			flush()
			toks = append(toks, token{kind: string(r)})
		case r == '&' && next == '&':
			flush()
			toks = append(toks, token{kind: "AND"})
			i++
		case r == '|' && next == '|':
			flush()
			toks = append(toks, token{kind: "OR"})
			i++
		case r == '+':
			flush()
			toks = append(toks, token{kind: "AND"})
		default:
			buf.WriteRune(r)
		}
	}
	flush()
	return toks
}

// restorePhrases puts the quoted phrases back into a word.
func restorePhrases(w string, phrases []string) string {
	if !strings.ContainsRune(w, phraseOpen) {
		return w
	}
	var b strings.Builder
	for {
		i := strings.IndexRune(w, phraseOpen)
		if i < 0 {
			b.WriteString(w)
			return b.String()
		}
		j := strings.IndexRune(w[i:], phraseClose)
		if j < 0 {
			b.WriteString(w)
			return b.String()
		}
		b.WriteString(w[:i])
		n, _ := strconv.Atoi(w[i+len(string(phraseOpen)) : i+j])
		if n >= 0 && n < len(phrases) {
			b.WriteString(phrases[n])
		}
		w = w[i+j+len(string(phraseClose)):]
	}
}

// parser is a recursive-descent parser over tokens:
//
//	or   := and { OR and }
//	and  := term { [AND] term }
//	term := word | "(" or ")"
type parser struct {
	toks []token
	pos  int
	bad  bool
}

func (p *parser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos].kind
	}
	return ""
}

func (p *parser) parseOr() *node {
	var kids []*node
	for {
		for p.peek() == "OR" || p.peek() == "AND" { // dangling operators are dropped, as OTRS does
			p.pos++
		}
		if n := p.parseAnd(); n != nil {
			kids = append(kids, n)
		}
		if p.peek() != "OR" {
			break
		}
	}
	return combine("OR", kids)
}

func (p *parser) parseAnd() *node {
	var kids []*node
	for {
		switch p.peek() {
		case "AND":
			p.pos++
			continue
		case "word":
			kids = append(kids, wordNode(p.toks[p.pos].text))
			p.pos++
			continue
		case "(":
			p.pos++
			n := p.parseOr()
			if p.peek() != ")" {
				p.bad = true
				return combine("AND", kids)
			}
			p.pos++
			if n != nil {
				kids = append(kids, n)
			}
			continue
		}
		return combine("AND", kids)
	}
}

func combine(op string, kids []*node) *node {
	switch len(kids) {
	case 0:
		return nil
	case 1:
		return kids[0]
	}
	return &node{op: op, kids: kids}
}

// wordNode handles the NOT prefix: "!x", and "*!x" (OTRS moves a wildcard the search
// frontend put in front of the ! behind it).
func wordNode(w string) *node {
	n := &node{word: w}
	rest := strings.TrimLeft(w, "*")
	if strings.HasPrefix(rest, "!") {
		n.not = true
		n.word = w[:len(w)-len(rest)] + strings.TrimSpace(strings.TrimLeft(rest, "!"))
	}
	return n
}

// parseSearch parses expr; ok is false for a malformed expression.
func parseSearch(expr string) (n *node, ok bool) {
	p := &parser{toks: tokenize(expr)}
	n = p.parseOr()
	for p.pos < len(p.toks) { // a stray ")" leaves tokens behind
		p.bad = true
		p.pos++
	}
	return n, !p.bad
}

// pattern is a word split at its * wildcards: segments are literal text, joined by "any".
type pattern struct {
	segs     []string
	wildcard bool
}

func newPattern(w string) pattern {
	return pattern{segs: strings.Split(w, "*"), wildcard: strings.Contains(w, "*")}
}

// like renders the pattern for LIKE … ESCAPE '!'.
func (p pattern) like() string {
	var b strings.Builder
	for i, s := range p.segs {
		if i > 0 && !strings.HasSuffix(b.String(), "%") {
			b.WriteByte('%')
		}
		b.WriteString(EscapeLike(s))
	}
	return b.String()
}

// glob renders the pattern for SQLite's case-sensitive GLOB, whose only escape is a
// one-character class.
func (p pattern) glob() string {
	var b strings.Builder
	for i, s := range p.segs {
		if i > 0 && !strings.HasSuffix(b.String(), "*") {
			b.WriteByte('*')
		}
		for _, r := range s {
			switch r {
			case '*', '?', '[':
				b.WriteString("[" + string(r) + "]")
			default:
				b.WriteRune(r)
			}
		}
	}
	return b.String()
}

// literal is the pattern without wildcards (only meaningful when !wildcard).
func (p pattern) literal() string { return strings.Join(p.segs, "") }

// match renders "col matches p" (or its negation), case-insensitively unless cs; folded says
// the column's collation already ignores case as LOWER() does (fold.go), so the
// case-insensitive form can compare directly and use the column's indexes.
// Negations treat NULL as "": OTRS's NOT LIKE drops rows whose column is NULL, which made
// "!x" over an optional column (title) hide most users.
func (db *DB) match(col string, p pattern, cs, not, folded bool) (string, []any) {
	if !cs && folded {
		return matchCollated(col, p, not)
	}
	c := col
	if not {
		c = "COALESCE(" + col + ", '')"
	}
	if !p.wildcard {
		v := p.literal()
		op := " = "
		if not {
			op = " <> "
		}
		switch {
		case !cs:
			return "LOWER(" + c + ")" + op + "LOWER(?)", []any{v}
		case db.dialect == MySQL:
			// MariaDB's *_ci collations ignore case even for =; BINARY compares bytes.
			return c + op + "BINARY ?", []any{v}
		default:
			return c + op + "?", []any{v}
		}
	}
	op := " LIKE "
	if not {
		op = " NOT LIKE "
	}
	switch {
	case !cs:
		return "LOWER(" + c + ")" + op + "LOWER(?)" + likeEscapeSQL, []any{p.like()}
	case db.dialect == MySQL:
		return c + op + "BINARY ?" + likeEscapeSQL, []any{p.like()}
	case db.dialect == SQLite:
		// SQLite's LIKE ignores ASCII case whatever the collation; GLOB does not.
		op = " GLOB "
		if not {
			op = " NOT GLOB "
		}
		return c + op + "?", []any{p.glob()}
	default:
		return c + op + "?" + likeEscapeSQL, []any{p.like()}
	}
}

// matchCollated renders "col matches p" (or its negation) under the column's own collation.
// The bound value is a coercible literal, so the column's collation decides: "=" and LIKE
// ignore case there as LOWER() on both sides would.
func matchCollated(col string, p pattern, not bool) (string, []any) {
	c := col
	if not {
		c = "COALESCE(" + col + ", '')"
	}
	if !p.wildcard {
		op := " = "
		if not {
			op = " <> "
		}
		return c + op + "?", []any{p.literal()}
	}
	op := " LIKE "
	if not {
		op = " NOT LIKE "
	}
	return c + op + "?" + likeEscapeSQL, []any{p.like()}
}

// render turns the tree into SQL over the search columns.
func (s *Source) render(n *node, cs bool) (string, []any) {
	if n.op != "" {
		parts := make([]string, 0, len(n.kids))
		var args []any
		for _, k := range n.kids {
			sq, a := s.render(k, cs)
			parts = append(parts, sq)
			args = append(args, a...)
		}
		return "(" + strings.Join(parts, " "+n.op+" ") + ")", args
	}
	p := newPattern(s.cfg.CustomerUserSearchPrefix + n.word + s.cfg.CustomerUserSearchSuffix)
	join := " OR "
	if n.not {
		join = " AND "
	}
	parts := make([]string, 0, len(s.search))
	var args []any
	for _, c := range s.search {
		sq, a := s.db.match(s.q(c), p, cs, n.not, s.folded[c])
		parts = append(parts, sq)
		args = append(args, a...)
	}
	return "(" + strings.Join(parts, join) + ")", args
}

// Search finds customer users, ordered by login. All given criteria must hold:
//   - Search: the OTRS search syntax over customer_user_search_fields;
//   - UserLogin: substring of the login (exact when the UserLogin Map type is int);
//   - PostMasterSearch: equal (ignoring case) to one of the postmaster search fields;
//   - CustomerID: the primary customer id, * as wildcard;
//   - ValidOnly: validity is the id of "valid".
//
// Matching ignores case unless params.search_case_sensitive. Limit defaults to
// customer_user_search_list_limit. The results carry the Map attributes and the customer ids,
// without the company merge.
func (s *Source) Search(ctx context.Context, q directory.Query) ([]directory.CustomerUser, error) {
	out, err := s.searchRows(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("customer_user search in %q: %w", s.cfg.Name, err)
	}
	return out, nil
}

// searchSQL renders the query Search runs for q (with ? placeholders); ok is false when q can
// match nothing (a malformed expression, a postmaster search without postmaster fields). On
// PostgreSQL it may ask the planner for an estimate first (plan.go).
func (s *Source) searchSQL(ctx context.Context, q directory.Query) (query string, args []any, ok bool) {
	cs := s.cfg.Params.SearchCaseSensitive
	var conds []string
	var tree *node
	if strings.TrimSpace(q.Search) != "" {
		n, ok := parseSearch(q.Search)
		if !ok {
			return "", nil, false
		}
		if n != nil {
			c, a := s.render(n, cs)
			conds = append(conds, c)
			args = append(args, a...)
			tree = n
		}
	}
	if q.UserLogin != "" {
		var c string
		var a []any
		if s.loginInt {
			c, a = s.db.match(s.q(s.key), pattern{segs: []string{q.UserLogin}}, cs, false, s.folded[s.key])
		} else {
			c, a = s.db.match(s.q(s.key), pattern{segs: []string{"", q.UserLogin, ""}, wildcard: true}, cs, false, s.folded[s.key])
		}
		conds = append(conds, c)
		args = append(args, a...)
	}
	if q.PostMasterSearch != "" {
		if len(s.postmtr) == 0 {
			return "", nil, false
		}
		var parts []string
		for _, col := range s.postmtr {
			c, a := s.db.match(s.q(col), pattern{segs: []string{q.PostMasterSearch}}, cs, false, s.folded[col])
			parts = append(parts, c)
			args = append(args, a...)
		}
		conds = append(conds, "("+strings.Join(parts, " OR ")+")")
	}
	if q.CustomerID != "" {
		c, a := s.db.match(s.q(s.custID), newPattern(q.CustomerID), cs, false, s.folded[s.custID])
		conds = append(conds, c)
		args = append(args, a...)
	}
	if q.ValidOnly && s.valid != "" {
		if s.hasValidTable {
			conds = append(conds, s.q(s.valid)+" IN (SELECT id FROM "+s.q(tableValid)+" WHERE name = 'valid')")
		} else {
			conds = append(conds, s.q(s.valid)+" = "+strconv.Itoa(directory.ValidID))
		}
	}
	limit := q.Limit
	if limit <= 0 {
		limit = s.limit
	}
	// Which conditions trigram indexes could answer (PostgreSQL): the search expression, or
	// a UserLogin substring of three or more characters.
	friendly := func(indexed map[string]bool) bool {
		if tree != nil && s.trigramFriendly(tree, indexed) {
			return true
		}
		return q.UserLogin != "" && !s.loginInt && indexed[s.key] && hasTrigram(pattern{segs: []string{q.UserLogin}})
	}
	return s.shapeSearch(ctx, strings.Join(conds, " AND "), args, limit, q.Offset, friendly), args, true
}

func (s *Source) searchRows(ctx context.Context, q directory.Query) ([]directory.CustomerUser, error) {
	sqlq, args, ok := s.searchSQL(ctx, q)
	if !ok {
		return nil, nil
	}
	if s.db.dialect == Postgres {
		args = append([]any{pgSearchMode}, args...)
	}
	rows, err := s.db.sql.QueryContext(ctx, s.db.Rebind(sqlq), args...)
	if err != nil {
		return nil, err
	}
	var out []directory.CustomerUser
	var logins []string
	for rows.Next() {
		u, err := s.scan(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, *u)
		logins = append(logins, u.Login)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if s.hasCUC && len(out) > 0 {
		extra, err := s.cucIDs(ctx, logins)
		if err != nil {
			return nil, err
		}
		for i := range out {
			out[i].CustomerIDs = appendUniq(out[i].CustomerIDs, extra[out[i].Login]...)
		}
	}
	return out, nil
}
