package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/configs"
)

// TestUpgradeTunnel: an Upgrade request (WebSocket) is tunnelled byte for byte to the
// upstream with the identity headers set and spoofed ones removed; it never goes through
// the pooled client.
func TestUpgradeTunnel(t *testing.T) {
	seen := make(chan http.Header, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		seen <- req.Header
		_, _ = io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_, _ = io.Copy(conn, br) // echo
	}()
	h := newHarness(t, func(c *configs.Config) {
		c.Routes = []configs.Route{{Name: "ws", PathPrefix: "/", Upstream: "http://" + ln.Addr().String()}}
	})
	_, sess := h.login("jdoe", "Secret123!", "/")

	conn, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(conn, "GET /socket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nRemote_User: admin\r\nCookie: gatehouse_session="+sess.Value+"\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	hdr := <-seen
	if hdr.Get("Remote-User") != "jdoe" || hdr.Get("Remote_user") != "" || strings.Contains(hdr.Get("Cookie"), "gatehouse_session") {
		t.Fatalf("upgrade request headers upstream: %v", hdr)
	}
	_, _ = io.WriteString(conn, "ping through the tunnel")
	buf := make([]byte, len("ping through the tunnel"))
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping through the tunnel" {
		t.Fatalf("echo %q %v", buf, err)
	}
}

func TestUpgradeNeedsSession(t *testing.T) {
	h := newHarness(t, nil)
	resp, _ := h.do("GET", "/socket", nil, map[string]string{"Upgrade": "websocket", "Connection": "Upgrade"})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous upgrade: %d", resp.StatusCode)
	}
}

// An upgrade the upstream does not accept must not turn into a raw tunnel: a pipelined
// second request on the same connection would otherwise reach the upstream unchecked.
func TestUpgradeRefusedIsNoTunnel(t *testing.T) {
	h := newHarness(t, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	for _, upg := range []string{"websocket", "h2c"} {
		_, _ = io.WriteString(conn, "GET /static/a HTTP/1.1\r\nHost: x\r\nUpgrade: "+upg+"\r\nConnection: Upgrade\r\n\r\n"+
			"GET /static/b HTTP/1.1\r\nHost: x\r\nRemote-User: admin\r\n\r\n")
	}
	br := bufio.NewReader(conn)
	for i := 0; i < 4; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			break // the connection may be closed after a refused upgrade
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	h.up.mu.Lock()
	defer h.up.mu.Unlock()
	if r := h.up.last; r != nil && (r.Header.Get("Remote-User") != "" || r.Header.Get("Upgrade") != "") {
		t.Fatalf("upstream got Remote-User %q Upgrade %q", r.Header.Get("Remote-User"), r.Header.Get("Upgrade"))
	}
}
