package rediscache

import "context"

// PipelinedGet lets the benchmarks of package store_test, which can use
// storetest, call pipelinedGet.
func (c *Cache) PipelinedGet(ctx context.Context, keys []string) ([]any, []bool, error) {
	return c.pipelinedGet(ctx, keys)
}

// ReadSource is the read-or-lease script, for tests that load it.
const ReadSource = readSource
