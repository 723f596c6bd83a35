package main

import (
	"context"
	"errors"
	"flag"

	"github.com/nitro-cloud/nitro/node"
)

// errFsck is returned when fsck finds problems (exit status 1).
var errFsck = errors.New("the store has errors (see the report)")

// runFsck verifies every chunk and recipe of a stopped node's store
// against the live objects of its namespace, prints the report as JSON, and
// fails if anything is wrong. With --repair it drops corrupt chunks and bad
// recipes and fixes GC stamps.
func runFsck(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fsck", flag.ContinueOnError)
	config := fs.String("config", "", "YAML configuration `file` (default: built-in defaults)")
	repair := fs.Bool("repair", false, "drop corrupt chunks and bad recipes, fix GC stamps")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, log, err := offlineConfig(*config)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // stderr
	rep, err := node.OfflineFsck(ctx, cfg, *repair, log)
	if err != nil {
		return err
	}
	if err := printJSON(rep); err != nil {
		return err
	}
	if !rep.OK() {
		return errFsck
	}
	return nil
}
