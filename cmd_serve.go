package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/nitro-cloud/nitro/node"
	"go.uber.org/zap"
)

// runServe runs a node until SIGINT or SIGTERM (ctx), then shuts it down
// gracefully. Without --config it runs the defaults of node/default.yaml: a
// single region on 127.0.0.1:8080, data in ./nitro-data and developer
// accounts whose credentials it prints on stdout. SIGHUP reads the config
// file again and applies what can change while serving (log.level,
// swift.accounts: see node.Node.Reload); it never stops the node.
func runServe(ctx context.Context, args []string) error {
	// Before anything else: SIGHUP's default action would kill the node.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	config := fs.String("config", "", "YAML configuration `file` (default: built-in defaults)")
	printDefault := fs.Bool("print-default-config", false, "print the default configuration and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *printDefault {
		_, err := os.Stdout.Write(node.DefaultYAML)
		return err
	}
	cfg := node.Default()
	if *config != "" {
		var err error
		if cfg, err = node.Load(*config); err != nil {
			return err
		}
	}
	log, level, err := cfg.NewLoggerLevel()
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // stderr
	if cfg.Store.MemoryLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		// Process-wide, so here rather than in node.New (tests run many
		// nodes in one process).
		debug.SetMemoryLimit(cfg.Store.MemoryLimit)
	}
	n, err := node.New(cfg, log)
	if err != nil {
		return err
	}
	fmt.Printf("swift: http://%s/v1 (data in %s)\n", n.SwiftAddr(), cfg.DataDir)
	if a := n.OpsAddr(); a != "" {
		fmt.Printf("ops: http://%s/metrics\n", a)
	}
	if cfg.DevAccounts() {
		u := cfg.Swift.Accounts[0]
		fmt.Printf("auth: curl -H 'X-Auth-User: %s:%s' -H 'X-Auth-Key: %s' http://%s/auth/v1.0\n",
			u.Name, u.Users[0].Name, u.Users[0].Key, n.SwiftAddr())
		fmt.Printf("swift: swift -A http://%s/auth/v1.0 -U %s:%s -K %s stat\n",
			n.SwiftAddr(), u.Name, u.Users[0].Name, u.Users[0].Key)
	}
	go reloadOnHUP(ctx, hup, *config, n, &level, log)
	runErr := n.Run(ctx)
	closeErr := n.Close()
	if err := errors.Join(runErr, closeErr); err != nil {
		log.Error("serve", zap.Error(err))
		return err
	}
	return nil
}

// reloadOnHUP reloads the node's configuration from path on every SIGHUP
// (hup) until ctx is done. A file that does not load is logged and leaves
// the node as it was.
func reloadOnHUP(ctx context.Context, hup <-chan os.Signal, path string, n *node.Node, level *zap.AtomicLevel, log *zap.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		if path == "" {
			log.Info("SIGHUP: no --config file, nothing to reload")
			continue
		}
		cfg, err := node.Load(path)
		if err != nil {
			log.Error("SIGHUP: configuration not reloaded, the node keeps running with the previous one", zap.Error(err))
			continue
		}
		if _, err := n.Reload(cfg, level); err != nil {
			log.Error("SIGHUP: reload incomplete", zap.Error(err))
		}
	}
}
