package membership

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"
)

// Config configures a Membership. The zero value of an optional field means
// its default.
type Config struct {
	// NodeName is this node's unique name in the cluster. Required.
	NodeName string
	// Region is this node's region name. Required.
	Region string
	// PeerURL is the base URL of this node's peer listener, e.g.
	// "http://10.0.0.1:7947". Required.
	PeerURL string
	// Store identifies the chunk store this node's chunks live in, for
	// other nodes (gossiped in its metadata, Member.Store): "" means a
	// store of its own (Badger in its data dir); nodes of one region
	// with the same non-empty Store share one store (the region's Swift
	// cluster), so one of them answers for all what the region holds.
	Store string

	// BindAddr and BindPort are the gossip listener (TCP and UDP).
	// BindAddr "" means 0.0.0.0; BindPort 0 means pick a free port (see
	// Membership.Addr).
	BindAddr string
	BindPort int
	// AdvertiseAddr and AdvertisePort are what other members dial; ""/0
	// mean derived from the bind address.
	AdvertiseAddr string
	AdvertisePort int

	// Join lists host:port gossip addresses of other members. Run joins
	// them (retrying until one answers) and keeps re-joining those that
	// are not alive every RejoinInterval, so that a region cut off for
	// longer than memberlist's dead-node timeouts comes back after the
	// partition heals.
	Join []string

	// Secret is the cluster secret (any length >= 16 bytes). The gossip
	// key is derived from it (GossipKey). Required.
	Secret []byte

	// Timing overrides of DefaultWANConfig, for tests on loopback; zero
	// means the WAN preset (5 s probes, 3 s probe timeout, 500 ms gossip,
	// 60 s push-pull).
	ProbeInterval    time.Duration
	ProbeTimeout     time.Duration
	GossipInterval   time.Duration
	PushPullInterval time.Duration
	// SuspicionMult overrides the WAN preset's 6; 0 means the preset.
	SuspicionMult int
	// RejoinInterval is how often Run re-joins configured addresses that
	// are not alive members; 0 means 30 s, < 0 disables.
	RejoinInterval time.Duration
	// EventBuffer is the capacity of the event queue; 0 means 1024.
	EventBuffer int
}

// ErrConfig is returned (wrapped) by New for an invalid Config.
var ErrConfig = errors.New("membership: invalid config")

func (c *Config) validate() error {
	switch {
	case c.NodeName == "":
		return fmt.Errorf("%w: node name is required", ErrConfig)
	case c.Region == "":
		return fmt.Errorf("%w: region is required", ErrConfig)
	case c.PeerURL == "":
		return fmt.Errorf("%w: peer URL is required", ErrConfig)
	case len(c.Secret) < 16:
		return fmt.Errorf("%w: cluster secret must have at least 16 bytes", ErrConfig)
	case c.BindPort < 0 || c.BindPort > 65535 || c.AdvertisePort < 0 || c.AdvertisePort > 65535:
		return fmt.Errorf("%w: port out of range", ErrConfig)
	}
	if len(metaJSON(c.NodeName, c.Region, c.PeerURL, c.Store)) > maxMeta {
		return fmt.Errorf("%w: node metadata exceeds %d bytes", ErrConfig, maxMeta)
	}
	return nil
}

// GossipKey derives the 32-byte AES-256 gossip key from the cluster secret:
// HMAC-SHA256(secret, "nitro/membership/gossip-key/v1"). The label keeps it
// distinct from the peer protocol's use of the secret.
func GossipKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("nitro/membership/gossip-key/v1"))
	return m.Sum(nil)
}

// fitProbeTimeout returns the UDP probe timeout to use with probe interval
// interval: timeout itself when it leaves part of the interval free, else
// 3/5 of the interval (the WAN preset's ratio, 3 s of 5 s). memberlist
// gives a whole probe, UDP ping and then the TCP fallback ping, one probe
// interval; a UDP timeout at or beyond the interval (e.g. the preset's 3 s
// with a 1 s interval) leaves the fallback a deadline already past, so one
// late UDP ack (a loaded host, a long-RTT link) makes the member suspect.
func fitProbeTimeout(interval, timeout time.Duration) time.Duration {
	if interval > 0 && timeout >= interval {
		return interval * 3 / 5
	}
	return timeout
}
