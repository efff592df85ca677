# Convenience targets; every one runs a script under scripts/ that works on its own too.
.PHONY: test bench bench-micro bench-soak bench-directory demo

# The whole test suite (the same as CI's .ci/run).
test:
	scripts/test.sh

# gatehouse on its embedded default (SQLite, memory sessions, built-in echo upstream).
demo:
	go run ./cmd/gatehouse serve --demo

# Load benchmark: direct upstream, nginx (1 and 2 workers), gatehouse (memory and Redis
# sessions), forward-auth, logins, streaming and a CPU profile; writes its results to
# docs/benchmarks.md and docs/profile-proxy.txt, then the Go micro-benchmarks. About 6 minutes; options in BENCH_ARGS,
# e.g. make bench BENCH_ARGS="-d 1s -r 1 -o /tmp/bench.md -P /tmp/profile.txt".
bench:
	scripts/bench.sh $(BENCH_ARGS)
	scripts/bench-micro.sh

# Only the Go micro-benchmarks of the hot paths (-benchmem), about a minute.
bench-micro:
	scripts/bench-micro.sh

# 10 million proxied requests with gatehouse's RSS sampled throughout (about 10–20 minutes);
# a short trial: make bench-soak BENCH_ARGS="-N 200000 -o /tmp/bench.md".
bench-soak:
	scripts/bench.sh --soak $(BENCH_ARGS)

# 1,000,000 customer users in PostgreSQL and MariaDB: login lookup and search latency.
bench-directory:
	scripts/bench-directory.sh
