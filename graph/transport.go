package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// The media types of GraphQL answers (GraphQL over HTTP, "Body").
const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

// postTransport and getTransport are gqlgen's POST and GET as the
// GraphQL-over-HTTP spec has them, SHOULDs included (graphql-http's server
// audit passes with no warning):
//
//   - the answer's media type is negotiated from Accept, q-values included
//     (negotiate); none acceptable: 406;
//   - a request error (the operation did not run: parse, validation,
//     variables, limits) is answered without "data"; with 200 under
//     application/json, where gqlgen answers 422, and 400 under
//     application/graphql-response+json;
//   - a request that is not a GraphQL request (a body that is not a JSON
//     object, no query) gets 400 under either;
//   - a mutation by GET gets 405 with Allow: POST (gqlgen: 406);
//   - the persisted-query refusals are answered as Apollo Server answers
//     them, and as Apollo clients expect: 200 and "data": null.
//
// They also write Cache-Control: no-store on every answer, except a GET
// answer that a cache may keep (exchange.writeCacheable) and one whose
// header an extension set while the operation was prepared (the
// persisted-query refusals by GET: uncacheable).
type postTransport struct{}

type getTransport struct{ hints *cacheHints }

var (
	_ graphql.Transport = postTransport{}
	_ graphql.Transport = getTransport{}
)

// Supports is gqlgen's POST's: a JSON body, not a websocket upgrade.
func (postTransport) Supports(r *http.Request) bool {
	if r.Header.Get("Upgrade") != "" || r.Method != http.MethodPost {
		return false
	}
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mediaType == mediaJSON
}

func (getTransport) Supports(r *http.Request) bool {
	return r.Header.Get("Upgrade") == "" && r.Method == http.MethodGet
}

func (postTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	x, ok := newExchange(w, r, exec)
	if !ok {
		return
	}
	start := graphql.Now()
	body, err := readAll(r.Body)
	if err != nil {
		x.writeErrors(r.Context(), http.StatusBadRequest, gqlerror.Errorf("could not read request body: %v", err))
		return
	}
	var raw graphql.RawParams
	if err := jsonDecode(bytes.NewReader(body), &raw); err != nil {
		x.writeErrors(r.Context(), http.StatusBadRequest, gqlerror.Errorf("json request body could not be decoded: %v body:%s", err, body))
		return
	}
	raw.Headers = r.Header
	raw.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	x.run(&raw)
}

// Do answers variables or extensions that are not a JSON object as a POST
// body that is not JSON is: 400 with a BAD_USER_INPUT error, through the
// error presenter and the extensions.
func (t getTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	x, ok := newExchange(w, r, exec)
	if !ok {
		return
	}
	x.get, x.hints = true, t.hints
	start := graphql.Now()
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		// url's message quotes at most an escape of three bytes.
		x.writeErrors(r.Context(), http.StatusBadRequest, gqlerror.Errorf("%s", err.Error()))
		return
	}
	raw := graphql.RawParams{Query: q.Get("query"), OperationName: q.Get("operationName"), Headers: r.Header}
	for _, p := range []struct {
		name string
		into *map[string]any
	}{{"variables", &raw.Variables}, {"extensions", &raw.Extensions}} {
		if v := q.Get(p.name); v != "" {
			if err := jsonDecode(strings.NewReader(v), p.into); err != nil {
				x.writeErrors(r.Context(), http.StatusBadRequest, gqlerror.Errorf("%s could not be decoded: want a JSON object", p.name))
				return
			}
		}
	}
	raw.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	x.run(&raw)
}

// readAll is the request body: as it is when the HTTP edge read it whole
// already (it offers its Bytes), else read here.
func readAll(body io.Reader) ([]byte, error) {
	if b, ok := body.(interface{ Bytes() []byte }); ok {
		return b.Bytes(), nil
	}
	return io.ReadAll(body)
}

// jsonDecode reads the first JSON value of r into val, numbers as
// json.Number, as gqlgen's transports do.
func jsonDecode(r io.Reader, val any) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	return dec.Decode(val)
}

