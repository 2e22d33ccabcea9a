package graph

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/headline/headline"
)

// Bounds on what an error answer repeats of the request. Without them the
// answer grows with what the client sent: gqlgen's message for a body that
// is not JSON quotes the whole body (1 MiB of '<' became 6 MiB once JSON
// escaped each as \u003c), gqlparser's quote a name or a value whole, and a
// path names a variable's input fields as sent.
const (
	// A message longer than maxMessageBytes keeps its first messageHead and
	// last messageTail bytes around an ellipsis: at most 131 bytes, so the
	// excerpt of the request is about 100 bytes, and the tail keeps the
	// end of a message such as `Cannot query field "…" on type "Query".`.
	// Messages written from the schema's names alone are shorter.
	maxMessageBytes = 160
	messageHead     = 96
	messageTail     = 32
	// A path element longer than maxPathBytes is cut the same way.
	maxPathBytes = 64
	pathHead     = 40
	pathTail     = 16
	// maxRequestErrors bounds the errors of an answer with no data (parse,
	// validation, variables, limits): one document can make gqlparser
	// report errors quadratic in its fields (each pair of conflicting
	// fields is one). The rest are counted in one more error. Answers with
	// data are not cut: their errors are one per failed field or list
	// entry, bounded by the limits on the document.
	maxRequestErrors = 10
)

// Excerpt returns s, or when s is longer than maxMessageBytes its start
// and end around an ellipsis, cut at UTF-8 boundaries. Every message a
// client reads passes through it.
func Excerpt(s string) string { return excerpt(s, maxMessageBytes, messageHead, messageTail) }

func excerpt(s string, limit, head, tail int) string {
	if len(s) <= limit {
		return s
	}
	for head > 0 && !utf8.RuneStart(s[head]) {
		head--
	}
	end := len(s) - tail
	for end < len(s) && !utf8.RuneStart(s[end]) {
		end++
	}
	return s[:head] + "…" + s[end:]
}

// clipError returns e with its message and path excerpted, and a code when
// it had none (gqlgen's answer to a body that is not JSON has none): a copy,
// when anything changes, since gqlgen may hold e elsewhere.
func clipError(e *gqlerror.Error) *gqlerror.Error {
	msg := Excerpt(e.Message)
	path, pathCut := clipPath(e.Path)
	_, hasCode := e.Extensions["code"].(string)
	if msg == e.Message && !pathCut && hasCode {
		return e
	}
	c := *e
	c.Message, c.Path = msg, path
	if !hasCode {
		c.Extensions = make(map[string]any, len(e.Extensions)+1)
		for k, v := range e.Extensions {
			c.Extensions[k] = v
		}
		c.Extensions["code"] = headline.ECodeBadInput
	}
	return &c
}

func clipPath(p ast.Path) (ast.Path, bool) {
	var out ast.Path
	for i, el := range p {
		name, ok := el.(ast.PathName)
		if !ok || len(name) <= maxPathBytes {
			continue
		}
		if out == nil {
			out = append(ast.Path(nil), p...)
		}
		out[i] = ast.PathName(excerpt(string(name), maxPathBytes, pathHead, pathTail))
	}
	if out == nil {
		return p, false
	}
	return out, true
}

// errorCap keeps at most maxRequestErrors errors in an answer that has no
// data, and says how many more there were. Registered before every other
// extension, it has the last word on every answer gqlgen writes, those of
// DispatchError (a body that is not JSON, parse and validation errors)
// included.
type errorCap struct{}

var (
	_ graphql.HandlerExtension    = errorCap{}
	_ graphql.ResponseInterceptor = errorCap{}
)

func (errorCap) ExtensionName() string                   { return "ErrorCap" }
func (errorCap) Validate(graphql.ExecutableSchema) error { return nil }

func (errorCap) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil || len(resp.Data) > 0 || len(resp.Errors) <= maxRequestErrors {
		return resp
	}
	more := resp.Errors[maxRequestErrors:]
	summary := &gqlerror.Error{
		Message:    fmt.Sprintf("%d more errors not shown", len(more)),
		Extensions: map[string]any{"code": more[0].Extensions["code"]},
	}
	resp.Errors = append(resp.Errors[:maxRequestErrors:maxRequestErrors], summary)
	return resp
}
