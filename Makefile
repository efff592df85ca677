# Convenience targets; every one runs a script under scripts/ that works on its own too.
.PHONY: test bench bench-soak bench-directory demo

# The whole test suite (the same as CI's .ci/run).
test:
	scripts/test.sh

# gatehouse on its embedded default (SQLite, memory sessions, built-in echo upstream).
demo:
	go run ./cmd/gatehouse serve --demo

# Load benchmark: direct upstream, nginx (1 and 2 workers), gatehouse (memory and Redis
# sessions), forward-auth and logins; writes its table to docs/benchmarks.md.
bench:
	scripts/bench.sh

# 10 million proxied requests with gatehouse's RSS sampled throughout.
bench-soak:
	scripts/bench.sh -soak

# 1,000,000 customer users in PostgreSQL and MariaDB: login lookup and search latency.
bench-directory:
	scripts/bench-directory.sh
