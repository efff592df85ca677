package admin

// The admin UI's pages: customer users, customers, groups. Every read and write goes through
// the Service, so the rules (required fields, no customer yet, uniqueness, read-only sources,
// session revocation, audit lines) are the API's and the CLI's.

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-sso/gatehouse/directory"
	"github.com/gatehouse-sso/gatehouse/directory/sqldb"
)

// uiCustomerChoices is how many customers a dropdown lists; beyond it the field is a text
// input with suggestions.
const uiCustomerChoices = 1000

func (u *ui) routes() {
	m := u.mux
	m.HandleFunc("GET /login", u.getLogin)
	m.HandleFunc("POST /login", u.postLogin)
	m.HandleFunc("POST /logout", u.post(u.postLogout))
	m.HandleFunc("GET /{$}", u.page(func(w http.ResponseWriter, r *http.Request, _ *uiSession) {
		http.Redirect(w, r, "/customer-users", http.StatusSeeOther)
	}))

	m.HandleFunc("GET /customer-users", u.page(u.listUsers))
	m.HandleFunc("GET /customer-users/new", u.page(u.newUser))
	m.HandleFunc("POST /customer-users/new", u.post(u.addUser))
	m.HandleFunc("GET /customer-user/{login}", u.page(u.editUser))
	m.HandleFunc("POST /customer-user/{login}", u.post(u.saveUser))
	m.HandleFunc("POST /customer-user/{login}/password", u.post(u.newPassword))
	m.HandleFunc("POST /customer-user/{login}/customer-ids", u.post(u.addUserCustomer))
	m.HandleFunc("POST /customer-user/{login}/customer-ids/remove", u.post(u.removeUserCustomer))

	m.HandleFunc("GET /customers", u.page(u.listCustomers))
	m.HandleFunc("GET /customers/new", u.page(u.newCustomer))
	m.HandleFunc("POST /customers/new", u.post(u.addCustomer))
	m.HandleFunc("GET /customer/{id}", u.page(u.editCustomer))
	m.HandleFunc("POST /customer/{id}", u.post(u.saveCustomer))

	m.HandleFunc("GET /groups", u.page(u.listGroups))
	m.HandleFunc("POST /groups/new", u.post(u.addGroup))
	m.HandleFunc("GET /group/{name}", u.page(u.editGroup))
	m.HandleFunc("POST /group/{name}", u.post(u.saveGroup))
	m.HandleFunc("POST /group/{name}/grant", u.post(u.grant))
	m.HandleFunc("POST /group/{name}/revoke", u.post(u.revoke))

	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		u.render(w, r, u.session(r), http.StatusNotFound, "message", view{Title: "Not found",
			Error: "There is no admin page at this address."})
	})
}

// ---- form fields ----

// uiField is one input of a form.
type uiField struct {
	Var      string
	Label    string
	Value    string
	Kind     string // text, email, password, customer, validity, textarea
	Required bool
	ReadOnly bool
	Invalid  bool
	Hint     string
}

type fieldForm interface{ markInvalid(field string) }

func markFields(fs []uiField, field string) {
	for i := range fs {
		fs[i].Invalid = fs[i].Var == field
	}
}

// formValues reads the submitted values of fields (trimmed of a trailing \r from textareas).
func formValues(r *http.Request, fs []uiField) {
	for i := range fs {
		if fs[i].ReadOnly {
			continue
		}
		if fs[i].Kind == "password" {
			fs[i].Value = "" // never sent back to the browser
			continue
		}
		fs[i].Value = r.PostForm.Get(fs[i].Var)
	}
}

// changedFields fills fs from the posted form and returns only what changed: fields that were
// sent, are editable and differ from the stored value, and a password only when one was
// typed. Only changes go to the Service, so the audit line names the changed fields and an
// unchanged validity ends no sessions.
func changedFields(r *http.Request, fs []uiField) map[string]string {
	cur := make(map[string]string, len(fs))
	for _, fd := range fs {
		cur[fd.Var] = fd.Value
	}
	attrs := map[string]string{}
	for _, fd := range fs {
		if fd.ReadOnly {
			continue
		}
		nv := r.PostForm.Get(fd.Var)
		if fd.Kind == "password" {
			if nv != "" {
				attrs[fd.Var] = nv
			}
			continue
		}
		if _, sent := r.PostForm[fd.Var]; sent && nv != cur[fd.Var] {
			attrs[fd.Var] = nv
		}
	}
	formValues(r, fs)
	return attrs
}

