package main

import (
	"context"
	"fmt"
	"io"

	"github.com/gatehouse-sso/gatehouse/configs"
)

// migrateIndexes is `migrate --indexes` (drop false) and `migrate --drop-indexes` (drop
// true): what plain migrate does, then the gatehouse_ indexes of every db data source are
// created or removed (directory/sqldb/indexes.go). A read_only source is left alone: gatehouse
// does not change a database it was told only to read; what it would create is printed.
func migrateIndexes(ctx context.Context, cfg *configs.Config, out io.Writer, drop bool) error {
	app, err := openSources(ctx, cfg, newLogger(cfg.Log, io.Discard), out)
	if err != nil {
		return err
	}
	defer app.close()
	for _, src := range app.sources {
		name := fmt.Sprintf("%s (%s)", src.Name(), src.DB())
		if drop {
			dropped, err := src.DropIndexes(ctx)
			if err != nil {
				return err
			}
			if len(dropped) == 0 {
				fmt.Fprintf(out, "%s: no gatehouse indexes\n", name)
			}
			for _, n := range dropped {
				fmt.Fprintf(out, "%s: dropped index %s\n", name, n)
			}
			continue
		}
		if src.ReadOnly() {
			rep, err := src.PlanIndexes(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%s: read_only, no indexes created\n", name)
			for _, ix := range rep.Planned {
				fmt.Fprintf(out, "%s: would create index %s (%s)\n", name, ix, ix.For)
			}
			continue
		}
		rep, err := src.CreateIndexes(ctx)
		for _, ix := range rep.Created {
			fmt.Fprintf(out, "%s: created index %s (%s)\n", name, ix, ix.For)
		}
		if err != nil {
			return err
		}
		for _, ix := range rep.Existing {
			fmt.Fprintf(out, "%s: index %s exists\n", name, ix)
		}
		for _, n := range rep.Notes {
			fmt.Fprintf(out, "%s: note: %s\n", name, n)
		}
		if len(rep.Created) > 0 {
			fmt.Fprintf(out, "%s: %d index(es) created, statistics refreshed\n", name, len(rep.Created))
		} else {
			fmt.Fprintf(out, "%s: all indexes present, nothing changed\n", name)
		}
	}
	if len(app.sources) == 0 {
		fmt.Fprintln(out, "no db data sources: nothing to index")
	}
	return nil
}
