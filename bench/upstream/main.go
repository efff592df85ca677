// Command upstream is the load benchmark's "direct upstream": a tiny net/http server that
// answers every GET (and HEAD) with the same 1 KiB body, keep-alive on. scripts/bench.sh
// measures it directly, behind nginx and behind gatehouse.
//
//	go run ./bench/upstream -listen 127.0.0.1:27081
//
// GET /.bench/headers is the one exception: it lists the request headers as text, so the
// benchmark's sanity check can see the identity headers gatehouse injected. It is never
// part of a measurement.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// BodySize is the size of the fixed answer.
const BodySize = 1024

// body is BodySize bytes of printable text ending in a newline, the same on every run.
var body = func() []byte {
	const line = "gatehouse bench upstream: fixed 1 KiB body, the same on every request.\n"
	b := make([]byte, 0, BodySize)
	for len(b) < BodySize-1 {
		b = append(b, line[len(b)%len(line)])
	}
	return append(b, '\n')
}()

var bodyLen = strconv.Itoa(len(body))

func handler(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == "/.bench/headers" {
		headers(w, r)
		return
	}
	h := w.Header()
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["Content-Length"] = []string{bodyLen}
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

// headers writes "Name: value" lines of the request, sorted, with Host first.
func headers(w http.ResponseWriter, r *http.Request) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Host: %s\n", r.Host)
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range r.Header[k] {
			fmt.Fprintf(&sb, "%s: %s\n", k, v)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(sb.String()))
}

func main() {
	listen := flag.String("listen", "127.0.0.1:27081", "address to listen on (host:port)")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: upstream [-listen 127.0.0.1:PORT]")
		os.Exit(2)
	}
	srv := &http.Server{
		Addr:              *listen,
		Handler:           http.HandlerFunc(handler),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          log.New(os.Stderr, "upstream: ", log.LstdFlags),
	}
	log.SetPrefix("upstream: ")
	log.Printf("listening on %s (%d-byte body)", *listen, len(body))
	log.Fatal(srv.ListenAndServe())
}
