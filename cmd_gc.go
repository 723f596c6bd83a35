package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/nitro-cloud/nitro/node"
	"go.uber.org/zap"
)

// runGC runs one garbage collection on the data dir of a stopped node (a
// running node holds Badger's directory lock; use its ops listener's
// POST /gc instead) and prints the result as JSON.
func runGC(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("gc", flag.ContinueOnError)
	config := fs.String("config", "", "YAML configuration `file` (default: built-in defaults)")
	grace := fs.Duration("grace", 0, "keep chunks and recipes younger than this (default: gc.grace of the config)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, log, err := offlineConfig(*config)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // stderr
	res, err := node.OfflineGC(ctx, cfg, *grace, log)
	if err != nil {
		return err
	}
	return printJSON(res)
}

// offlineConfig loads the config (or the defaults) and a logger for the
// offline commands.
func offlineConfig(path string) (node.Config, *zap.Logger, error) {
	cfg := node.Default()
	if path != "" {
		var err error
		if cfg, err = node.Load(path); err != nil {
			return cfg, nil, err
		}
	}
	log, err := cfg.NewLogger()
	if err != nil {
		return cfg, nil, fmt.Errorf("log: %w", err)
	}
	return cfg, log, nil
}
