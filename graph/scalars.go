package graph

import (
	"fmt"
	"io"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
)

// MarshalInt64ID writes an int64 id as a GraphQL ID: a JSON string, as the
// spec says IDs are serialised.
func MarshalInt64ID(id int64) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		var buf [24]byte
		b := append(buf[:0], '"')
		b = strconv.AppendInt(b, id, 10)
		b = append(b, '"')
		_, _ = w.Write(b)
	})
}

// UnmarshalInt64ID exists because gqlgen wants a pair; ids given as input are
// bound to strings and parsed by headline.ParseUserID instead.
func UnmarshalInt64ID(v any) (int64, error) {
	return 0, fmt.Errorf("an id argument is parsed as a string, not bound to int64")
}
