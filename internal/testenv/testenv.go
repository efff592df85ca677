// Package testenv finds the real services the integration tests talk to (PostgreSQL,
// MariaDB, Redis, …) and gives each test its own database or key space.
//
// Addresses come from the environment that scripts/test-services.sh writes:
//
//	GATEHOUSE_TEST_PG_DSN     postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
//	GATEHOUSE_TEST_MYSQL_DSN  mysql://root@127.0.0.1:3306/test
//	GATEHOUSE_TEST_REDIS_ADDR 127.0.0.1:6379
//
// Without them the well-known local addresses are probed. When GATEHOUSE_TEST_REQUIRE=1 (set
// by the README's test command) a missing service fails the test; otherwise it is skipped
// with a message saying how to run it.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// Environment variable names.
const (
	EnvRequire   = "GATEHOUSE_TEST_REQUIRE"
	EnvPgDSN     = "GATEHOUSE_TEST_PG_DSN"
	EnvMySQLDSN  = "GATEHOUSE_TEST_MYSQL_DSN"
	EnvRedisAddr = "GATEHOUSE_TEST_REDIS_ADDR"
)

const (
	defaultPgDSN     = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	defaultMySQLDSN  = "mysql://root@127.0.0.1:3306/test"
	defaultRedisAddr = "127.0.0.1:6379"
)

// Required reports whether missing services must fail the run.
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// missing fails or skips t for an unavailable service.
func missing(t testing.TB, service string, err error) {
	t.Helper()
	msg := fmt.Sprintf("%s not reachable: %v (run scripts/test.sh, which starts it)", service, err)
	if Required() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// RandomName returns prefix plus 12 random hex characters, for throwaway databases and keys.
func RandomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// PostgresDB creates a fresh PostgreSQL database for the test, drops it at the end and
// returns its DSN in gatehouse form (postgres://…).
func PostgresDB(t testing.TB) string {
	t.Helper()
	admin := env(EnvPgDSN, defaultPgDSN)
	db, err := sql.Open("pgx", admin)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = db.PingContext(ctx)
		cancel()
	}
	if err != nil {
		missing(t, "PostgreSQL", err)
	}
	name := RandomName("gh_test_")
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		_, _ = db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		_ = db.Close()
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: %v", EnvPgDSN, err)
	}
	u.Path = "/" + name
	return u.String()
}

// MySQLDB creates a fresh MariaDB/MySQL database for the test, drops it at the end and
// returns its DSN in gatehouse form (mysql://user:pass@host:port/db).
func MySQLDB(t testing.TB) string {
	t.Helper()
	admin := env(EnvMySQLDSN, defaultMySQLDSN)
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: %v", EnvMySQLDSN, err)
	}
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = db.PingContext(ctx)
		cancel()
	}
	if err != nil {
		missing(t, "MariaDB", err)
	}
	name := RandomName("gh_test_")
	if _, err := db.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		_, _ = db.Exec("DROP DATABASE IF EXISTS " + name)
		_ = db.Close()
	})
	u.Path = "/" + name
	return u.String()
}

// SQLiteDSN returns a DSN for a fresh SQLite file in the test's temp dir.
func SQLiteDSN(t testing.TB) string {
	t.Helper()
	return "sqlite://" + t.TempDir() + "/gatehouse.db"
}

// RedisAddr returns the address of a reachable Redis server.
func RedisAddr(t testing.TB) string {
	t.Helper()
	addr := env(EnvRedisAddr, defaultRedisAddr)
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		_, err = c.Write([]byte("PING\r\n"))
		if err == nil {
			buf := make([]byte, 16)
			var n int
			n, err = c.Read(buf)
			if err == nil && !strings.HasPrefix(string(buf[:n]), "+PONG") {
				err = fmt.Errorf("unexpected answer %q", buf[:n])
			}
		}
		_ = c.Close()
	}
	if err != nil {
		missing(t, "Redis", err)
	}
	return addr
}
