package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/node"
)

// errFsck is returned when fsck finds problems (exit status 1).
var errFsck = errors.New("the store has errors (see the report)")

// runFsck verifies every chunk and recipe of a node's store against the
// live objects of its namespace, prints the report as JSON, and fails if
// anything is wrong. By default it opens the data dir of a stopped node;
// with --repair it drops corrupt chunks and bad recipes and fixes GC
// stamps. With --live it asks the running node over its ops listener
// (GET /fsck) for the same check, read-only: Badger lets one process open
// the data dir, so a second process cannot read a live store.
func runFsck(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fsck", flag.ContinueOnError)
	config := fs.String("config", "", "YAML configuration `file` (default: built-in defaults)")
	repair := fs.Bool("repair", false, "drop corrupt chunks and bad recipes, fix GC stamps (stopped node only)")
	live := fs.Bool("live", false, "check the running node's store read-only, through its ops listener")
	addr := fs.String("addr", "", "with --live: the node's ops listener `host:port` (default: ops_listen of the config)")
	timeout := fs.Duration("timeout", time.Hour, "with --live: how long to wait for the node's report")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var rep chunkstore.FsckReport
	if *live {
		if *repair {
			return errors.New("--repair needs the node stopped; --live is read-only")
		}
		base, err := opsBase(*config, *addr)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		if rep, err = node.QueryFsck(ctx, base); err != nil {
			return err
		}
	} else {
		if *addr != "" {
			return errors.New("--addr needs --live")
		}
		cfg, log, err := offlineConfig(*config)
		if err != nil {
			return err
		}
		defer log.Sync() //nolint:errcheck // stderr
		if rep, err = node.OfflineFsck(ctx, cfg, *repair, log); err != nil {
			return err
		}
	}
	if err := printJSON(rep); err != nil {
		return err
	}
	if !rep.OK() {
		return errFsck
	}
	return nil
}
