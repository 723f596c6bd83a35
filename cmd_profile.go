package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/nitro-cloud/nitro/node"
)

// runProfile shows or clears an object's boot profile over the running
// node's ops listener (GET or DELETE /profile): which chunks the first
// Range reads of the object touched, which a region that lacks the object
// fetches first when it starts reading it.
func runProfile(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("profile", flag.ContinueOnError)
	opsURL := opsFlags(fs)
	clear := fs.Bool("clear", false, "clear the profile in every region (the next reads record a new one)")
	asJSON := fs.Bool("json", false, "print the profile as JSON, with its ref indices")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: nitro profile [--config FILE | --addr HOST:PORT] [--clear] [--json] ACCOUNT/CONTAINER/OBJECT")
	}
	base, err := opsURL()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	object := fs.Arg(0)
	if *clear {
		if err := node.QueryClearProfile(ctx, base, object); err != nil {
			return err
		}
		fmt.Printf("cleared the boot profile of %s\n", object)
		return nil
	}
	p, err := node.QueryProfile(ctx, base, object)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(p)
	}
	pct := 0.0
	if p.ObjectChunks > 0 {
		pct = 100 * float64(p.Chunks) / float64(p.ObjectChunks)
	}
	fmt.Printf("%s: boot profile recorded by %s at %s\n", p.Object, p.Region, p.RecordedAt)
	fmt.Printf("  %d of %d chunks (%.1f %%), %s of %s\n", p.Chunks, p.ObjectChunks, pct,
		bytesStr(p.PlainBytes), bytesStr(p.ObjectBytes))
	return nil
}
