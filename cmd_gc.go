package main

import (
	"context"
	"errors"
)

func runGC(ctx context.Context, args []string) error {
	return errors.New("not implemented yet")
}