// exchange is one GraphQL request over HTTP being answered.
type exchange struct {
	w     http.ResponseWriter
	r     *http.Request
	exec  graphql.GraphExecutor
	media string      // of the answer
	get   bool        // by GET: the answer may be cacheable
	hints *cacheHints // GET only
	// status, when set, is the answer's status: an extension's choice for
	// its refusal (setStatus), made while the operation was prepared.
	status int
}

type exchangeKey struct{}

// exchangeFrom is the exchange ctx is of, for the extensions, which gqlgen
// hands the context but neither the request nor the response; nil outside
// one.
func exchangeFrom(ctx context.Context) *exchange {
	x, _ := ctx.Value(exchangeKey{}).(*exchange)
	return x
}

// newExchange negotiates the answer's media type; none acceptable, it
// answers 406 and reports false.
func newExchange(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) (*exchange, bool) {
	w.Header().Set("Cache-Control", "no-store")
	x := &exchange{w: w, r: r, exec: exec, media: negotiate(r.Header.Values("Accept"))}
	if x.media == "" {
		x.media = mediaJSON
		x.writeErrors(r.Context(), http.StatusNotAcceptable,
			gqlerror.Errorf("the Accept header allows neither %s nor %s", mediaGraphQLResponse, mediaJSON))
		return nil, false
	}
	return x, true
}

// run runs the operation raw asks for and answers it.
func (x *exchange) run(raw *graphql.RawParams) {
	ctx := context.WithValue(x.r.Context(), exchangeKey{}, x)
	oc, errs := x.exec.CreateOperationContext(ctx, raw)
	if errs != nil {
		// raw.Query, not oc.RawQuery: persisted queries fill the former,
		// and an extension's refusal leaves the latter unset.
		x.writeRequestErrors(graphql.WithOperationContext(ctx, oc), errs, raw.Query == "")
		return
	}
	if x.get && oc.Operation.Operation != ast.Query {
		x.w.Header().Set("Allow", http.MethodPost)
		x.writeErrors(graphql.WithOperationContext(ctx, oc), http.StatusMethodNotAllowed,
			gqlerror.Errorf("GET requests only allow query operations: send a %s by POST", oc.Operation.Operation))
		return
	}
	policy := cachePolicy{maxAge: 0}
	if x.get {
		policy = x.hints.operationPolicy(oc.Operation, oc.Variables)
	}
	responses, ctx := x.exec.DispatchOperation(ctx, oc)
	resp := responses(ctx)
	body := marshalResponse(resp)
	// An answer with errors is never cached, as Apollo Server has it.
	if policy.cacheable() && len(resp.Errors) == 0 {
		x.writeCacheable(body, policy)
		return
	}
	x.write(http.StatusOK, body)
}

// Apollo Server's codes for its persisted-query refusals.
const (
	codePersistedQueryNotFound     = "PERSISTED_QUERY_NOT_FOUND"
	codePersistedQueryNotSupported = "PERSISTED_QUERY_NOT_SUPPORTED"
)

// writeRequestErrors answers a request whose operation did not run.
// noQuery: the request had no query, nor a persisted one.
func (x *exchange) writeRequestErrors(ctx context.Context, errs gqlerror.List, noQuery bool) {
	resp := x.exec.DispatchError(ctx, errs)
	for _, e := range resp.Errors {
		if code, _ := e.Extensions["code"].(string); code == codePersistedQueryNotFound || code == codePersistedQueryNotSupported {
			// Apollo Server's answer, on which the client registers the
			// query or stops sending hashes; "data": null keeps the 200
			// within the spec under application/graphql-response+json.
			// (Its Cache-Control, by GET, is persistedQueries'.)
			x.writeJSON(http.StatusOK, resp)
			return
		}
	}
	status := http.StatusOK
	if noQuery || x.media == mediaGraphQLResponse {
		status = http.StatusBadRequest
	}
	x.writeJSON(status, requestErrorResponse{Errors: resp.Errors, Extensions: resp.Extensions})
}

