// Command fastproxy is the floor of gatehouse's stack in the load benchmark: a bare reverse
// proxy on fasthttp with the server and upstream-client settings gatehouse uses, and no
// authentication at all. It sends the upstream the same headers gatehouse sends for the
// benchmark's demo user (fixed values: identity, X-Forwarded-*, a request id), so the
// upstream, which shares the machine's cores, does the same work behind both. gatehouse's
// distance to it is what gatehouse's own work costs; its distance to nginx is what the
// Go/fasthttp stack and those headers cost.
//
//	fastproxy -listen 127.0.0.1:27092 -upstream 127.0.0.1:27081
package main

import (
	"flag"
	"log"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27092", "address to listen on")
	upstream := flag.String("upstream", "127.0.0.1:27081", "upstream host:port")
	flag.Parse()

	// As gateway/routes.go configures a route's client.
	hc := &fasthttp.HostClient{
		Addr:                     *upstream,
		StreamResponseBody:       true,
		MaxIdleConnDuration:      4 * time.Second,
		NoDefaultUserAgentHeader: true,
		MaxConns:                 1024,
		MaxConnWaitTimeout:       5 * time.Second,
		ReadBufferSize:           16 << 10,
	}
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			h := &ctx.Request.Header
			h.Del("Connection")
			h.Del("Cookie") // the benchmark's only cookie is the session's, which gatehouse keeps back
			for _, kv := range demoHeaders {
				h.Set(kv[0], kv[1])
			}
			h.Set("X-Forwarded-For", ctx.RemoteIP().String())
			h.SetBytesV("X-Forwarded-Host", h.Host())
			if err := hc.Do(&ctx.Request, &ctx.Response); err != nil {
				ctx.Error("bad gateway", fasthttp.StatusBadGateway)
				return
			}
			ctx.Response.Header.Del("Connection")
		},
		// As gateway.newApp: streamed bodies, gatehouse's default read-header and idle timeouts.
		StreamRequestBody:     true,
		NoDefaultServerHeader: true,
		ReadTimeout:           10 * time.Second,
		IdleTimeout:           75 * time.Second,
	}
	log.Fatal(srv.ListenAndServe(*listen))
}

// demoHeaders are the headers gatehouse adds for the --demo user (bench.sh checks the
// upstream gets them from gatehouse), besides X-Forwarded-For and -Host.
var demoHeaders = [][2]string{
	{"Remote-User", "demo"},
	{"X-Customer-Id", "DEMO"},
	{"X-Customer-Ids", "DEMO"},
	{"X-Customer-User-Email", "demo@example.com"},
	{"X-Customer-User-Groups", "users:rw"},
	{"X-Customer-User-Name", "Demo Customer"},
	{"X-Customer-User-Source", "Database Backend"},
	{"X-Forwarded-Proto", "http"},
	{"X-Request-Id", "1cd2633752d9000000000002"},
}
