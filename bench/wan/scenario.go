package main

import (
	"context"
	"errors"
)

// runScenarios runs scenarios (a)-(e); see nodes.go.
func runScenarios(ctx context.Context, args []string) error {
	return errors.New("run: not implemented yet")
}
