package admin

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-sso/gatehouse/authn"
	authndb "github.com/gatehouse-sso/gatehouse/authn/db"
	"github.com/gatehouse-sso/gatehouse/authn/passwd"
	"github.com/gatehouse-sso/gatehouse/claims"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/sessions"
)

// chromiumPath is Debian's chromium (scripts/install-packages.sh installs it).
const chromiumPath = "/usr/bin/chromium"

// screenshotPath is where the browser test leaves a full-page screenshot of the customer-user
// edit page, for a person to look at.
const screenshotPath = "/tmp/admin-ui.png"

// The admin UI in real headless Chromium: sign in as admin, add a customer user with a
// generated password (read from the page), find them with an OTRS search, log the customer
// in (the DB auth module with that password, then a session in a real sessions.Manager that
// is the Service's revoker), set them invalid in the edit form and see the session end, and
// read the effective-permissions widget.
func TestBrowserAdminUI(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if testenv.Required() {
			t.Fatalf("%s missing (install it: scripts/install-packages.sh): %v", chromiumPath, err)
		}
		t.Skipf("%s missing: %v", chromiumPath, err)
	}
	start := time.Now()
	e := newUIEnv(t, testenv.SQLiteDSN(t), envOpts{})
	ctx := context.Background()
	// A customer, and a group its customer users get through the customer.
	if _, err := e.ui.svc.AddCustomer(ctx, "test", map[string]string{CompanyID: "ACME", CompanyName: "Acme Inc"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ui.svc.AddGroup(ctx, "test", "portal", "the customer portal"); err != nil {
		t.Fatal(err)
	}
	if err := e.ui.svc.Grant(ctx, "test", "portal", MemberCustomer, "ACME", "rw"); err != nil {
		t.Fatal(err)
	}

	// The browser: the flags known to work on this machine; chromedp makes and removes an
	// empty profile directory. The deadline on the allocator bounds the whole browser run.
	allocCtx, cancelAlloc := context.WithTimeout(ctx, 90*time.Second)
	defer cancelAlloc()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelExec := chromedp.NewExecAllocator(allocCtx, opts...)
	defer cancelExec()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()

	// do runs steps; then waits for the page a click loads (RunResponse) when click is set.
	step := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	click := func(what string, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		resp, err := chromedp.RunResponse(bctx, a)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if resp != nil && resp.Status >= 400 {
			t.Fatalf("%s: HTTP %d", what, resp.Status)
		}
	}
	text := func(what string, sel chromedp.ID) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return s
	}

	// 1. Sign in as admin (the first call starts the browser).
	step("open the admin UI", chromedp.Navigate(e.srv.URL+"/customer-users"), chromedp.WaitVisible(chromedp.ID("login")))
	if loc, _ := chromedp.Run(bctx, chromedp.Location()); !strings.Contains(loc, "/login?next=") {
		t.Fatalf("not sent to the login page: %s", loc)
	}
	step("type the admin credentials", chromedp.SendKeys(chromedp.ID("login"), uiAdmin), chromedp.SendKeys(chromedp.ID("password"), uiAdminPw))
	click("sign in", chromedp.Click(chromedp.CSS(`main form button[type=submit]`)))
	step("customer-user list", chromedp.WaitVisible(chromedp.ID("search")))

	// 2. Add a customer user; the password field stays empty, so one is generated.
	const login = "browser.user"
	click("open the add form", chromedp.Click(chromedp.ID("add-user")))
	step("fill the add form",
		chromedp.WaitVisible(chromedp.ID("f-UserLogin")),
		chromedp.SendKeys(chromedp.ID("f-UserFirstname"), "Bruno"),
		chromedp.SendKeys(chromedp.ID("f-UserLastname"), "Wser"),
		chromedp.SendKeys(chromedp.ID("f-UserLogin"), login),
		chromedp.SendKeys(chromedp.ID("f-UserEmail"), "bruno@example.com"),
		chromedp.SendKeys(chromedp.ID("f-UserRoom"), "R-42"),
		chromedp.SetValue(chromedp.ID("f-UserCustomerID"), "ACME"),
	)
	click("add", chromedp.Click(chromedp.ID("save")))
	step("result page", chromedp.WaitVisible(chromedp.ID("generated-password")))
	pw := strings.TrimSpace(text("generated password", chromedp.ID("generated-password")))
	if !alnum16.MatchString(pw) {
		t.Fatalf("generated password %q", pw)
	}

	// 3. Find them with an OTRS search.
	step("list", chromedp.Navigate(e.srv.URL+"/customer-users"), chromedp.WaitVisible(chromedp.ID("search")))
	step("type the search", chromedp.SendKeys(chromedp.ID("search"), "brow* OR nobody"))
	click("search", chromedp.Click(chromedp.CSS(`form[role=search] button[type=submit]`)))
	if got := text("result count", chromedp.ID("result-count")); !strings.Contains(got, `1 customer user matches "brow* OR nobody"`) {
		t.Fatalf("search result: %q", got)
	}
	if got := text("result table", chromedp.ID("customer-users")); !strings.Contains(got, login) || !strings.Contains(got, "Bruno Wser") {
		t.Fatalf("result table: %q", got)
	}
	if png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)); err == nil {
		_ = os.WriteFile(strings.TrimSuffix(screenshotPath, ".png")+"-search.png", png, 0o644)
	}

	// 4. The customer logs in with the generated password (the real DB auth module), and a
	// session is created in the Manager the Service ends sessions in.
	mod, err := authndb.New(e.cfg.CustomerAuth[0], e.db, passwd.NewPool(2, 8))
	if err != nil {
		t.Fatal(err)
	}
	res, err := mod.Authenticate(ctx, authn.Credentials{Login: login, Password: pw})
	if err != nil || res.Outcome != authn.Authenticated {
		t.Fatalf("the customer cannot log in with the generated password: %v %v", res.Outcome, err)
	}
	sid, _, err := e.mgr.Create(ctx, claims.Set{Login: login}, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.mgr.Load(ctx, sid); err != nil {
		t.Fatalf("the customer's session: %v", err)
	}

	// 5. Open the edit page from the search result; take the screenshot.
	click("open the edit page", chromedp.Click(chromedp.CSS(`#customer-users a[href="/customer-user/`+login+`"]`)))
	step("edit page", chromedp.WaitVisible(chromedp.ID("effective-permissions")))
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(screenshotPath, png, 0o644); err != nil {
		t.Fatal(err)
	}

	// 6. The effective-permissions widget.
	widget := text("widget", chromedp.ID("effective-permissions"))
	if !strings.Contains(widget, "portal") || !strings.Contains(widget, "rw (implies every permission)") ||
		!strings.Contains(widget, "X-Customer-User-Groups: portal:rw") {
		t.Fatalf("effective permissions widget: %q", widget)
	}

	// 7. Set them invalid: the session ends at once.
	step("choose invalid", chromedp.SetValue(chromedp.ID("f-ValidID"), "2"))
	click("save", chromedp.Click(chromedp.ID("save")))
	if msg := text("message", chromedp.ID("messages")); !strings.Contains(msg, "Validity: invalid. 1 session(s) ended.") {
		t.Fatalf("message after setting invalid: %q", msg)
	}
	if _, err := e.mgr.Load(ctx, sid); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("the customer's session survived: %v", err)
	}
	if u, err := e.ui.svc.GetCustomerUser(ctx, login); err != nil || u.Valid() || u.ValidID != 2 {
		t.Fatalf("customer user after the change: %+v %v", u, err)
	}
	if got, _ := chromedp.Run(bctx, chromedp.Value(chromedp.ID("f-ValidID"))); got != "2" {
		t.Fatalf("validity select shows %q", got)
	}
	t.Logf("browser flow took %v; screenshot in %s", time.Since(start).Round(time.Millisecond), screenshotPath)
}
