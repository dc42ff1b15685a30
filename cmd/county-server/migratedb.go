package main

import (
	"context"
	"errors"
)

func (e *env) runMigrateDB(ctx context.Context, args []string) error {
	return errors.New("migrate-db 尚未完成")
}
