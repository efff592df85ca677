package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// MaxSources is the number of OTRS data-source slots: CustomerUser, CustomerUser1 …
// CustomerUser10.
const MaxSources = 11

// ErrUnavailable: a data source failed (unreachable, timed out) where the directory could not
// skip it: the source has die set, or the operation is a write, which must see every source.
var ErrUnavailable = errors.New("data source unavailable")

// Dier is implemented by sources that can be configured to die (OTRS's Params->{Die}): a
// fault of such a source fails the lookup (the gateway answers 503) instead of being skipped.
type Dier interface {
	Die() bool
}

// ReadOnlySource is implemented by sources that implement Writer but may be configured
// read-only (read_only: true); Directory does not pick them for Add.
type ReadOnlySource interface {
	ReadOnly() bool
}

// Directory is the ordered set of data sources (CustomerUser, CustomerUser1 …
// CustomerUser10) with OTRS's merge rules (fact sheet §6). It is safe for concurrent use
// when its sources are.
//
// Reads (Get, Search, CustomerIDs) skip a source that fails, with a logged warning, unless the
// source dies (Dier): OTRS's Die, by default off. Writes (Add, Update, SetPassword) never
// skip: Add must know the login is in no source, and a write must reach the record the
// login really belongs to.
type Directory struct {
	sources []Source
	log     *slog.Logger
}

// New returns a directory over sources, in lookup order, logging to slog.Default. It does not
// check the number of sources (configuration validation does); NewDirectory does.
func New(sources ...Source) *Directory {
	return &Directory{sources: append([]Source(nil), sources...), log: slog.Default()}
}

// NewDirectory returns a directory over at most MaxSources sources with distinct names, in
// lookup order; log receives the warnings about skipped sources (nil: slog.Default).
func NewDirectory(log *slog.Logger, sources ...Source) (*Directory, error) {
	if len(sources) > MaxSources {
		return nil, fmt.Errorf("directory: %d data sources, at most %d", len(sources), MaxSources)
	}
	seen := map[string]bool{}
	for i, s := range sources {
		if s == nil {
			return nil, fmt.Errorf("directory: data source %d is nil", i)
		}
		if seen[s.Name()] {
			return nil, fmt.Errorf("directory: two data sources named %q", s.Name())
		}
		seen[s.Name()] = true
	}
	d := New(sources...)
	if log != nil {
		d.log = log
	}
	return d, nil
}

// dies reports whether a fault of s must fail the operation.
func dies(s Source) bool {
	d, ok := s.(Dier)
	return ok && d.Die()
}

// skip decides about a source's fault in a read: nil to skip it (logged), or the error to
// return, for a dying source or when the caller's context has ended (then every source
// would fail, and "not found" would be a lie).
func (d *Directory) skip(ctx context.Context, s Source, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("source %q: %w", s.Name(), err)
	}
	if dies(s) {
		d.log.Error("customer_user source failed; die is set", "source", s.Name(), "op", op, "err", err)
		return fmt.Errorf("source %q: %w: %w", s.Name(), ErrUnavailable, err)
	}
	d.log.Warn("customer_user source failed; skipped", "source", s.Name(), "op", op, "err", err)
	return nil
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

// Get returns the record of the first source that has login (OTRS's CustomerUserDataGet). A
// source that fails is skipped with a warning, as OTRS does, unless it dies: then the lookup
// fails with ErrUnavailable. Set die on a source whose logins may also exist, as different
// people, in a later source: skipping it would hand out the later record.
func (d *Directory) Get(ctx context.Context, login string) (*CustomerUser, error) {
	return d.get(ctx, login, false)
}

// get is Get; strict fails on any source's fault (for writes).
func (d *Directory) get(ctx context.Context, login string, strict bool) (*CustomerUser, error) {
	for _, s := range d.sources {
		u, err := s.Get(ctx, login)
		if err == nil {
			return u, nil
		}
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if strict {
			return nil, fmt.Errorf("directory get %q: source %q: %w: %w", login, s.Name(), ErrUnavailable, err)
		}
		if err := d.skip(ctx, s, "get", err); err != nil {
			return nil, fmt.Errorf("directory get %q: %w", login, err)
		}
	}
	return nil, fmt.Errorf("directory get %q: %w", login, ErrNotFound)
}