// requestErrorResponse is the answer to a request error: the GraphQL spec
// has no "data" entry when an error is raised before execution begins.
type requestErrorResponse struct {
	Errors     gqlerror.List  `json:"errors"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

// writeErrors answers with status and errs (through the error presenter
// and the extensions), without "data".
func (x *exchange) writeErrors(ctx context.Context, status int, errs ...*gqlerror.Error) {
	resp := x.exec.DispatchError(ctx, errs)
	x.writeJSON(status, requestErrorResponse{Errors: resp.Errors, Extensions: resp.Extensions})
}

// marshalResponse is json.Marshal(resp), byte for byte. A response of data
// alone is framed as it is: gqlgen writes it compact and valid, and when it
// holds nothing json.Marshal escapes in a json.RawMessage, re-reading the
// whole of it to compact and escape it (6 % of the CPU of a warm feed
// request) would change nothing.
func marshalResponse(resp *graphql.Response) []byte {
	if len(resp.Errors) == 0 && resp.Label == "" && resp.Path == nil && resp.HasNext == nil &&
		len(resp.Extensions) == 0 && resp.Data != nil && !needsEscape(resp.Data) {
		body := make([]byte, 0, len(`{"data":}`)+len(resp.Data))
		body = append(body, `{"data":`...)
		body = append(body, resp.Data...)
		return append(body, '}')
	}
	body, err := json.Marshal(resp)
	if err != nil {
		panic(fmt.Errorf("unable to marshal %s: %w", string(resp.Data), err))
	}
	return body
}

var (
	lineSeparator      = []byte("\u2028")
	paragraphSeparator = []byte("\u2029")
)

// needsEscape reports whether data holds what json.Marshal escapes in a
// json.RawMessage: <, > and & (for HTML), U+2028 and U+2029.
func needsEscape(data []byte) bool {
	return bytes.IndexByte(data, '<') >= 0 || bytes.IndexByte(data, '>') >= 0 || bytes.IndexByte(data, '&') >= 0 ||
		bytes.Contains(data, lineSeparator) || bytes.Contains(data, paragraphSeparator)
}

func (x *exchange) writeJSON(status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Errorf("unable to marshal a GraphQL error response: %w", err))
	}
	x.write(status, body)
}

func (x *exchange) write(status int, body []byte) {
	if x.status != 0 {
		status = x.status
	}
	x.w.Header().Set("Content-Type", x.media)
	x.w.WriteHeader(status)
	_, _ = x.w.Write(body)
}

// negotiate returns the media type of the answer to a request that sent
// accept (its Accept header's lines): the acceptable one of highest q,
// the first listed among equals; application/json for */*, application/*
// or no Accept at all (the spec's default); "" when neither is acceptable.
func negotiate(accept []string) string {
	if len(accept) == 0 {
		return mediaJSON
	}
	best, bestQ := "", 0.0
	for _, line := range accept {
		for part := range strings.SplitSeq(line, ",") {
			media, q := acceptPart(part)
			switch {
			case strings.EqualFold(media, mediaGraphQLResponse):
				media = mediaGraphQLResponse
			case strings.EqualFold(media, mediaJSON), media == "*/*", strings.EqualFold(media, "application/*"):
				media = mediaJSON
			default:
				continue
			}
			if q > bestQ {
				best, bestQ = media, q
			}
		}
	}
	return best
}

// acceptPart splits one element of Accept into its media range and its
// q-value (1 when absent, 0 when malformed: not acceptable).
func acceptPart(part string) (media string, q float64) {
	media, params, _ := strings.Cut(part, ";")
	q = 1
	for p := range strings.SplitSeq(params, ";") {
		name, value, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(name), "q") {
			q = parseQ(strings.TrimSpace(value))
		}
	}
	return strings.TrimSpace(media), q
}

// parseQ reads a qvalue of RFC 9110 (12.4.2): 0 to 1, at most three
// decimals; a 1 with other digits than 0 after its point (1.5, which the
// RFC does not allow) is read as 1, anything else malformed as 0.
func parseQ(v string) float64 {
	if len(v) == 0 || len(v) > 5 || (v[0] != '0' && v[0] != '1') {
		return 0
	}
	q := float64(v[0] - '0')
	if len(v) == 1 {
		return q
	}
	if v[1] != '.' {
		return 0
	}
	scale := 0.1
	for _, c := range v[2:] {
		if c < '0' || c > '9' {
			return 0
		}
		q += float64(c-'0') * scale
		scale /= 10
	}
	return min(q, 1)
}
