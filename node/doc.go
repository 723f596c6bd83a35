// Package node wires a Nitro node together: configuration (Config, loaded
// from YAML over the embedded default.yaml), the chunk store
// (chunkstore.Store in Config.DataDir), the namespace layer
// (internal/namespace, in the store's record space), the object service
// (internal/objects, which implements glanceshim.Backend), the Swift API
// listener (glanceshim), the optional ops listener (/metrics, /healthz,
// /stats, POST /gc) and the periodic garbage collection.
//
// Lifecycle: New validates the Config, opens the store and binds the
// listeners; Run serves until its context is done and then shuts down
// gracefully (stop accepting, let requests in flight finish within
// Config.ShutdownTimeout); Close closes the store, which flushes Badger.
// Every write the node acknowledges was synced by the store first, so a
// node killed after an answer loses nothing it acknowledged.
//
// Only package main imports node (see internal/archtest).
package node
