package node

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// ReloadResult reports a Reload: the YAML paths of the settings it
// applied, and of the changed settings that take effect only after a
// restart (left as they were).
type ReloadResult struct {
	Applied []string
	Restart []string
}

// reloadable is one setting Reload applies while the node serves: path is
// its YAML path, apply installs the new configuration's value. To make a
// further setting reloadable (e.g. Keystone's), add an entry in
// reloadables.
type reloadable struct {
	path  string
	apply func(cfg Config) error
}

func (n *Node) reloadables(level *zap.AtomicLevel) []reloadable {
	rs := []reloadable{{
		path: "swift.accounts",
		apply: func(cfg Config) error {
			revoked, err := n.shim.SetAccounts(shimConfig(cfg).Accounts)
			if err != nil {
				return err
			}
			n.log.Info("tempauth accounts reloaded", zap.Int("tokens_revoked", revoked))
			return nil
		},
	}}
	if level != nil {
		rs = append(rs, reloadable{
			path: "log.level",
			apply: func(cfg Config) error {
				var l zapcore.Level
				if err := l.UnmarshalText([]byte(cfg.Log.Level)); err != nil {
					return err
				}
				level.SetLevel(l)
				return nil
			},
		})
	}
	return rs
}

// Reload applies the settings of cfg (a configuration file read again,
// on SIGHUP) that can change while the node serves: swift.accounts
// (tempauth users; unchanged users keep their tokens) and log.level
// through level, the AtomicLevel of the logger the node was created with
// (nil: the level is not reloadable). Other changed settings are
// reported in ReloadResult.Restart and keep their running values. A cfg
// that does not validate changes nothing. Values are never logged (the
// accounts hold keys), only their YAML paths.
func (n *Node) Reload(cfg Config, level *zap.AtomicLevel) (ReloadResult, error) {
	if err := cfg.Validate(); err != nil {
		return ReloadResult{}, fmt.Errorf("node: reload: %w", err)
	}
	if cfg.Node == "" {
		cfg.Node, _ = os.Hostname()
	}
	n.reloadMu.Lock()
	defer n.reloadMu.Unlock()
	var changed []string
	diffConfig("", reflect.ValueOf(n.cfg), reflect.ValueOf(cfg), &changed)
	var res ReloadResult
	var errs []string
	for _, r := range n.reloadables(level) {
		if !slices.Contains(changed, r.path) {
			continue
		}
		if err := r.apply(cfg); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", r.path, err))
			continue
		}
		res.Applied = append(res.Applied, r.path)
	}
	for _, p := range changed {
		if !slices.Contains(res.Applied, p) {
			res.Restart = append(res.Restart, p)
		}
	}
	// n.cfg keeps the running values: applied settings take the new ones.
	if slices.Contains(res.Applied, "swift.accounts") {
		n.cfg.Swift.Accounts = cfg.Swift.Accounts
	}
	if slices.Contains(res.Applied, "log.level") {
		n.cfg.Log.Level = cfg.Log.Level
	}
	n.log.Info("configuration reloaded", zap.Strings("applied", res.Applied), zap.Strings("need_restart", res.Restart))
	if len(errs) > 0 {
		return res, fmt.Errorf("node: reload: %s", strings.Join(errs, "; "))
	}
	return res, nil
}

// diffConfig appends to out the YAML paths ("gc.grace") of the leaves
// that differ between a and b, which are values of one struct type.
// Slices and maps are leaves.
func diffConfig(prefix string, a, b reflect.Value, out *[]string) {
	if a.Kind() != reflect.Struct {
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			*out = append(*out, prefix)
		}
		return
	}
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			name = strings.ToLower(f.Name)
		}
		if prefix != "" {
			name = prefix + "." + name
		}
		diffConfig(name, a.Field(i), b.Field(i), out)
	}
}