func validityValue(id int) string { return strconv.Itoa(id) }

// ---- customer users ----

type userRow struct {
	Login, Name, Email, CustomerID, Validity, Source string
	ReadOnly                                         bool
}

type userList struct {
	Search   string
	Rows     []userRow
	Page     int
	Limit    int
	Prev     string
	Next     string
	Searched bool
	Count    string
}

func (u *ui) userRow(cu *directory.CustomerUser) userRow {
	row := userRow{Login: cu.Login, Name: cu.Attrs[directory.VarFullname], Email: cu.Attrs[directory.VarEmail],
		CustomerID: cu.CustomerID, Source: cu.Source}
	if cu.HasValidity {
		row.Validity = ValidityName(cu.ValidID)
	}
	row.ReadOnly, _ = u.svc.Record(cu)["ReadOnly"].(bool)
	return row
}

func (u *ui) listUsers(w http.ResponseWriter, r *http.Request, s *uiSession) {
	q := r.URL.Query()
	d := &userList{Search: strings.TrimSpace(q.Get("search")), Page: 1, Limit: DefaultListLimit}
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 1 {
		d.Page = n
	}
	if n, err := strconv.Atoi(q.Get("limit")); err == nil && n > 0 && n < DefaultListLimit {
		d.Limit = n
	}
	v := view{Title: "Customer users", Section: "customer-users", Data: d}
	var users []directory.CustomerUser
	var err error
	if d.Search != "" {
		d.Searched = true
		users, err = u.svc.SearchCustomerUsers(r.Context(), d.Search, 0)
	} else {
		users, err = u.svc.ListCustomerUsers(r.Context(), d.Limit+1, (d.Page-1)*d.Limit)
	}
	if err != nil {
		u.formError(w, r, s, "users", v, err)
		return
	}
	if !d.Searched {
		link := func(p int) string {
			l := fmt.Sprintf("/customer-users?page=%d", p)
			if d.Limit != DefaultListLimit {
				l += fmt.Sprintf("&limit=%d", d.Limit)
			}
			return l
		}
		if len(users) > d.Limit {
			users = users[:d.Limit]
			d.Next = link(d.Page + 1)
		}
		if d.Page > 1 {
			d.Prev = link(d.Page - 1)
		}
	}
	for i := range users {
		d.Rows = append(d.Rows, u.userRow(&users[i]))
	}
	switch {
	case d.Searched && len(d.Rows) == 1:
		d.Count = fmt.Sprintf("1 customer user matches %q.", d.Search)
	case d.Searched:
		d.Count = fmt.Sprintf("%d customer users match %q.", len(d.Rows), d.Search)
	case len(d.Rows) == 0 && d.Page == 1:
		d.Count = "No customer users yet."
	default:
		first := (d.Page-1)*d.Limit + 1
		d.Count = fmt.Sprintf("Customer users %d to %d.", first, first+len(d.Rows)-1)
	}
	u.render(w, r, s, http.StatusOK, "users", v)
}

// userForm is the add and edit page of a customer user.
type userForm struct {
	Add          bool
	Action       string
	Login        string // the login edited
	Source       string
	Sources      []string // writable sources to add to, when more than one
	ReadOnly     bool
	ReadOnlyMsg  string
	NoCustomers  bool
	Fields       []uiField
	Customers    []sqldb.Company
	CustomerText bool // too many customers for a dropdown
	IDs          *CustomerIDs
	IDsErr       string
	Perms        *Effective
	PermsRows    []permRow
	PermsErr     string
}

type permRow struct {
	Group string
	Perms string
}

func (f *userForm) markInvalid(field string) { markFields(f.Fields, field) }

