// Package pgcontainer starts a throwaway PostgreSQL in Docker with
// testcontainers-go, for tests and examples run where no database URL is
// given.
package pgcontainer

import (
	"context"
	"fmt"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Image is the PostgreSQL image started.
const Image = "postgres:16-alpine"

// Start runs a PostgreSQL container and returns its URL and a function that
// removes it. It fails fast when no Docker engine is reachable.
func Start(ctx context.Context) (url string, terminate func(), err error) {
	defer func() {
		// testcontainers panics on some broken Docker set-ups.
		if r := recover(); r != nil {
			err = fmt.Errorf("pgcontainer: docker is not usable: %v", r)
		}
	}()
	ctr, err := testcontainers.Run(ctx, Image,
		testcontainers.WithEnv(map[string]string{
			"POSTGRES_USER":             "postgres",
			"POSTGRES_HOST_AUTH_METHOD": "trust",
			"POSTGRES_DB":               "test",
		}),
		testcontainers.WithExposedPorts("5432/tcp"),
		testcontainers.WithWaitStrategyAndDeadline(60*time.Second,
			wait.ForLog("database system is ready to accept connections").WithOccurrence(2),
			wait.ForListeningPort("5432/tcp"),
		),
	)
	if err != nil {
		if ctr != nil {
			_ = testcontainers.TerminateContainer(ctr)
		}
		return "", nil, fmt.Errorf("pgcontainer: start %s: %w", Image, err)
	}
	endpoint, err := ctr.PortEndpoint(ctx, "5432/tcp", "")
	if err != nil {
		_ = testcontainers.TerminateContainer(ctr)
		return "", nil, fmt.Errorf("pgcontainer: endpoint: %w", err)
	}
	url = fmt.Sprintf("postgres://postgres@%s/test?sslmode=disable", endpoint)
	return url, func() { _ = testcontainers.TerminateContainer(ctr) }, nil
}
