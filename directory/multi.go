package directory

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ReadOnlySource is implemented by sources that implement Writer but may be configured
// read-only (read_only: true); Directory does not pick them for Add.
type ReadOnlySource interface {
	ReadOnly() bool
}

// Directory is the ordered set of data sources (CustomerUser, CustomerUser1 …
// CustomerUser10) with OTRS's merge rules (fact sheet §6). It is safe for concurrent use
// when its sources are.
type Directory struct {
	sources []Source
}

// New returns a directory over sources, in lookup order.
func New(sources ...Source) *Directory {
	return &Directory{sources: append([]Source(nil), sources...)}
}

// Sources returns the sources in lookup order.
func (d *Directory) Sources() []Source { return append([]Source(nil), d.sources...) }

// Source returns the source named name.
func (d *Directory) Source(name string) (Source, bool) {
	for _, s := range d.sources {
		if s.Name() == name {
			return s, true
		}
	}
	return nil, false
}

// Get returns the record of the first source that has login. A source failing with anything
// but ErrNotFound stops the lookup with that error rather than moving on: falling through
// could hand out a later source's different person with the same login while the right
// source is down, so the lookup fails closed.
func (d *Directory) Get(ctx context.Context, login string) (*CustomerUser, error) {
	for _, s := range d.sources {
		u, err := s.Get(ctx, login)
		if err == nil {
			return u, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("directory get %q: source %q: %w", login, s.Name(), err)
		}
	}
	return nil, fmt.Errorf("directory get %q: %w", login, ErrNotFound)
}

// Search asks every source (the limit applies per source) and merges the results in source
// order; on duplicate logins the earlier source wins. Logins are compared ignoring case,
// like the lookups.
func (d *Directory) Search(ctx context.Context, q Query) ([]CustomerUser, error) {
	var out []CustomerUser
	seen := map[string]bool{}
	for _, s := range d.sources {
		us, err := s.Search(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("directory search: source %q: %w", s.Name(), err)
		}
		for _, u := range us {
			k := strings.ToLower(u.Login)
			if seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, u)
		}
	}
	return out, nil
}

// CustomerIDs returns the first non-empty list of customer ids any source has for login.
func (d *Directory) CustomerIDs(ctx context.Context, login string) ([]string, error) {
	for _, s := range d.sources {
		ids, err := s.CustomerIDs(ctx, login)
		if err != nil {
			return nil, fmt.Errorf("directory customer ids %q: source %q: %w", login, s.Name(), err)
		}
		if len(ids) > 0 {
			return ids, nil
		}
	}
	return nil, nil
}

// writable reports whether s accepts writes.
func writable(s Source) (Writer, bool) {
	w, ok := s.(Writer)
	if !ok {
		return nil, false
	}
	if ro, ok := s.(ReadOnlySource); ok && ro.ReadOnly() {
		return nil, false
	}
	return w, true
}

// Add creates a customer user in the source named source, or in the first writable source
// when source is empty. A login that exists in ANY source is refused with ErrExists (OTRS's
// CustomerUserAdd); a named source that does not accept writes gives ErrReadOnly.
func (d *Directory) Add(ctx context.Context, source string, attrs map[string]string, by string) (*CustomerUser, error) {
	login := strings.TrimSpace(attrs[VarLogin])
	var target Writer
	for _, s := range d.sources {
		if source != "" && s.Name() != source {
			continue
		}
		w, ok := writable(s)
		if !ok {
			if source != "" {
				return nil, fmt.Errorf("directory add %q: source %q: %w", login, source, ErrReadOnly)
			}
			continue
		}
		target = w
		break
	}
	if target == nil {
		if source != "" {
			return nil, fmt.Errorf("directory add %q: source %q: %w", login, source, ErrNotFound)
		}
		return nil, fmt.Errorf("directory add %q: no writable source: %w", login, ErrReadOnly)
	}
	if login != "" {
		if u, err := d.Get(ctx, login); err == nil {
			return nil, fmt.Errorf("directory add %q: exists in source %q: %w", login, u.Source, ErrExists)
		} else if !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("directory add %q: %w", login, err)
		}
	}
	return target.Add(ctx, attrs, by)
}

// owner finds the source holding login and its writer.
func (d *Directory) owner(ctx context.Context, login string) (*CustomerUser, Writer, error) {
	u, err := d.Get(ctx, login)
	if err != nil {
		return nil, nil, err
	}
	s, ok := d.Source(u.Source)
	if !ok {
		return nil, nil, fmt.Errorf("source %q of %q is not in the directory: %w", u.Source, login, ErrNotFound)
	}
	w, ok := writable(s)
	if !ok {
		return nil, nil, fmt.Errorf("source %q: %w", u.Source, ErrReadOnly)
	}
	return u, w, nil
}

// Update changes login's record in the source that holds it.
func (d *Directory) Update(ctx context.Context, login string, attrs map[string]string, by string) (*CustomerUser, error) {
	u, w, err := d.owner(ctx, login)
	if err != nil {
		return nil, fmt.Errorf("directory update %q: %w", login, err)
	}
	return w.Update(ctx, u.Login, attrs, by)
}

// SetPassword stores login's password in the source that holds it (OTRS: the user's Source).
func (d *Directory) SetPassword(ctx context.Context, login, password string) error {
	u, w, err := d.owner(ctx, login)
	if err != nil {
		return fmt.Errorf("directory set password %q: %w", login, err)
	}
	return w.SetPassword(ctx, u.Login, password)
}

// Ping pings every source that can be pinged and reports all failures.
func (d *Directory) Ping(ctx context.Context) error {
	var errs []error
	for _, s := range d.sources {
		if p, ok := s.(Pinger); ok {
			if err := p.Ping(ctx); err != nil {
				errs = append(errs, fmt.Errorf("source %q: %w", s.Name(), err))
			}
		}
	}
	return errors.Join(errs...)
}