// userFields builds the form fields of source from its Map, filled with vals.
func (u *ui) userFields(source string, vals map[string]string, edit bool) ([]uiField, error) {
	fields, err := u.svc.Fields(source)
	if err != nil {
		return nil, err
	}
	hasValid := false
	var out []uiField
	for _, f := range fields {
		if f.Type == "dynamic_field" || f.Var == directory.VarFullname || f.Var == directory.VarCustomerIDs {
			continue
		}
		uf := uiField{Var: f.Var, Label: f.Label, Value: vals[f.Var], Required: f.Required, Kind: "text",
			ReadOnly: edit && f.ReadOnly && f.Var != directory.VarPassword}
		if uf.Label == "" {
			uf.Label = f.Var
		}
		switch f.Var {
		case directory.VarPassword:
			uf.Kind, uf.Required, uf.Value = "password", false, ""
			uf.Hint = "Leave empty to generate a random password (shown once)."
			if edit {
				uf.Hint = "Leave empty to keep the current password."
			}
		case directory.VarValidID:
			uf.Kind, uf.Required, hasValid = "validity", true, true
			if uf.Value == "" {
				uf.Value = "1"
			}
		case directory.VarCustomerID:
			uf.Kind = "customer"
		case directory.VarEmail:
			uf.Kind = "email"
		case directory.VarLogin:
			if edit {
				uf.Hint = "Renaming ends the customer user's sessions."
			}
		}
		out = append(out, uf)
	}
	if !hasValid {
		for _, info := range u.svc.Sources() {
			if info.Name == source && info.Validity {
				v := vals[directory.VarValidID]
				if v == "" {
					v = "1"
				}
				out = append(out, uiField{Var: directory.VarValidID, Label: "Valid", Value: v, Kind: "validity", Required: true})
			}
		}
	}
	return out, nil
}

// customers fills the customer dropdown.
func (u *ui) customers(r *http.Request, f *userForm) error {
	cs, err := u.svc.ListCustomers(r.Context(), "", uiCustomerChoices+1)
	if errors.Is(err, ErrUnsupported) {
		f.CustomerText = true
		return nil
	}
	if err != nil {
		return err
	}
	if len(cs) > uiCustomerChoices {
		cs, f.CustomerText = cs[:uiCustomerChoices], true
	}
	f.Customers = cs
	f.NoCustomers = len(cs) == 0
	return nil
}

func (u *ui) newUserForm(r *http.Request, source string) (*userForm, error) {
	name, err := u.svc.AddSource(source)
	if err != nil {
		return nil, err
	}
	f := &userForm{Add: true, Action: "/customer-users/new", Source: name}
	for _, info := range u.svc.Sources() {
		if !info.ReadOnly {
			f.Sources = append(f.Sources, info.Name)
		}
	}
	if len(f.Sources) < 2 {
		f.Sources = nil
	}
	if f.Fields, err = u.userFields(name, map[string]string{}, false); err != nil {
		return nil, err
	}
	return f, u.customers(r, f)
}

func (u *ui) newUser(w http.ResponseWriter, r *http.Request, s *uiSession) {
	f, err := u.newUserForm(r, r.URL.Query().Get("source"))
	if err != nil {
		u.failPage(w, r, s, err)
		return
	}
	u.render(w, r, s, http.StatusOK, "user", view{Title: "Add a customer user", Section: "customer-users", Data: f})
}

// secretData is the page showing a password once.
type secretData struct {
	Heading  string
	Login    string
	Password string
	Message  string
}

func (u *ui) addUser(w http.ResponseWriter, r *http.Request, s *uiSession) {
	f, err := u.newUserForm(r, r.PostForm.Get("source"))
	if err != nil {
		u.failPage(w, r, s, err)
		return
	}
	formValues(r, f.Fields)
	attrs := map[string]string{}
	for _, fd := range f.Fields {
		v := r.PostForm.Get(fd.Var)
		if strings.TrimSpace(v) == "" && fd.Kind != "validity" {
			continue // empty: not given (a required one is refused by the Service)
		}
		attrs[fd.Var] = v
	}
	cu, generated, err := u.svc.AddCustomerUser(r.Context(), actor(s), f.Source, attrs)
	if err != nil {
		u.formError(w, r, s, "user", view{Title: "Add a customer user", Section: "customer-users", Data: f}, err)
		return
	}
	d := &secretData{Heading: "Customer user " + cu.Login + " added", Login: cu.Login, Password: generated}
	if generated == "" {
		d.Message = "The password you typed is stored."
	}
	u.render(w, r, s, http.StatusOK, "secret", view{Title: d.Heading, Section: "customer-users",
		Flash: "Customer user " + cu.Login + " added to data source " + cu.Source + ".", Data: d})
}

