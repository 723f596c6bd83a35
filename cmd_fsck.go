package main

import (
	"context"
	"errors"
)

func runFsck(ctx context.Context, args []string) error {
	return errors.New("not implemented yet")
}
