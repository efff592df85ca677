package redis

import (
	"context"
	"fmt"
	"log/slog"

	goredis "github.com/redis/go-redis/v9"
)

// slogLogger routes go-redis's own messages (dial failures while Redis is down, pool
// notices) into gatehouse's structured log instead of raw lines on stderr.
type slogLogger struct{ log *slog.Logger }

func (l slogLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}

// UseLogger sends go-redis's log lines to log. go-redis has one process-wide logger, so the
// binary calls this once at start.
func UseLogger(log *slog.Logger) { goredis.SetLogger(slogLogger{log: log}) }
