package backie_test

import (
	"context"
	"fmt"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// RebuildSitemap is a unique task: while one is unfinished for a site,
// enqueueing another for the same site returns the existing one.
type RebuildSitemap struct {
	backie.TaskDefaults
	Site string `json:"site"`
}

// Uniq hashes the payload, so tasks for the same site share a hash.
func (t *RebuildSitemap) Uniq() (backie.TaskHash, error) { return backie.HashOf(t) }

func (t *RebuildSitemap) Run(ctx context.Context, q backie.Queue) error { return nil }

// A unique task is inserted once: enqueueing it again while it is
// unfinished returns the stored record.
func ExamplePgQueue_CreateTask_unique() {
	db, cleanup := dbtest.ExamplePool()
	defer cleanup()
	ctx := context.Background()

	reg := backie.NewRegistry()
	if err := backie.Register[*RebuildSitemap](reg, "rebuild_sitemap"); err != nil {
		panic(err)
	}
	queue := backie.NewPgQueue(db, reg)

	first, err := queue.CreateTask(ctx, &RebuildSitemap{Site: "example.com"})
	if err != nil {
		panic(err)
	}
	again, err := queue.CreateTask(ctx, &RebuildSitemap{Site: "example.com"})
	if err != nil {
		panic(err)
	}
	other, err := queue.CreateTask(ctx, &RebuildSitemap{Site: "example.org"})
	if err != nil {
		panic(err)
	}
	fmt.Println("same site, same id:", again.ID == first.ID)
	fmt.Println("other site, other id:", other.ID != first.ID)

	// Output:
	// same site, same id: true
	// other site, other id: true
}
