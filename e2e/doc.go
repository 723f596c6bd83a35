// Package e2e holds Nitro's end-to-end tests: the real `nitro` binary under
// Debian's OpenStack Glance (glance-api with the swift store), driven by
// the real clients (openstack, glance, curl), with real VM images from
// scripts/vm-images.sh.
//
// The package has no code of its own; everything is in _test.go files.
// The harness (helpers_test.go, nitro_test.go, glance_test.go,
// proxy_test.go, swift_test.go) is meant to be reused by later scenarios,
// such as two Glance regions pointed at two Nitro nodes sharing one Glance
// database:
//
//   - startNitro builds `nitro` once per test binary and runs
//     `nitro serve --config` on free loopback ports (node).
//   - startSwift runs a single-node OpenStack Swift from Debian's packages
//     (scripts/lib/swift.sh), to prove the harness against the reference.
//   - newRecorder is a recording reverse proxy placed between Glance and
//     the Swift-compatible server: it logs every request Glance sends and
//     every answer (the "trace").
//   - startGlance runs glance-api (no Keystone, swift store in
//     single-tenant mode) against a Swift auth URL, or, with
//     glanceOptions.Keystone, in a Keystone cloud (authtoken, swift store
//     on Keystone v3, single or multi tenant).
//   - sharedKeystoneFor starts one real Keystone per test binary
//     (keystone_harness_test.go: uwsgi, sqlite WAL, fernet, a seeded
//     catalog with an object-store and image endpoint per region).
//   - driveGlanceStore runs glance_store 5.x's swift Store inside the
//     forky chroot of scripts/forky-chroot.sh (glancestore5_test.go).
//
// TestReliabilityCrashLoop (reliability_crash_test.go) SIGKILLs a
// replicating node during writes and back-to-back GC and checks every
// acknowledged object after each restart; it needs only the nitro binary.
// NITRO_RELIABILITY_FULL=1 (scripts/reliability.sh) runs its full size.
//
// Like every test that needs root, Debian packages or VM images, these
// skip on a developer's machine that lacks them and fail in CI
// (internal/testenv; scripts/test.sh sets NITRO_REQUIRE_E2E=1).
//
// Reliability (reliability_load_test.go, crash_stats_test.go): 200
// concurrent clients with mixed requests in one container while GC runs
// at the shortest grace, 0 errors and 0 losses required, one greppable
// "RELIABILITY …" summary line (12 s in CI; 60 s with
// NITRO_RELIABILITY_FULL=1, scripts/reliability.sh); and a node killed
// with SIGKILL under concurrent writes whose stats match its listing after
// the restart.
//
// TestRegionOfNodesOnSwift (region_test.go) is issue 12's test with real
// parts: a region of two nodes on one real Swift (store.backend: swift)
// behind HAProxy (haproxy_test.go: started and stopped by PID, stats and
// log read by the test), a second region on Badger, Glance through the
// load balancer, nodes SIGKILLed in the middle of an upload and of a
// download, a wiped data dir, and WAN bytes counted from the nodes'
// /metrics.
//
// NITRO_E2E_BACKEND=swift runs the Glance scenarios against real Swift
// instead of Nitro (the assertions that need Nitro's /stats and /gc are
// then logged only).
package e2e
