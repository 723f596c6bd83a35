package main

import (
	"context"
	"errors"
)

func runDedupstat(ctx context.Context, args []string) error {
	return errors.New("not implemented yet")
}
