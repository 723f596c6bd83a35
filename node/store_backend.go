package node

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/swiftstore"
)

// Store backends (store.backend).
const (
	BackendBadger = "badger"
	BackendSwift  = "swift"
)

// StoreSwiftConfig configures store.backend: swift, the region's object
// cluster through the Swift API (chunkstore/swiftstore has the layout).
// Key is a secret: String redacts it and it is never logged.
type StoreSwiftConfig struct {
	// AuthURL is tempauth v1's (…/auth/v1.0) or Keystone v3's (…/v3).
	AuthURL string `yaml:"auth_url"`
	// AuthVersion is 1 (tempauth/swauth) or 3 (Keystone v3 password).
	AuthVersion int `yaml:"auth_version"`
	// User is "account:user" (v1) or the user name (v3).
	User string `yaml:"user"`
	// Key is the v1 key or the v3 password.
	Key string `yaml:"key"`
	// Project, UserDomain, ProjectDomain and RegionName: v3 only.
	Project       string `yaml:"project"`
	UserDomain    string `yaml:"user_domain"`
	ProjectDomain string `yaml:"project_domain"`
	RegionName    string `yaml:"region_name"`
	// ContainerPrefix prefixes every container name.
	ContainerPrefix string `yaml:"container_prefix"`
	// Containers per kind: 1, 16, 256 or 4096.
	Containers int `yaml:"containers"`
	// Concurrency bounds the requests in flight (> 0).
	Concurrency int `yaml:"concurrency"`
	// Timeout bounds each request (> 0).
	Timeout time.Duration `yaml:"timeout"`
	// PackSize is the size in bytes of the pack objects a write's new
	// chunks go to (>= 0; 0: one object per chunk).
	PackSize int `yaml:"pack_size"`
}

// String describes c without its key.
func (c StoreSwiftConfig) String() string { return c.swiftstore().String() }

// swiftstore maps c to swiftstore's config.
func (c StoreSwiftConfig) swiftstore() swiftstore.Config {
	return swiftstore.Config{
		AuthURL: c.AuthURL, AuthVersion: c.AuthVersion, User: c.User, Key: c.Key,
		Project: c.Project, UserDomain: c.UserDomain, ProjectDomain: c.ProjectDomain, RegionName: c.RegionName,
		ContainerPrefix: c.ContainerPrefix, Containers: c.Containers, Concurrency: c.Concurrency, Timeout: c.Timeout,
		PackSize: c.PackSize,
	}
}

// validateStoreBackend checks store.backend and store.swift; errors name
// the field and never carry the key.
func (c *Config) validateStoreBackend(add func(field, format string, args ...any)) {
	switch c.Store.Backend {
	case BackendBadger, "":
		return
	case BackendSwift:
	default:
		add("store.backend", "%q: want %q or %q", c.Store.Backend, BackendBadger, BackendSwift)
		return
	}
	s := c.Store.Swift
	if !strings.HasPrefix(s.AuthURL, "http://") && !strings.HasPrefix(s.AuthURL, "https://") {
		add("store.swift.auth_url", "%q must start with http:// or https://", s.AuthURL)
	}
	if s.AuthVersion != 1 && s.AuthVersion != 3 {
		add("store.swift.auth_version", "%d: want 1 (tempauth) or 3 (Keystone v3)", s.AuthVersion)
	}
	if s.User == "" {
		add("store.swift.user", "must not be empty with store.backend: swift")
	}
	if s.Key == "" {
		add("store.swift.key", "must not be empty with store.backend: swift")
	}
	if s.AuthVersion == 3 && s.Project == "" {
		add("store.swift.project", "must not be empty with auth_version 3")
	}
	if _, err := swiftstore.NewLayout(s.ContainerPrefix, s.Containers); err != nil || s.ContainerPrefix == "" {
		add("store.swift", "container_prefix %q, containers %d: want a non-empty prefix without '/', and 1, 16, 256 or 4096 containers", s.ContainerPrefix, s.Containers)
	}
	positive(add, "store.swift.concurrency", s.Concurrency)
	if s.PackSize < 0 || s.PackSize > 1<<30 {
		add("store.swift.pack_size", "must be 0 (one object per chunk) or a size up to 1 GiB, got %d", s.PackSize)
	}
	positive(add, "store.swift.timeout", s.Timeout)
}

// openCluster returns the chunk store's cluster for cfg: nil for the
// badger backend.
func openCluster(ctx context.Context, cfg Config) (chunkstore.Cluster, error) {
	if cfg.Store.Backend != BackendSwift {
		return nil, nil
	}
	cl, err := swiftstore.Open(ctx, cfg.Store.Swift.swiftstore())
	if err != nil {
		return nil, fmt.Errorf("node: store.swift (%s): %w", cfg.Store.Swift, err)
	}
	return cl, nil
}
