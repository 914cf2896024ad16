package api

import (
	"context"
	"fmt"
)

type contextT = context.Context

func wrapErr(err error) error { return fmt.Errorf("engine: %w", err) }