// editForm builds the edit page of cu.
func (u *ui) editForm(r *http.Request, cu *directory.CustomerUser) (*userForm, error) {
	f := &userForm{Action: "/customer-user/" + url.PathEscape(cu.Login), Login: cu.Login, Source: cu.Source}
	f.ReadOnly, _ = u.svc.Record(cu)["ReadOnly"].(bool)
	if f.ReadOnly {
		f.ReadOnlyMsg = readOnlyErr(cu).Error()
	}
	vals := map[string]string{}
	for k, v := range cu.Attrs {
		vals[k] = v
	}
	vals[directory.VarLogin], vals[directory.VarCustomerID] = cu.Login, cu.CustomerID
	if cu.HasValidity {
		vals[directory.VarValidID] = validityValue(cu.ValidID)
	}
	var err error
	if f.Fields, err = u.userFields(cu.Source, vals, true); err != nil {
		return nil, err
	}
	if f.ReadOnly {
		for i := range f.Fields {
			f.Fields[i].ReadOnly = true
			if f.Fields[i].Kind == "validity" {
				if n, err := strconv.Atoi(f.Fields[i].Value); err == nil && cu.HasValidity {
					f.Fields[i].Value = ValidityName(n)
				} else {
					f.Fields[i].Value = ""
				}
			}
		}
	}
	if err := u.customers(r, f); err != nil {
		return nil, err
	}
	f.NoCustomers = false
	if ids, err := u.svc.CustomerIDsOf(r.Context(), cu.Login); err != nil {
		f.IDsErr = err.Error()
	} else {
		f.IDs = ids
	}
	if eff, err := u.svc.Permissions(r.Context(), cu.Login); err != nil {
		f.PermsErr = err.Error()
	} else {
		f.Perms = eff
		groups := make([]string, 0, len(eff.Groups))
		for g := range eff.Groups {
			groups = append(groups, g)
		}
		slices.Sort(groups)
		for _, g := range groups {
			ps := slices.Clone(eff.Groups[g])
			slices.Sort(ps)
			if slices.Contains(ps, "rw") {
				ps = []string{"rw (implies every permission)"}
			}
			f.PermsRows = append(f.PermsRows, permRow{Group: g, Perms: strings.Join(ps, ", ")})
		}
	}
	return f, nil
}

// userPage reads the customer user the path names and its edit form.
func (u *ui) userPage(r *http.Request) (*directory.CustomerUser, *userForm, view, error) {
	cu, err := u.svc.GetCustomerUser(r.Context(), r.PathValue("login"))
	if err != nil {
		return nil, nil, view{}, err
	}
	f, err := u.editForm(r, cu)
	if err != nil {
		return nil, nil, view{}, err
	}
	return cu, f, view{Title: "Customer user " + cu.Login, Section: "customer-users", Data: f}, nil
}

func (u *ui) editUser(w http.ResponseWriter, r *http.Request, s *uiSession) {
	_, _, v, err := u.userPage(r)
	if err != nil {
		u.failPage(w, r, s, err)
		return
	}
	u.render(w, r, s, http.StatusOK, "user", v)
}

func (u *ui) saveUser(w http.ResponseWriter, r *http.Request, s *uiSession) {
	cu, f, v, err := u.userPage(r)
	if err != nil {
		u.failPage(w, r, s, err)
		return
	}
	if f.ReadOnly {
		u.formError(w, r, s, "user", v, readOnlyErr(cu))
		return
	}
	attrs := changedFields(r, f.Fields)
	if len(attrs) == 0 {
		u.done(w, r, s, f.Action, "Nothing changed.")
		return
	}
	nu, ended, err := u.svc.UpdateCustomerUser(r.Context(), actor(s), cu.Login, attrs)
	if err != nil {
		u.formError(w, r, s, "user", v, err)
		return
	}
	msg := "Customer user " + nu.Login + " saved."
	if _, ok := attrs[directory.VarValidID]; ok {
		msg += " Validity: " + ValidityName(nu.ValidID) + "."
	}
	if ended > 0 || (!nu.Valid() && attrs[directory.VarValidID] != "") {
		msg += fmt.Sprintf(" %d session(s) ended.", ended)
	}
	u.done(w, r, s, "/customer-user/"+url.PathEscape(nu.Login), msg)
}

