package testenv

import (
	"os/exec"
	"testing"
)

// StartNginxBasic starts a private nginx (scripts/start-nginx-basic.sh, in a temp dir) on
// 127.0.0.1 that does HTTP Basic auth and proxies to upstream (host:port) with the user in
// X-Remote-User, the client's Authorization removed. It returns the base URL
// (http://127.0.0.1:PORT) once nginx answers, and stops it by its PID when the test ends.
//
// Users (see the script): alice/alicepass, bob/bobpass, "josé"/josepass,
// jdoe@EXAMPLE.COM/jdoepass, carol/carolpass, dave/davepass.
//
// Without nginx or htpasswd installed the test fails under GATEHOUSE_TEST_REQUIRE=1 and is
// skipped otherwise.
func StartNginxBasic(t testing.TB, upstream string) string {
	t.Helper()
	return StartNginxBasicFrom(t, upstream, "")
}

// StartNginxBasicFrom is StartNginxBasic with nginx connecting to upstream from the local
// address bind (nginx proxy_bind; "" for the kernel's choice). With bind 127.0.0.2 a gateway
// on 127.0.0.1 sees the proxy as peer 127.0.0.2, apart from direct clients on 127.0.0.1.
func StartNginxBasicFrom(t testing.TB, upstream, bind string) string {
	t.Helper()
	bin, err := nginxBin()
	if err != nil {
		missingTool(t, "nginx", "nginx")
	}
	if _, err := exec.LookPath("htpasswd"); err != nil {
		missingTool(t, "htpasswd", "apache2-utils")
	}
	base, _ := startProxyScript(t, proxyScript{
		script: "start-nginx-basic.sh",
		name:   "nginx",
		args:   []string{upstream},
		env:    []string{"PROXY_BIND=" + bind, pathWith(bin)},
		health: "/healthz",
		log:    "error.log",
	})
	return base
}