// Search asks every source (the limit applies per source) and merges the results in source
// order; on duplicate logins the earlier source wins. Logins are compared ignoring case,
// like the lookups. Offset skips that many of the merged results: with one source the
// source skips them itself (a page deep into a million customer users costs one page), with
// several each is asked for offset+limit and the merged list is cut.
func (d *Directory) Search(ctx context.Context, q Query) ([]CustomerUser, error) {
	offset := max(q.Offset, 0)
	if len(d.sources) > 1 && q.Offset > 0 {
		if q.Limit > 0 {
			q.Limit += offset
		}
		q.Offset = 0
	}
	var out []CustomerUser
	seen := map[string]bool{}
	for _, s := range d.sources {
		us, err := s.Search(ctx, q)
		if err != nil {
			if err := d.skip(ctx, s, "search", err); err != nil {
				return nil, fmt.Errorf("directory search: %w", err)
			}
			continue
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
	if len(d.sources) == 1 {
		return out, nil // the source skipped offset itself
	}
	if offset >= len(out) {
		return nil, nil
	}
	return out[offset:], nil
}

// CustomerIDs returns the first non-empty list of customer ids any source has for login; a
// failing source is skipped unless it dies, as in Get.
func (d *Directory) CustomerIDs(ctx context.Context, login string) ([]string, error) {
	for _, s := range d.sources {
		ids, err := s.CustomerIDs(ctx, login)
		if err != nil {
			if err := d.skip(ctx, s, "customer ids", err); err != nil {
				return nil, fmt.Errorf("directory customer ids %q: %w", login, err)
			}
			continue
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
// CustomerUserAdd), and a source that cannot be asked fails the add (ErrUnavailable); a
// named source that does not accept writes gives ErrReadOnly. The login's cached lookups are
// dropped in every source.
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
		if u, err := d.get(ctx, login, true); err == nil {
			return nil, fmt.Errorf("directory add %q: exists in source %q: %w", login, u.Source, ErrExists)
		} else if !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("directory add %q: %w", login, err)
		}
	}
	u, err := target.Add(ctx, attrs, by)
	d.invalidate(login, nil)
	if u != nil {
		d.invalidate(u.Login, nil)
	}
	return u, err
}

// invalidate drops login's cached lookups in every source, and purges the cache of owner.
func (d *Directory) invalidate(login string, owner Source) {
	for _, s := range d.sources {
		inv, ok := s.(Invalidator)
		if !ok {
			continue
		}
		if s == owner {
			inv.Purge()
		} else if login != "" {
			inv.Invalidate(login)
		}
	}
}

// owner finds the source holding login and its writer. Every source before it must answer:
// skipping a failed one could write to a later source's different person.
func (d *Directory) owner(ctx context.Context, login string) (*CustomerUser, Source, Writer, error) {
	u, err := d.get(ctx, login, true)
	if err != nil {
		return nil, nil, nil, err
	}
	s, ok := d.Source(u.Source)
	if !ok {
		return nil, nil, nil, fmt.Errorf("source %q of %q is not in the directory: %w", u.Source, login, ErrNotFound)
	}
	w, ok := writable(s)
	if !ok {
		return nil, nil, nil, fmt.Errorf("source %q: %w", u.Source, ErrReadOnly)
	}
	return u, s, w, nil
}

// Update changes login's record in the source that holds it; that source's cache is dropped,
// and the login's (old and new) in the others.
func (d *Directory) Update(ctx context.Context, login string, attrs map[string]string, by string) (*CustomerUser, error) {
	u, s, w, err := d.owner(ctx, login)
	if err != nil {
		return nil, fmt.Errorf("directory update %q: %w", login, err)
	}
	nu, err := w.Update(ctx, u.Login, attrs, by)
	d.invalidate(u.Login, s)
	if nu != nil && !strings.EqualFold(nu.Login, u.Login) {
		d.invalidate(nu.Login, s)
	}
	return nu, err
}

// SetPassword stores login's password in the source that holds it (OTRS: the user's Source);
// that source's cache is dropped.
func (d *Directory) SetPassword(ctx context.Context, login, password string) error {
	u, s, w, err := d.owner(ctx, login)
	if err != nil {
		return fmt.Errorf("directory set password %q: %w", login, err)
	}
	err = w.SetPassword(ctx, u.Login, password)
	d.invalidate(u.Login, s)
	return err
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