func (u *ui) newPassword(w http.ResponseWriter, r *http.Request, s *uiSession) {
	login := r.PathValue("login")
	pw, err := u.svc.SetPassword(r.Context(), actor(s), login, "")
	if err != nil {
		u.failPage(w, r, s, err)
		return
	}
	cu, err := u.svc.GetCustomerUser(r.Context(), login)
	if err == nil {
		login = cu.Login
	}
	d := &secretData{Heading: "New password for " + login, Login: login, Password: pw}
	u.render(w, r, s, http.StatusOK, "secret", view{Title: d.Heading, Section: "customer-users",
		Flash: "A new password was generated and stored for " + login + ".", Data: d})
}

func (u *ui) addUserCustomer(w http.ResponseWriter, r *http.Request, s *uiSession) {
	login, id := r.PathValue("login"), strings.TrimSpace(r.PostForm.Get("customer_id"))
	err := u.svc.AddCustomerID(r.Context(), actor(s), login, id)
	u.doneOrFailed(w, r, s, "/customer-user/"+url.PathEscape(login)+"#customer-ids", err, "Customer id "+id+" added to "+login+".")
}

func (u *ui) removeUserCustomer(w http.ResponseWriter, r *http.Request, s *uiSession) {
	login, id := r.PathValue("login"), strings.TrimSpace(r.PostForm.Get("customer_id"))
	err := u.svc.RemoveCustomerID(r.Context(), actor(s), login, id)
	u.doneOrFailed(w, r, s, "/customer-user/"+url.PathEscape(login)+"#customer-ids", err, "Customer id "+id+" removed from "+login+".")
}

// ---- customers ----

var companyLabels = map[string]string{
	CompanyID: "Customer ID", CompanyName: "Name", CompanyStreet: "Street", CompanyZIP: "ZIP",
	CompanyCity: "City", CompanyCountry: "Country", CompanyURL: "URL", CompanyComment: "Comment",
	directory.VarValidID: "Valid",
}

type customerList struct {
	Search string
	Rows   []sqldb.Company
	Count  string
}

func (u *ui) listCustomers(w http.ResponseWriter, r *http.Request, s *uiSession) {
	d := &customerList{Search: strings.TrimSpace(r.URL.Query().Get("search"))}
	v := view{Title: "Customers", Section: "customers", Data: d}
	cs, err := u.svc.ListCustomers(r.Context(), d.Search, DefaultListLimit)
	if err != nil {
		u.formError(w, r, s, "customers", v, err)
		return
	}
	d.Rows = cs
	switch {
	case d.Search != "":
		d.Count = fmt.Sprintf("%d customer(s) match %q.", len(cs), d.Search)
	case len(cs) == 0:
		d.Count = "No customers yet. Add one: customer users can only be added once a customer exists."
	default:
		d.Count = fmt.Sprintf("%d customer(s).", len(cs))
	}
	u.render(w, r, s, http.StatusOK, "customers", v)
}

type customerForm struct {
	Add    bool
	Action string
	ID     string
	Fields []uiField
}

func (f *customerForm) markInvalid(field string) { markFields(f.Fields, field) }

func customerFields(c *sqldb.Company) []uiField {
	var out []uiField
	rec := map[string]any{directory.VarValidID: 1}
	if c != nil {
		rec = CompanyRecord(c)
	}
	for _, k := range CompanyFields {
		f := uiField{Var: k, Label: companyLabels[k], Kind: "text", Value: fmt.Sprint(rec[k])}
		if rec[k] == nil {
			f.Value = ""
		}
		switch k {
		case CompanyID:
			f.Required = true
			if c != nil {
				f.ReadOnly, f.Hint = true, "The customer id cannot change: customer users name it."
			}
		case CompanyName:
			f.Required = true
		case CompanyComment:
			f.Kind = "textarea"
		case directory.VarValidID:
			f.Kind, f.Required = "validity", true
		}
		out = append(out, f)
	}
	return out
}

