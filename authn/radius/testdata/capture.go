//go:build ignore

// capture records real RADIUS exchanges for msgauth_test.go: radclient (FreeRADIUS's own
// client, an implementation independent of ours) sends each request through this relay to a
// real FreeRADIUS, and the relay writes both datagrams as hex. Run from authn/radius with the
// servers of scripts/test-services.sh up:
//
//	go run testdata/capture.go 127.0.0.1:21812 127.0.0.1:21822 testing123 > testdata/captured.txt
package main

import (
	"encoding/hex"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"
)

func main() {
	maServer, plainServer, secret := os.Args[1], os.Args[2], os.Args[3]
	cases := []struct{ name, server, input string }{
		{"accept-alice", maServer, "User-Name = \"alice\"\nUser-Password = \"alicepass\"\nNAS-Identifier = \"capture\"\nMessage-Authenticator = 0x00\n"},
		{"accept-jose", maServer, "User-Name = \"josé\"\nUser-Password = \"josepass\"\nNAS-IP-Address = 127.0.0.1\nMessage-Authenticator = 0x00\n"},
		{"reject-mallory", maServer, "User-Name = \"mallory\"\nUser-Password = \"mallorypass\"\nNAS-Identifier = \"capture\"\nMessage-Authenticator = 0x00\n"},
		{"reject-alice-badpass", maServer, "User-Name = \"alice\"\nUser-Password = \"wrong\"\nNAS-Identifier = \"capture\"\nMessage-Authenticator = 0x00\n"},
		{"accept-bob-noma", plainServer, "User-Name = \"bob\"\nUser-Password = \"bobpass\"\nNAS-Identifier = \"capture\"\nMessage-Authenticator = 0x00\n"},
	}
	fmt.Printf("# Captured by testdata/capture.go from FreeRADIUS 3.2.1 and radclient; secret %q.\n", secret)
	fmt.Println("# name request-hex reply-hex")
	for _, c := range cases {
		req, resp := relayOnce(c.server, secret, c.input)
		fmt.Printf("%s %s %s\n", c.name, hex.EncodeToString(req), hex.EncodeToString(resp))
	}
}

func relayOnce(server, secret, input string) (req, resp []byte) {
	front, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer front.Close()
	back, err := net.Dial("udp", server)
	if err != nil {
		log.Fatal(err)
	}
	defer back.Close()
	cmd := exec.Command("radclient", "-t", "2", "-r", "1", front.LocalAddr().String(), "auth", secret)
	cmd.Stdin = strings.NewReader(input)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 4096)
	_ = front.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, client, err := front.ReadFrom(buf)
	if err != nil {
		log.Fatal(err)
	}
	req = append([]byte(nil), buf[:n]...)
	if _, err := back.Write(req); err != nil {
		log.Fatal(err)
	}
	_ = back.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, err = back.Read(buf)
	if err != nil {
		log.Fatal(err)
	}
	resp = append([]byte(nil), buf[:n]...)
	if _, err := front.WriteTo(resp, client); err != nil {
		log.Fatal(err)
	}
	_ = cmd.Wait() // radclient exits 1 on a reject; its verdict is not the point here
	return req, resp
}
