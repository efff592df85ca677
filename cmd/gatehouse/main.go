// Command gatehouse is the SSO gateway: serve, check-config, migrate, hash-password, version.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gatehouse-sso/gatehouse/authn/passwd"
	"github.com/gatehouse-sso/gatehouse/configs"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `gatehouse — an SSO gateway for OTRS / Znuny customer users

Usage:
  gatehouse serve [--config FILE] [--demo] [--listen ADDR]
                                             run the gateway (no --config: the embedded default)
  gatehouse check-config --config FILE       validate a config file; exit 1 on any error
  gatehouse migrate --config FILE            create the OTRS tables that are absent
  gatehouse migrate --indexes --config FILE  … and add gatehouse's indexes for lookups and searches
                                             at scale (changes a schema OTRS shares; --drop-indexes
                                             removes them again)
  gatehouse hash-password --crypt-type T [--login L] [--cost N]
                                             hash the password read from stdin, in OTRS storage format
  gatehouse customer add|list|set …          manage customers (companies)
  gatehouse customer-user add|set|list|search|set-password|set-valid|import …
                                             manage customer users (gatehouse customer-user help)
  gatehouse group add|list|grant|revoke|effective …
                                             manage groups and permissions
  gatehouse version                          print the version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(rest, stdout, stderr)
	case "check-config":
		return cmdCheckConfig(rest, stdout, stderr)
	case "migrate":
		return cmdMigrate(rest, stdout, stderr)
	case "hash-password":
		return cmdHashPassword(rest, stdin, stdout, stderr)
	case "customer", "customer-user", "group":
		return cmdAdmin(cmd, rest, stdin, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "gatehouse", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "gatehouse: unknown command %q\n\n%s", cmd, usage)
	return 2
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("gatehouse "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// loadConfig loads path, or the embedded default when path is empty. Errors are printed
// exactly as check-config prints them.
func loadConfig(path string, stderr io.Writer) (*configs.Config, bool) {
	if path == "" {
		return configs.Default(), true
	}
	cfg, err := configs.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: invalid configuration:\n%v\n", err)
		return nil, false
	}
	return cfg, true
}

func cmdServe(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("serve", stderr)
	path := fs.String("config", "", "config file (default: the embedded default)")
	demo := fs.Bool("demo", false, "create a demo customer company and customer user and print its password once")
	listen := fs.String("listen", "", "override server.listen (host:port)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, ok := loadConfig(*path, stderr)
	if !ok {
		return 1
	}
	if *listen != "" {
		// A public URL derived from the old address follows the new one — on loopback only:
		// elsewhere the config must say which URL customers use (and the cookie turns Secure).
		if cfg.Server.PublicURL == "http://"+cfg.Server.Listen {
			if !loopbackListen(*listen) {
				fmt.Fprintf(stderr, "gatehouse: --listen %s is not a loopback address: set server.public_url in a config file\n", *listen)
				return 2
			}
			cfg.Server.PublicURL = "http://" + *listen
		}
		cfg.Server.Listen = *listen
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app, err := build(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return 1
	}
	defer app.close()
	if *demo {
		if err := app.createDemo(ctx, stdout); err != nil {
			fmt.Fprintf(stderr, "gatehouse: demo: %v\n", err)
			return 1
		}
	}
	if err := app.gateway.Serve(ctx); err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return 1
	}
	return 0
}

func cmdCheckConfig(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check-config", stderr)
	path := fs.String("config", "", "config file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(stderr, "gatehouse check-config: --config FILE is required")
		return 2
	}
	if _, ok := loadConfig(*path, stderr); !ok {
		return 1
	}
	fmt.Fprintf(stdout, "%s: configuration OK\n", *path)
	return 0
}

func cmdMigrate(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("migrate", stderr)
	path := fs.String("config", "", "config file (default: the embedded default)")
	indexes := fs.Bool("indexes", false, "also create the gatehouse_ indexes for login lookups and searches (changes the OTRS schema)")
	dropIndexes := fs.Bool("drop-indexes", false, "remove the gatehouse_ indexes again")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *indexes && *dropIndexes {
		fmt.Fprintln(stderr, "gatehouse migrate: --indexes and --drop-indexes exclude each other")
		return 2
	}
	cfg, ok := loadConfig(*path, stderr)
	if !ok {
		return 1
	}
	migrate := migrateAll
	if *indexes || *dropIndexes {
		migrate = func(ctx context.Context, cfg *configs.Config, out io.Writer) error {
			return migrateIndexes(ctx, cfg, out, *dropIndexes)
		}
	}
	if err := migrate(context.Background(), cfg, stdout); err != nil {
		fmt.Fprintf(stderr, "gatehouse migrate: %v\n", err)
		return 1
	}
	return 0
}

func cmdHashPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("hash-password", stderr)
	typ := fs.String("crypt-type", passwd.TypeBcrypt, "storage format: "+strings.Join(passwd.Types, ", "))
	login := fs.String("login", "", "the login (salt for crypt, md5 and apr1, as OTRS uses it)")
	cost := fs.Int("cost", 12, "bcrypt cost (9..31)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !passwd.ValidType(*typ) {
		fmt.Fprintf(stderr, "gatehouse hash-password: unknown crypt type %q (want %s)\n", *typ, strings.Join(passwd.Types, ", "))
		return 2
	}
	switch *typ {
	case passwd.TypeCrypt, passwd.TypeMD5, passwd.TypeAPR1:
		if *login == "" {
			fmt.Fprintf(stderr, "gatehouse hash-password: --login is required for %s (OTRS salts it with the login)\n", *typ)
			return 2
		}
	}
	// The password comes on stdin so it never shows in the process list or shell history.
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintf(stderr, "gatehouse hash-password: read stdin: %v\n", err)
		return 1
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		fmt.Fprintln(stderr, "gatehouse hash-password: empty password on stdin")
		return 1
	}
	h, err := passwd.Hash(*typ, pw, *login, *cost)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse hash-password: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, h)
	return 0
}

// loopbackListen reports whether addr (host:port) listens on a loopback address only.
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
