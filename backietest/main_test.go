package backietest_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/backie-go/backie/backietest"
)

// localURL is the database the kit's own tests use when
// BACKIE_TEST_DATABASE_URL is unset and a PostgreSQL answers there, as the
// library's tests do; otherwise Pool starts a container (with Docker).
const localURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func TestMain(m *testing.M) {
	if os.Getenv(backietest.EnvURL) == "" && ping(localURL) == nil {
		os.Setenv(backietest.EnvURL, localURL)
	}
	code := backietest.Run(m)
	// On every path, passed or failed: a helper that leaves a goroutine
	// behind leaves it in its users' tests too.
	if err := goleak.Find(); err != nil {
		fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
		code = 1
	}
	os.Exit(code)
}

// ping reports whether a PostgreSQL answers at url and lets us in.
func ping(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}
