// Command nitro is Nitro's single binary: the node daemon and the
// operator's tools.
//
//	nitro serve [--config FILE]     run a node (no config: single region on 127.0.0.1:8080)
//	nitro dedupstat [flags] FILE... measure dedup and compression of files
//	nitro fsck [--config FILE]      verify the store
//	nitro gc [--config FILE]        collect garbage now
//	nitro status [--config FILE]    this node, its peers and links
//	nitro plan [--config FILE] ACCOUNT/CONTAINER/OBJECT
//	                                how this region would fetch an object
//	nitro profile [--config FILE] [--clear] ACCOUNT/CONTAINER/OBJECT
//	                                an object's boot profile (see or clear)
//	nitro version [--json]          the module version and VCS revision
//	                                of this build (also: nitro --version)
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/nitro-cloud/nitro/internal/version"
)

// command is one subcommand: it parses its own flags from args.
type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"serve":     {"run a node", runServe},
		"dedupstat": {"measure dedup and compression of files", runDedupstat},
		"fsck":      {"verify every chunk and recipe of the store", runFsck},
		"gc":        {"remove unreferenced recipes and chunks now", runGC},
		"status":    {"show this node, its peers and link estimates", runStatus},
		"plan":      {"show how this region would fetch an object", runPlan},
		"profile":   {"show or clear an object's boot profile", runProfile},
		"version":   {"print the version and VCS revision of this build", runVersion},
	}
}

func main() {
	cmds := commands()
	if len(os.Args) == 2 && (os.Args[1] == "--version" || os.Args[1] == "-version") {
		os.Args[1] = "version"
	}
	if len(os.Args) < 2 || cmds[os.Args[1]].run == nil {
		usage(cmds)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cmds[os.Args[1]].run(ctx, os.Args[2:])
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "nitro %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// printJSON writes v to stdout as indented JSON, the machine-readable
// output of the operator commands.
func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func usage(cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(os.Stderr, "usage: nitro COMMAND [flags]    (nitro --version: the build)\n\ncommands:")
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, cmds[n].summary)
	}
}

// runVersion prints the build's version line, or with --json the
// version.Info object (the same as /info's "nitro" key).
func runVersion(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the build information as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	in := version.Get()
	if *asJSON {
		return printJSON(in)
	}
	_, err := fmt.Println(in)
	return err
}
