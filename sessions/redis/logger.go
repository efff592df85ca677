package redis

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"
)

// slogLogger routes go-redis's own messages (dial failures while Redis is down, pool
// notices) into gatehouse's structured log instead of raw lines on stderr.
type slogLogger struct{ log *slog.Logger }

func (l slogLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}

var (
	loggerOnce sync.Once
	storeLog   atomic.Pointer[slog.Logger] // the stores' own messages (the invalidation feed)
)

// UseLogger sends go-redis's log lines, and the stores' own, to log. go-redis has one
// process-wide logger that it reads without locking, so only the first call takes effect
// (the binary calls it at start).
func UseLogger(log *slog.Logger) {
	loggerOnce.Do(func() {
		storeLog.Store(log)
		goredis.SetLogger(slogLogger{log: log})
	})
}

// logger is the log set by UseLogger, else slog's default.
func logger() *slog.Logger {
	if l := storeLog.Load(); l != nil {
		return l
	}
	return slog.Default()
}
