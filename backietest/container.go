package backietest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// PostgresImage is the image of the container Pool starts when EnvURL is
// unset.
const PostgresImage = "postgres:16-alpine"

// containerSettings make a server that is thrown away fast: nothing it
// writes needs to survive a crash. Tests run in parallel, each with a
// pool.
var containerSettings = []string{
	"-c", "fsync=off",
	"-c", "synchronous_commit=off",
	"-c", "full_page_writes=off",
	"-c", "max_connections=300",
}

// errNoDocker is what a broken Docker set-up that makes testcontainers
// panic becomes.
var errNoDocker = errors.New("docker is not usable")

// startPostgres runs a PostgreSQL container and returns its URL and a
// function that removes it. A variable, so that the kit's tests can stand
// in for Docker.
var startPostgres = func(ctx context.Context) (url string, stop func() error, err error) {
	defer func() {
		// testcontainers panics on some broken Docker set-ups.
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errNoDocker, r)
		}
	}()
	ctr, err := testcontainers.Run(ctx, PostgresImage,
		testcontainers.WithEnv(map[string]string{
			"POSTGRES_USER":             "postgres",
			"POSTGRES_HOST_AUTH_METHOD": "trust",
			"POSTGRES_DB":               "test",
		}),
		testcontainers.WithCmd(append([]string{"postgres"}, containerSettings...)...),
		testcontainers.WithTmpfs(map[string]string{"/var/lib/postgresql/data": "rw"}),
		testcontainers.WithExposedPorts("5432/tcp"),
		testcontainers.WithWaitStrategyAndDeadline(time.Minute,
			// The image's entrypoint starts the server twice: once to
			// create the database, then for good.
			wait.ForLog("database system is ready to accept connections").WithOccurrence(2),
			wait.ForListeningPort("5432/tcp"),
		),
	)
	if err != nil {
		if ctr != nil {
			_ = testcontainers.TerminateContainer(ctr)
		}
		return "", nil, fmt.Errorf("start %s: %w", PostgresImage, err)
	}
	endpoint, err := ctr.PortEndpoint(ctx, "5432/tcp", "")
	if err != nil {
		_ = testcontainers.TerminateContainer(ctr)
		return "", nil, fmt.Errorf("the endpoint of %s: %w", PostgresImage, err)
	}
	url = fmt.Sprintf("postgres://postgres@%s/test?sslmode=disable", endpoint)
	return url, func() error { return testcontainers.TerminateContainer(ctr) }, nil
}
