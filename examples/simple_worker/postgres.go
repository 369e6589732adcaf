package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// localURL is the PostgreSQL tried when DATABASE_URL is unset and Docker
// cannot start one: a local server with trust auth, as on the CI machines.
const localURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// postgresImage is the image of the throwaway PostgreSQL.
const postgresImage = "postgres:16-alpine"

// databaseURL returns DATABASE_URL, or starts a throwaway PostgreSQL in
// Docker when it is unset (falling back to a local server at localURL when
// Docker is not available). cleanup removes the container.
func databaseURL(ctx context.Context) (url string, cleanup func(), err error) {
	if url := os.Getenv("DATABASE_URL"); url != "" {
		return url, func() {}, nil
	}
	slog.Info("DATABASE_URL is unset: starting a throwaway PostgreSQL with Docker")
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	url, terminate, err := startPostgres(startCtx)
	if err != nil {
		if localErr := ping(ctx, localURL); localErr == nil {
			slog.Info("Docker is not available; using the local PostgreSQL", "url", localURL, "docker_error", err)
			return localURL, func() {}, nil
		}
		return "", nil, fmt.Errorf("no DATABASE_URL, no Docker and no PostgreSQL at %s: %w\n\n"+
			"Set DATABASE_URL to a PostgreSQL database, for example:\n"+
			"\tDATABASE_URL='postgres://user@host:5432/db?sslmode=disable' make example\n"+
			"or start Docker so that a throwaway PostgreSQL can be started", localURL, err)
	}
	slog.Info("PostgreSQL container started; it is removed on exit", "url", url)
	return url, func() {
		terminate()
		slog.Info("PostgreSQL container removed")
	}, nil
}

// startPostgres runs a PostgreSQL container with testcontainers and returns
// its URL and a function that removes it. It fails fast when no Docker
// engine is reachable.
func startPostgres(ctx context.Context) (url string, terminate func(), err error) {
	defer func() {
		// testcontainers panics on some broken Docker set-ups.
		if r := recover(); r != nil {
			err = fmt.Errorf("docker is not usable: %v", r)
		}
	}()
	ctr, err := testcontainers.Run(ctx, postgresImage,
		testcontainers.WithEnv(map[string]string{
			"POSTGRES_USER":             "postgres",
			"POSTGRES_HOST_AUTH_METHOD": "trust",
			"POSTGRES_DB":               "test",
		}),
		testcontainers.WithExposedPorts("5432/tcp"),
		testcontainers.WithWaitStrategyAndDeadline(60*time.Second,
			// The image's entrypoint starts the server twice: once to
			// initialise the database, then for good.
			wait.ForLog("database system is ready to accept connections").WithOccurrence(2),
			wait.ForListeningPort("5432/tcp"),
		),
	)
	if err != nil {
		if ctr != nil {
			_ = testcontainers.TerminateContainer(ctr)
		}
		return "", nil, fmt.Errorf("start %s: %w", postgresImage, err)
	}
	endpoint, err := ctr.PortEndpoint(ctx, "5432/tcp", "")
	if err != nil {
		_ = testcontainers.TerminateContainer(ctr)
		return "", nil, fmt.Errorf("container endpoint: %w", err)
	}
	url = fmt.Sprintf("postgres://postgres@%s/test?sslmode=disable", endpoint)
	return url, func() { _ = testcontainers.TerminateContainer(ctr) }, nil
}

// ping reports whether a PostgreSQL answers at url.
func ping(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.Ping(ctx)
}
