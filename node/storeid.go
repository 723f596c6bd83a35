package node

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// storeIdentity is what this node gossips as membership.Config.Store: ""
// for a Badger store of its own; for store.backend: swift, "swift:" and
// the first 16 hex digits of the SHA-256 of what names the chunk objects
// (auth URL, account or project, catalog region, container prefix and
// count; never the key), so that nodes of a region that share one cluster
// say so, and a node pointed at another cluster or prefix does not. The
// fetch path asks one node per such group of a remote region for its have
// answer (fetch.Peer.Store).
func storeIdentity(cfg Config) string {
	if cfg.Store.Backend != BackendSwift {
		return ""
	}
	s := cfg.Store.Swift
	account := s.Project
	if s.AuthVersion <= 1 {
		// tempauth/swauth: the account is the part of "account:user"
		// before the colon.
		account, _, _ = strings.Cut(s.User, ":")
	}
	h := sha256.New()
	for _, f := range []string{strings.TrimRight(s.AuthURL, "/"), account, s.ProjectDomain, s.RegionName, s.ContainerPrefix} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	h.Write([]byte{byte(s.Containers >> 8), byte(s.Containers)})
	return BackendSwift + ":" + hex.EncodeToString(h.Sum(nil)[:8])
}
