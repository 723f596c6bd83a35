package glanceshim_test

import (
	"net/http"
	"time"

	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
	"go.uber.org/zap"
)

// The node mounts the handler on its own listener.
func ExampleNew() {
	var backend glanceshim.Backend = newMemBackend() // the node's object service
	s, err := glanceshim.New(glanceshim.Config{
		Accounts: []glanceshim.Account{{Name: "glance", Users: []glanceshim.User{
			{Name: "glance", Key: "secret", Admin: true},
		}}},
		DisableFile: "/etc/nitro/disabled",
	}, backend, nil, zap.NewNop())
	if err != nil {
		panic(err)
	}
	srv := &http.Server{
		Addr:              "127.0.0.1:8080",
		Handler:           s.Handler(),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	_ = srv // srv.ListenAndServe() in the node
	// Output:
}
