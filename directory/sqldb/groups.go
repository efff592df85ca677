package sqldb

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/gatehouse-sso/gatehouse/configs"
	"github.com/gatehouse-sso/gatehouse/directory"
)

// PermissionContextSame is the group_customer context that grants a company's groups to its
// customer users (Ticket::CustomerID::Same).
const PermissionContextSame = "Ticket::CustomerID::Same"

// GroupResolver computes customer-user group permissions from the OTRS tables (fact sheet
// §8). It implements directory.GroupResolver.
type GroupResolver struct {
	db     *DB
	groups string // quoted groups table
	cfg    configs.CustomerGroup
}

var _ directory.GroupResolver = (*GroupResolver)(nil)

// NewGroupResolver returns the resolver over db's groups table (permission_groups for Znuny,
// groups for OTRS 6; empty means permission_groups).
func NewGroupResolver(db *DB, groupsTable string, cfg configs.CustomerGroup) (*GroupResolver, error) {
	if groupsTable == "" {
		groupsTable = DefaultGroupsTable
	}
	if err := checkIdent("groups table", groupsTable); err != nil {
		return nil, fmt.Errorf("group resolver: %w", err)
	}
	return &GroupResolver{db: db, groups: db.Quote(groupsTable), cfg: cfg}, nil
}

// validGroup is the condition "group g is valid": its validity is the id named 'valid'.
func (r *GroupResolver) validGroup() string {
	return "g.valid_id IN (SELECT id FROM " + r.db.Quote(tableValid) + " WHERE name = 'valid')"
}

// Permissions returns the groups login may use and the permission keys in each.
//
// With customer_group.support off every valid group is granted "rw" (OTRS: every
// permission). With it on, the union of
//  1. group_customer_user rows with user_id = login (exactly), permission_value 1;
//  2. for each of customerIDs, the group_customer rows in context Ticket::CustomerID::Same,
//     plus company_always_groups (only when there is a customer id);
//  3. always_groups;
//
// valid groups only; always-groups grant "rw" (they apply for every permission type).
// A group holding "rw" is reported as just ["rw"], which implies every other key.
func (r *GroupResolver) Permissions(ctx context.Context, login string, customerIDs []string) (directory.Permissions, error) {
	perms, err := r.permissions(ctx, login, customerIDs)
	if err != nil {
		return nil, fmt.Errorf("customer groups of %q: %w", login, err)
	}
	return perms, nil
}

func (r *GroupResolver) permissions(ctx context.Context, login string, customerIDs []string) (directory.Permissions, error) {
	acc := map[string]map[string]bool{}
	grant := func(group, key string) {
		if acc[group] == nil {
			acc[group] = map[string]bool{}
		}
		acc[group][key] = true
	}
	collect := func(q string, args ...any) error {
		rows, err := r.db.sql.QueryContext(ctx, r.db.Rebind(q), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var name, key string
			if err := rows.Scan(&name, &key); err != nil {
				return err
			}
			grant(name, key)
		}
		return rows.Err()
	}
	if !r.cfg.Support {
		if err := collect("SELECT g.name, 'rw' FROM " + r.groups + " g WHERE " + r.validGroup()); err != nil {
			return nil, err
		}
		return flatten(acc), nil
	}
	cond, args := r.db.exact("gcu.user_id", login)
	err := collect("SELECT g.name, gcu.permission_key FROM "+r.db.Quote(tableGroupUser)+" gcu JOIN "+r.groups+
		" g ON g.id = gcu.group_id WHERE "+cond+" AND gcu.permission_value = 1 AND "+r.validGroup(), args...)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, id := range customerIDs {
		if id != "" {
			ids = append(ids, id)
		}
	}
	always := r.cfg.AlwaysGroups
	if len(ids) > 0 {
		args := []any{PermissionContextSame}
		for _, id := range ids {
			args = append(args, id)
		}
		err := collect("SELECT g.name, gc.permission_key FROM "+r.db.Quote(tableGroupComp)+" gc JOIN "+r.groups+
			" g ON g.id = gc.group_id WHERE gc.permission_value = 1 AND gc.permission_context = ? AND gc.customer_id IN ("+
			placeholders(len(ids))+") AND "+r.validGroup(), args...)
		if err != nil {
			return nil, err
		}
		always = append(append([]string(nil), always...), r.cfg.CompanyAlwaysGroups...)
	}
	if len(always) > 0 {
		args := make([]any, len(always))
		for i, g := range always {
			args[i] = g
		}
		err := collect("SELECT g.name, 'rw' FROM "+r.groups+" g WHERE g.name IN ("+placeholders(len(always))+") AND "+
			r.validGroup(), args...)
		if err != nil {
			return nil, err
		}
	}
	return flatten(acc), nil
}

// flatten turns the accumulated keys into sorted lists, with rw standing alone.
func flatten(acc map[string]map[string]bool) directory.Permissions {
	out := directory.Permissions{}
	for g, keys := range acc {
		if keys["rw"] {
			out[g] = []string{"rw"}
			continue
		}
		list := make([]string, 0, len(keys))
		for k := range keys {
			list = append(list, k)
		}
		sort.Strings(list)
		out[g] = list
	}
	return out
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