func (u *ui) newCustomer(w http.ResponseWriter, r *http.Request, s *uiSession) {
	f := &customerForm{Add: true, Action: "/customers/new", Fields: customerFields(nil)}
	u.render(w, r, s, http.StatusOK, "customer", view{Title: "Add a customer", Section: "customers", Data: f})
}

func (u *ui) addCustomer(w http.ResponseWriter, r *http.Request, s *uiSession) {
	f := &customerForm{Add: true, Action: "/customers/new", Fields: customerFields(nil)}
	formValues(r, f.Fields)
	attrs := map[string]string{}
	for _, fd := range f.Fields {
		attrs[fd.Var] = fd.Value
	}
	c, err := u.svc.AddCustomer(r.Context(), actor(s), attrs)
	if err != nil {
		u.formError(w, r, s, "customer", view{Title: "Add a customer", Section: "customers", Data: f}, err)
		return
	}
	u.done(w, r, s, "/customer/"+url.PathEscape(c.CustomerID), "Customer "+c.CustomerID+" added.")
}

func (u *ui) editCustomer(w http.ResponseWriter, r *http.Request, s *uiSession) {
	c, err := u.svc.GetCustomer(r.Context(), r.PathValue("id"))
	if err != nil {
		u.failPage(w, r, s, err)
		return
	}
	f := &customerForm{Action: "/customer/" + url.PathEscape(c.CustomerID), ID: c.CustomerID, Fields: customerFields(c)}
	u.render(w, r, s, http.StatusOK, "customer", view{Title: "Customer " + c.CustomerID, Section: "customers", Data: f})
}

func (u *ui) saveCustomer(w http.ResponseWriter, r *http.Request, s *uiSession) {
	c, err := u.svc.GetCustomer(r.Context(), r.PathValue("id"))
	if err != nil {
		u.failPage(w, r, s, err)
		return
	}
	f := &customerForm{Action: "/customer/" + url.PathEscape(c.CustomerID), ID: c.CustomerID, Fields: customerFields(c)}
	attrs := changedFields(r, f.Fields)
	if len(attrs) == 0 {
		u.done(w, r, s, f.Action, "Nothing changed.")
		return
	}
	nc, err := u.svc.UpdateCustomer(r.Context(), actor(s), c.CustomerID, attrs)
	if err != nil {
		u.formError(w, r, s, "customer", view{Title: "Customer " + c.CustomerID, Section: "customers", Data: f}, err)
		return
	}
	u.done(w, r, s, f.Action, "Customer "+nc.CustomerID+" saved (validity: "+ValidityName(nc.ValidID)+").")
}

// ---- groups ----

type groupList struct {
	Groups []sqldb.Group
	Fields []uiField // the add form
}

func (f *groupList) markInvalid(field string) { markFields(f.Fields, field) }

func groupAddFields() []uiField {
	return []uiField{
		{Var: "Name", Label: "Name", Kind: "text", Required: true, Hint: "No / , or : (it goes into URLs and the groups header)."},
		{Var: "Comment", Label: "Comment", Kind: "text"},
	}
}

func (u *ui) groupList(r *http.Request) (*groupList, error) {
	gs, err := u.svc.ListGroups(r.Context())
	return &groupList{Groups: gs, Fields: groupAddFields()}, err
}

func (u *ui) listGroups(w http.ResponseWriter, r *http.Request, s *uiSession) {
	d, err := u.groupList(r)
	v := view{Title: "Groups", Section: "groups", Data: d}
	if err != nil {
		u.formError(w, r, s, "groups", v, err)
		return
	}
	u.render(w, r, s, http.StatusOK, "groups", v)
}

func (u *ui) addGroup(w http.ResponseWriter, r *http.Request, s *uiSession) {
	d, err := u.groupList(r)
	if err != nil {
		u.failPage(w, r, s, err)
		return
	}
	formValues(r, d.Fields)
	g, err := u.svc.AddGroup(r.Context(), actor(s), d.Fields[0].Value, d.Fields[1].Value)
	if err != nil {
		u.formError(w, r, s, "groups", view{Title: "Groups", Section: "groups", Data: d}, err)
		return
	}
	u.done(w, r, s, "/group/"+url.PathEscape(g.Name), "Group "+g.Name+" added.")
}

