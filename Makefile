# Backie for Go. `make test` runs the tests, `make example` runs the example.

GO ?= go

# The database of `make migrate` (and the default of `make db`).
LOCAL_DATABASE_URL := postgres://postgres@127.0.0.1:5432/test?sslmode=disable
DB_URL = $(or $(DATABASE_URL),$(LOCAL_DATABASE_URL))

# golang-migrate wants the pgx5:// scheme, and Backie's migrations table.
MIGRATE_VERSION := v4.19.1
MIGRATE_URL = $(patsubst postgresql://%,pgx5://%,$(patsubst postgres://%,pgx5://%,$(DB_URL)))$(if $(findstring ?,$(DB_URL)),&,?)x-migrations-table=backie_schema_migrations

PG_CONTAINER := backie-postgres
PG_IMAGE := postgres:16

# Extra flags for the example, e.g. make example ARGS='-duration 5s'.
ARGS ?=

# The library's module, and the nested modules that build against it.
MODULES := . bench examples backieui backieotel cmd/backie backietest

.PHONY: all test test-lib test-bench test-ui test-otel test-cli test-testkit check-examples check-modules example db db-stop migrate bench bench-sql screenshots lint vet fmt

all: vet test

# Tests use BACKIE_TEST_DATABASE_URL from the environment; unset, they use
# $(LOCAL_DATABASE_URL) if a server answers there, else a throwaway cluster
# made with the local PostgreSQL server programs (initdb, pg_ctl).
test: test-lib test-bench test-ui test-otel test-cli test-testkit check-examples check-modules

test-lib:
	$(GO) test -race -count=1 -timeout 20m ./...

test-bench:
	$(GO) -C bench test -race -count=1 -timeout 20m ./...

# The dashboard's module. Its browser tests need Chromium (apt-get install
# chromium, or BACKIE_CHROMIUM); without it they are skipped, except on CI.
test-ui:
	$(GO) -C backieui test -race -count=1 -timeout 20m ./...

# The OpenTelemetry middleware's module: its tests use the SDK's in-memory
# span recorder and metric reader, on PostgreSQL.
test-otel:
	$(GO) -C backieotel test -race -count=1 -timeout 20m ./...

# The command-line tool's module: its tests build the binary and run it.
test-cli:
	$(GO) -C cmd/backie test -race -count=1 -timeout 20m ./...

# The test kit's module. Its tests use BACKIE_TEST_DATABASE_URL; unset, they
# use $(LOCAL_DATABASE_URL) if a server answers there, else a PostgreSQL
# container started with testcontainers (Docker).
test-testkit:
	$(GO) -C backietest test -race -count=1 -timeout 20m ./...

# The dashboard's pictures in docs/ and the README, taken by its browser test.
screenshots:
	$(GO) -C backieui test -count=1 -run '^TestScreenshots$$' -screenshots "$(CURDIR)/docs" .

# The examples have no tests: they must build and vet in their own module.
check-examples:
	$(GO) -C examples vet ./...
	$(GO) -C examples build -o /dev/null ./...

# The library's module stays free of testcontainers and OpenTelemetry, and
# a module that imports it keeps its go line (see .ci/check-modules).
check-modules:
	GO="$(GO)" .ci/check-modules

# The example uses DATABASE_URL from the environment (or the command line);
# unset, it starts a throwaway PostgreSQL with Docker. examples/ is its own
# module (testcontainers stays out of the library's).
example:
	$(GO) -C examples run ./simple_worker $(ARGS)

# A PostgreSQL 16 on 127.0.0.1:5432 with trust auth and a database "test".
db:
	docker run -d --rm --name $(PG_CONTAINER) -p 5432:5432 \
		-e POSTGRES_HOST_AUTH_METHOD=trust -e POSTGRES_DB=test $(PG_IMAGE)
	@for i in $$(seq 60); do \
		docker exec $(PG_CONTAINER) pg_isready -q -h 127.0.0.1 -U postgres && exit 0; sleep 1; \
	done; echo "$(PG_CONTAINER) did not become ready" >&2; exit 1

db-stop:
	docker rm -f $(PG_CONTAINER)

# Applies migrations/ with the golang-migrate CLI (what backie.Migrate does
# from Go), on DATABASE_URL or $(LOCAL_DATABASE_URL).
migrate:
	$(GO) run -tags pgx5 github.com/golang-migrate/migrate/v4/cmd/migrate@$(MIGRATE_VERSION) \
		-path migrations -database "$(MIGRATE_URL)" up

# The benchmark tooling is its own module, bench/.
bench:
	$(GO) -C bench run ./cmd/backie-bench -url "$(DB_URL)" $(ARGS)

# The same claim-and-finish cycle from pgbench clients, with no Go code:
# what PostgreSQL itself allows for each pool shape (see docs/benchmarks.md).
bench-sql:
	DATABASE_URL="$(DB_URL)" bench/pgbench/run.sh $(ARGS)

vet:
	for m in $(MODULES); do $(GO) -C $$m vet ./... || exit 1; done

lint: vet
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

fmt:
	gofmt -w .
