# Shorthands for the README's commands; nothing here that the README does not say.
.PHONY: run test ci bench generate

run:       ## the server; embedded engines unless MYSQL_DSN and a Redis are set
	go run ./cmd/server

test:      ## embedded engines, or the real ones HEADLINE_TEST_* name
	go test ./...

ci:        ## gofmt, vet, the generate diff check, then the tests with -race on MariaDB and Redis
	bash .ci/run

bench:     ## headline beside the Flask app (see Performance)
	go run ./cmd/bench

generate:  ## gqlgen: graph/generated.go from schema.graphqls
	go generate ./...