type groupForm struct {
	Name    string
	Action  string
	Fields  []uiField
	Members []sqldb.Member
	// the grant form's last values
	Kind, Member, Perm string
}

func (f *groupForm) markInvalid(field string) { markFields(f.Fields, field) }

func (u *ui) groupForm(r *http.Request, name string) (*groupForm, error) {
	g, ms, err := u.svc.GetGroup(r.Context(), name)
	if err != nil {
		return nil, err
	}
	return &groupForm{Name: g.Name, Action: "/group/" + url.PathEscape(g.Name), Members: ms, Kind: MemberUser, Perm: "ro",
		Fields: []uiField{
			{Var: "Name", Label: "Name", Kind: "text", Value: g.Name, Required: true, Hint: "No / , or :."},
			{Var: "Comment", Label: "Comment", Kind: "text", Value: g.Comments},
			{Var: "ValidID", Label: "Valid", Kind: "validity", Value: validityValue(g.ValidID), Required: true,
				Hint: "An invalid group grants nothing."},
		}}, nil
}

func (u *ui) editGroup(w http.ResponseWriter, r *http.Request, s *uiSession) {
	f, err := u.groupForm(r, r.PathValue("name"))
	if err != nil {
		u.failPage(w, r, s, err)
		return
	}
	u.render(w, r, s, http.StatusOK, "group", view{Title: "Group " + f.Name, Section: "groups", Data: f})
}

func (u *ui) saveGroup(w http.ResponseWriter, r *http.Request, s *uiSession) {
	f, err := u.groupForm(r, r.PathValue("name"))
	if err != nil {
		u.failPage(w, r, s, err)
		return
	}
	attrs := changedFields(r, f.Fields)
	if len(attrs) == 0 {
		u.done(w, r, s, f.Action, "Nothing changed.")
		return
	}
	g, err := u.svc.UpdateGroup(r.Context(), actor(s), f.Name, attrs)
	if err != nil {
		u.formError(w, r, s, "group", view{Title: "Group " + f.Name, Section: "groups", Data: f}, err)
		return
	}
	u.done(w, r, s, "/group/"+url.PathEscape(g.Name), "Group "+g.Name+" saved (validity: "+ValidityName(g.ValidID)+").")
}

func (u *ui) grant(w http.ResponseWriter, r *http.Request, s *uiSession) {
	f, err := u.groupForm(r, r.PathValue("name"))
	if err != nil {
		u.failPage(w, r, s, err)
		return
	}
	f.Kind, f.Member, f.Perm = r.PostForm.Get("kind"), strings.TrimSpace(r.PostForm.Get("member")), r.PostForm.Get("permission")
	if f.Member == "" {
		u.formError(w, r, s, "group", view{Title: "Group " + f.Name, Section: "groups", Data: f},
			fail(directory.ErrInvalid, "member", "name the customer user (login) or the customer (customer id) to grant to"))
		return
	}
	if err := u.svc.Grant(r.Context(), actor(s), f.Name, f.Kind, f.Member, f.Perm); err != nil {
		u.formError(w, r, s, "group", view{Title: "Group " + f.Name, Section: "groups", Data: f}, err)
		return
	}
	u.done(w, r, s, f.Action+"#members", fmt.Sprintf("%s %s now has %s in group %s.", kindName(f.Kind), f.Member, f.Perm, f.Name))
}

func (u *ui) revoke(w http.ResponseWriter, r *http.Request, s *uiSession) {
	name := r.PathValue("name")
	kind, member, perm := r.PostForm.Get("kind"), r.PostForm.Get("member"), r.PostForm.Get("permission")
	err := u.svc.Revoke(r.Context(), actor(s), name, kind, member, perm)
	u.doneOrFailed(w, r, s, "/group/"+url.PathEscape(name)+"#members", err,
		fmt.Sprintf("%s %s no longer has %s in group %s.", kindName(kind), member, perm, name))
}

func kindName(kind string) string {
	if kind == MemberCustomer {
		return "Customer"
	}
	return "Customer user"
}
