package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/headline/headline/cmd/server/internal/api"
	"github.com/headline/headline/cmd/server/internal/settings"
	"github.com/headline/headline/cmd/server/internal/telemetry"
	"github.com/headline/headline/dataloaders"
	"github.com/headline/headline/graph"
	"github.com/headline/headline/store"
	"github.com/headline/headline/store/localcache"
	"github.com/headline/headline/store/persisted"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/sqldb"
)

// Config is every setting of the server. Each is read from an environment
// variable, and a flag of the same name in lower case with dashes overrides
// it (HTTP_ADDR, -http-addr); serverSettings has each one's variable,
// default and meaning, and the README's table is that list.
type Config struct {
	HTTPAddr string

	// MySQL; with neither MYSQL_DSN nor a Redis, the embedded engines.
	MySQLDSN, MySQLReplicaDSNs string
	MySQLMaxOpen               int

	MySQLReplicaMaxLag, MySQLReplicaRetry, MySQLFreshWindow time.Duration

	Redis   rediscache.Topology       // REDIS_URL, or Sentinel, or Cluster; REDIS_*_TIMEOUT, REDIS_POOL_SIZE
	Breaker rediscache.BreakerOptions // REDIS_BREAKER_*
	TTLs    rediscache.TTLs           // CACHE_*

	// LocalCacheSize bounds the local tier's bytes (0: off);
	// LocalCacheMaxAge its entries' age.
	LocalCacheSize   int64
	LocalCacheMaxAge time.Duration

	JWTSecret, JWTSecretPrevious string
	JWTLeeway                    time.Duration

	APQ              bool
	PersistedQueries persisted.Options // APQ_*

	Metrics, LogRequests bool
	LogLevel, LogFormat  string
	GCPercent            int // GOGC, the Go runtime's own variable; -1: off
	PlaygroundAssetsDir  string
	EmbeddedDemoUsers    int

	HTTP            api.ServerOptions // HTTP_*_TIMEOUT
	ShutdownTimeout time.Duration

	GraphQL graph.Options            // MAX_IDS, COMPLEXITY_LIMIT, the other MAX_*, QUERY_CACHE_*, INTROSPECTION, APQ_MAX_QUERY_BYTES, PERSISTED_DOCUMENTS*
	API     api.Options              // LOADER_WAIT, MAX_BODY_BYTES, REQUEST_BYTES_IN_FLIGHT, CORS_ALLOWED_ORIGINS, CLIENT_IP_HEADER, PLAYGROUND_AUTHORIZATION
	Tracing telemetry.TracingOptions // OTEL_*

	ShowVersion bool // the flag -version alone, not a setting: print the build's version and exit
}

// gcPercent parses GOGC as the runtime does: a percentage, or off.
func gcPercent(c *Config, v string) error {
	if strings.EqualFold(v, "off") {
		c.GCPercent = -1
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return fmt.Errorf("want a percentage ≥ 1 or off, got %q", v)
	}
	c.GCPercent = n
	return nil
}

// positiveDuration takes a duration > 0.
func positiveDuration(f func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("want a duration > 0 such as 30s or 1m, got %q", v)
		}
		*f(c) = d
		return nil
	}
}

// otlpProtocols are the OTLP transports Go's trace exporters have
// (http/json is in the specification, not in Go's SDK).
var otlpProtocols = []string{"http/protobuf", "grpc"}

func tracesProtocol(c *Config) *string { return &c.Tracing.TracesProtocol }

// serverSettings are the server's settings, in the order of its help.
var serverSettings = []settings.Setting[Config]{
	{Env: "HTTP_ADDR", Default: ":8080", Help: "address to listen on", Set: settings.String(func(c *Config) *string { return &c.HTTPAddr })},
	{Env: "MYSQL_DSN", Default: "", Help: "MySQL/MariaDB go-sql-driver DSN; empty with no Redis set either: embedded mode", Set: settings.String(func(c *Config) *string { return &c.MySQLDSN })},
	{Env: "MYSQL_MAX_OPEN_CONNS", Default: strconv.Itoa(sqldb.DefaultPoolOptions.MaxOpen), Help: "most MySQL connections open at once (per server: the primary and each replica)", Set: settings.Int(func(c *Config) *int { return &c.MySQLMaxOpen })},
	{Env: "MYSQL_REPLICA_DSNS", Default: "", Help: "space-separated DSNs of MySQL read replicas: profile reads go to them, round robin; updates and reads after an update go to MYSQL_DSN", Set: settings.String(func(c *Config) *string { return &c.MySQLReplicaDSNs })},
	{Env: "MYSQL_REPLICA_MAX_LAG", Default: settings.FormatDuration(sqldb.DefaultReplicaOptions.MaxLag), Help: "a replica further behind than this (Seconds_Behind_Master), or not applying changes, gets no reads until it catches up; 0: not checked", Set: settings.Duration(func(c *Config) *time.Duration { return &c.MySQLReplicaMaxLag })},
	{Env: "MYSQL_REPLICA_RETRY", Default: settings.FormatDuration(sqldb.DefaultReplicaOptions.Retry), Help: "a replica whose read failed gets no reads for this long (its read is retried on the primary)", Set: settings.Duration(func(c *Config) *time.Duration { return &c.MySQLReplicaRetry })},
	{Env: "MYSQL_FRESH_WINDOW", Default: settings.FormatDuration(store.DefaultProfilesOptions.FreshWindow), Help: "after an update, reads of that user go to the primary this long (all instances: a marker in Redis); must exceed MYSQL_REPLICA_MAX_LAG", Set: settings.Duration(func(c *Config) *time.Duration { return &c.MySQLFreshWindow })},
	{Env: "REDIS_URL", Default: "", Help: "one Redis node: redis:// or rediss:// URL; no Redis setting and no MYSQL_DSN: embedded mode", Set: settings.String(func(c *Config) *string { return &c.Redis.URL })},
	{Env: "REDIS_SENTINEL_ADDRS", Default: "", Help: "Redis Sentinel: comma-separated sentinel host:port (with REDIS_SENTINEL_MASTER)", Set: settings.String(func(c *Config) *string { return &c.Redis.SentinelAddrs })},
	{Env: "REDIS_SENTINEL_MASTER", Default: "", Help: "Redis Sentinel: the monitored master's name", Set: settings.String(func(c *Config) *string { return &c.Redis.SentinelMaster })},
	{Env: "REDIS_CLUSTER_ADDRS", Default: "", Help: "Redis Cluster: comma-separated startup nodes host:port", Set: settings.String(func(c *Config) *string { return &c.Redis.ClusterAddrs })},
	{Env: "REDIS_DIAL_TIMEOUT", Default: settings.FormatDuration(rediscache.DefaultClientOptions.DialTimeout), Help: "Redis connect timeout", Set: settings.Duration(func(c *Config) *time.Duration { return &c.Redis.DialTimeout })},
	{Env: "REDIS_READ_TIMEOUT", Default: settings.FormatDuration(rediscache.DefaultClientOptions.ReadTimeout), Help: "Redis read timeout: a hung Redis costs at most this, then MySQL answers", Set: settings.Duration(func(c *Config) *time.Duration { return &c.Redis.ReadTimeout })},
	{Env: "REDIS_WRITE_TIMEOUT", Default: settings.FormatDuration(rediscache.DefaultClientOptions.WriteTimeout), Help: "Redis write timeout", Set: settings.Duration(func(c *Config) *time.Duration { return &c.Redis.WriteTimeout })},
	{Env: "REDIS_POOL_SIZE", Default: strconv.Itoa(rediscache.DefaultClientOptions.PoolSize), Help: "Redis connections per process; 0: go-redis's default, 10 per CPU", Set: settings.Int(func(c *Config) *int { return &c.Redis.PoolSize })},
	{Env: "REDIS_BREAKER_FAILURES", Default: strconv.FormatUint(uint64(rediscache.DefaultBreakerOptions.Failures), 10), Help: "consecutive failed calls to one Redis node (each Cluster master has its own breaker; persisted queries have their own) that open its circuit breaker", Set: settings.Int(func(c *Config) *uint32 { return &c.Breaker.Failures })},
	{Env: "REDIS_BREAKER_COOLDOWN", Default: settings.FormatDuration(rediscache.DefaultBreakerOptions.Cooldown), Help: "how long an open breaker keeps calls off its Redis node before one probe", Set: settings.Duration(func(c *Config) *time.Duration { return &c.Breaker.Cooldown })},
	{Env: "LOCAL_CACHE_SIZE", Default: strconv.Itoa(localcache.DefaultMaxBytes), Help: "bytes of decoded profiles, -1 entries and statuses each process keeps in memory in front of Redis (entries and their overhead as counted; without GOMEMLIMIT, the garbage collector's headroom over them is kept within this bound too: docs/operations.md#memory), kept coherent by Redis's CLIENT TRACKING; 0: off. Off in the embedded mode", Set: settings.Int(func(c *Config) *int64 { return &c.LocalCacheSize })},
	{Env: "LOCAL_CACHE_MAX_AGE", Default: settings.FormatDuration(localcache.DefaultMaxAge), Help: "longest a local entry is served without Redis being read again: the backstop for a lost invalidation and for Redis's lazy expiry", Set: positiveDuration(func(c *Config) *time.Duration { return &c.LocalCacheMaxAge })},
	{Env: "JWT_SECRET", Default: "", Help: "HS256 secret shared with the Toutiao backend; required unless embedded", Set: settings.String(func(c *Config) *string { return &c.JWTSecret })},
	{Env: "JWT_SECRET_PREVIOUS", Default: "", Help: "the previous secret, also accepted while a rotation is under way", Set: settings.String(func(c *Config) *string { return &c.JWTSecretPrevious })},
	{Env: "JWT_LEEWAY", Default: settings.FormatDuration(api.DefaultTokenLeeway), Help: "clock skew allowed when checking exp, nbf and iat", Set: settings.Duration(func(c *Config) *time.Duration { return &c.JWTLeeway })},
	{Env: "CACHE_TTL", Default: settings.FormatDuration(rediscache.DefaultTTLs.Profile), Help: "profile cache TTL, base", Set: settings.Duration(func(c *Config) *time.Duration { return &c.TTLs.Profile })},
	{Env: "CACHE_TTL_JITTER", Default: settings.FormatDuration(rediscache.DefaultTTLs.ProfileJitter), Help: "profile cache TTL, random extra [0, this)", Set: settings.Duration(func(c *Config) *time.Duration { return &c.TTLs.ProfileJitter })},
	{Env: "CACHE_MISSING_TTL", Default: settings.FormatDuration(rediscache.DefaultTTLs.Missing), Help: "TTL of the -1 entry for an id with no user, base", Set: settings.Duration(func(c *Config) *time.Duration { return &c.TTLs.Missing })},
	{Env: "CACHE_MISSING_TTL_JITTER", Default: settings.FormatDuration(rediscache.DefaultTTLs.MissingJitter), Help: "TTL of the -1 entry, random extra [0, this)", Set: settings.Duration(func(c *Config) *time.Duration { return &c.TTLs.MissingJitter })},
	{Env: "CACHE_STATUS_TTL", Default: settings.FormatDuration(rediscache.DefaultTTLs.Status), Help: "TTL of user:<id>:status entries, base", Set: settings.Duration(func(c *Config) *time.Duration { return &c.TTLs.Status })},
	{Env: "CACHE_STATUS_TTL_JITTER", Default: settings.FormatDuration(rediscache.DefaultTTLs.StatusJitter), Help: "TTL of status entries, random extra [0, this)", Set: settings.Duration(func(c *Config) *time.Duration { return &c.TTLs.StatusJitter })},
	{Env: "LOADER_WAIT", Default: settings.FormatDuration(dataloaders.DefaultOptions.Wait), Help: "batch window of lookups the query plan did not foresee (planned ones do not wait)", Set: settings.Duration(func(c *Config) *time.Duration { return &c.API.Loaders.Wait })},
	{Env: "MAX_IDS", Default: strconv.Itoa(graph.DefaultOptions.MaxIDs), Help: "most ids one users(ids:) may ask for", Set: settings.Int(func(c *Config) *int { return &c.GraphQL.MaxIDs })},
	{Env: "COMPLEXITY_LIMIT", Default: strconv.Itoa(graph.DefaultOptions.ComplexityLimit), Help: "GraphQL complexity limit", Set: settings.Int(func(c *Config) *int { return &c.GraphQL.ComplexityLimit })},
	{Env: "MAX_DEPTH", Default: strconv.Itoa(graph.DefaultOptions.MaxDepth), Help: "deepest field nesting of a GraphQL query (introspection counts; the full introspection query is 15)", Set: settings.Int(func(c *Config) *int { return &c.GraphQL.MaxDepth })},
	{Env: "MAX_ALIASES", Default: strconv.Itoa(graph.DefaultOptions.MaxAliases), Help: "most aliased fields in a GraphQL query, counted through fragments", Set: settings.Int(func(c *Config) *int { return &c.GraphQL.MaxAliases })},
	{Env: "MAX_FIELDS", Default: strconv.Itoa(graph.DefaultOptions.MaxFields), Help: "most fields a GraphQL query selects, counted through fragments (the full introspection query selects 226)", Set: settings.Int(func(c *Config) *int { return &c.GraphQL.MaxFields })},
	{Env: "MAX_TOKENS", Default: strconv.Itoa(graph.DefaultOptions.MaxTokens), Help: "most lexical tokens in a GraphQL document, refused while parsing (bounds validation cost)", Set: settings.Int(func(c *Config) *int { return &c.GraphQL.MaxTokens })},
	{Env: "QUERY_CACHE_SIZE", Default: strconv.Itoa(graph.DefaultOptions.QueryCacheSize), Help: "parsed GraphQL documents kept (LRU)", Set: settings.Int(func(c *Config) *int { return &c.GraphQL.QueryCacheSize })},
	{Env: "QUERY_CACHE_BYTES", Default: strconv.FormatInt(graph.DefaultOptions.QueryCacheBytes, 10), Help: "heap the parsed GraphQL documents kept may cost (query text and AST), least recently used dropped first; a document over 1/64 of it is parsed for each request and not kept", Set: settings.Int(func(c *Config) *int64 { return &c.GraphQL.QueryCacheBytes })},
	{Env: "APQ", Default: "true", Help: "automatic persisted queries (Apollo APQ): a client may send a query's SHA-256 instead of its text", Set: settings.Bool(func(c *Config) *bool { return &c.APQ })},
	{Env: "APQ_TTL", Default: settings.FormatDuration(persisted.DefaultOptions.TTL), Help: "how long a persisted query stays in Redis after it was registered (reads do not extend it)", Set: settings.Duration(func(c *Config) *time.Duration { return &c.PersistedQueries.TTL })},
	{Env: "APQ_CACHE_SIZE", Default: strconv.Itoa(persisted.DefaultOptions.LRUSize), Help: "persisted queries each process keeps in memory (LRU) in front of Redis", Set: settings.Int(func(c *Config) *int { return &c.PersistedQueries.LRUSize })},
	{Env: "APQ_MAX_QUERY_BYTES", Default: strconv.Itoa(graph.DefaultOptions.APQMaxBytes), Help: "the longest query APQ stores; a longer one runs but is not kept, so its client sends it in full each time (bounds what one registration makes Redis and each process's LRU hold)", Set: settings.Int(func(c *Config) *int { return &c.GraphQL.APQMaxBytes })},
	{Env: "APQ_CACHE_BYTES", Default: strconv.Itoa(persisted.DefaultOptions.LRUBytes), Help: "bytes of persisted queries (text and hash) each process keeps in memory in front of Redis; with APQ_CACHE_SIZE, whichever is reached first evicts", Set: settings.Int(func(c *Config) *int { return &c.PersistedQueries.LRUBytes })},
	{Env: "APQ_REGISTRATION_BYTES", Default: strconv.Itoa(persisted.DefaultOptions.Limits.Bytes), Help: "bytes of newly registered queries (each charged its key, its text and 128 bytes of Redis overhead) one process writes to Redis within any APQ_TTL; past it a registration runs but is stored nowhere, so Redis holds at most instances × this of persisted queries (a restarted process starts afresh)", Set: settings.Int(func(c *Config) *int { return &c.PersistedQueries.Limits.Bytes })},
	{Env: "APQ_CLIENT_REGISTRATIONS", Default: strconv.Itoa(persisted.DefaultOptions.Limits.PerClient), Help: "new persisted queries one client address (an IPv6 /64) may register per hour, per process: a burst of this many, then one every hour/this; past it a registration runs but is stored nowhere", Set: settings.Int(func(c *Config) *int { return &c.PersistedQueries.Limits.PerClient })},
	{Env: "PERSISTED_DOCUMENTS", Default: "", Help: "an Apollo persisted query manifest (JSON, as @apollo/generate-persisted-query-manifest writes it): its operations run by id (extensions.persistedQuery.sha256Hash) with no registration; a manifest Apollo's tooling would not write stops the start", Set: settings.Parsed(func(c *Config) **graph.PersistedDocuments { return &c.GraphQL.PersistedDocuments }, graph.LoadPersistedDocuments)},
	{Env: "PERSISTED_DOCUMENTS_ONLY", Default: "false", Help: "run only the operations of PERSISTED_DOCUMENTS (a safelist): any other query, introspection included, is refused with QUERY_NOT_IN_SAFELIST (403), an unknown id with PERSISTED_QUERY_NOT_IN_LIST (404), and APQ is off", Set: settings.Bool(func(c *Config) *bool { return &c.GraphQL.PersistedDocumentsOnly })},
	{Env: "CLIENT_IP_HEADER", Default: "", Help: "request header a proxy you run sets to the client's address (X-Real-IP, or X-Forwarded-For, of which the last address is taken); empty: the TCP peer; only per-client budgets use it", Set: settings.String(func(c *Config) *string { return &c.API.ClientIPHeader })},
	{Env: "PLAYGROUND_ASSETS_DIR", Default: "", Help: "a node_modules folder with graphiql@4.1.2, react@18.2.0 and react-dom@18.2.0: the server serves the Playground's scripts from it, for machines that cannot reach the CDN", Set: settings.String(func(c *Config) *string { return &c.PlaygroundAssetsDir })},
	{Env: "PLAYGROUND_AUTHORIZATION", Default: "", Help: "Authorization header the Playground starts with; in the embedded mode a token for user 1 when empty", Set: settings.String(func(c *Config) *string { return &c.API.PlaygroundAuth })},
	{Env: "CORS_ALLOWED_ORIGINS", Default: "", Help: "comma-separated origins browser frontends may call the API from (https://app.example.com, https://*.example.com); empty: any", Set: settings.String(func(c *Config) *string { return &c.API.CORSAllowedOrigins })},
	{Env: "CACHE_CONTROL_MAX_AGE", Default: settings.FormatDuration(graph.DefaultOptions.CacheControlMaxAge), Help: "max-age, in whole seconds, of answers by GET of user, users and _entities (Cache-Control: public): how long a CDN or browser may keep, and show, a profile as it was before its user's updateMe; 0: no-store", Set: settings.Duration(func(c *Config) *time.Duration { return &c.GraphQL.CacheControlMaxAge })},
	{Env: "INTROSPECTION", Default: "true", Help: "serve GraphQL introspection (the Playground needs it)", Set: settings.Bool(func(c *Config) *bool { return &c.GraphQL.Introspection })},
	{Env: "METRICS", Default: "true", Help: "count and serve Prometheus metrics at GET /metrics", Set: settings.Bool(func(c *Config) *bool { return &c.Metrics })},
	{Env: "MAX_BODY_BYTES", Default: strconv.FormatInt(api.DefaultOptions.MaxBodyBytes, 10), Help: "request body limit in bytes", Set: settings.Bytes(func(c *Config) *int64 { return &c.API.MaxBodyBytes })},
	{Env: "REQUEST_BYTES_IN_FLIGHT", Default: strconv.FormatInt(api.DefaultOptions.InFlightBytes, 10), Help: "bytes of GraphQL requests (POST bodies, GET query strings) held in memory at once, each charged its size plus 64 per JSON value it could decode into; a request over it waits its turn, up to HTTP_READ_TIMEOUT, then gets 503 SERVICE_UNAVAILABLE with Retry-After; 0: no bound", Set: settings.Int(func(c *Config) *int64 { return &c.API.InFlightBytes })},
	{Env: "HTTP_READ_HEADER_TIMEOUT", Default: settings.FormatDuration(api.DefaultServerOptions.ReadHeaderTimeout), Help: "time to read a request's headers", Set: settings.Duration(func(c *Config) *time.Duration { return &c.HTTP.ReadHeaderTimeout })},
	{Env: "HTTP_READ_TIMEOUT", Default: settings.FormatDuration(api.DefaultServerOptions.ReadTimeout), Help: "time to read a whole request", Set: settings.Duration(func(c *Config) *time.Duration { return &c.HTTP.ReadTimeout })},
	{Env: "HTTP_WRITE_TIMEOUT", Default: settings.FormatDuration(api.DefaultServerOptions.WriteTimeout), Help: "time to write a response", Set: settings.Duration(func(c *Config) *time.Duration { return &c.HTTP.WriteTimeout })},
	{Env: "HTTP_IDLE_TIMEOUT", Default: settings.FormatDuration(api.DefaultServerOptions.IdleTimeout), Help: "keep-alive idle time", Set: settings.Duration(func(c *Config) *time.Duration { return &c.HTTP.IdleTimeout })},
	{Env: "SHUTDOWN_TIMEOUT", Default: "15s", Help: "grace for in-flight requests on SIGTERM", Set: settings.Duration(func(c *Config) *time.Duration { return &c.ShutdownTimeout })},
	{Env: "LOG_LEVEL", Default: "info", Help: "debug, info, warn or error", Set: settings.OneOf(func(c *Config) *string { return &c.LogLevel }, "debug", "info", "warn", "error")},
	{Env: "GOGC", Default: "400", Help: "garbage collector target, as the Go runtime reads it (a percentage, or off); headline's default is 400, not the runtime's 100: its live heap is small and its garbage per request large, so collecting a quarter as often cuts CPU per feed request by about a fifth; with the local tier on and GOMEMLIMIT unset, headline lowers it after each collection so that the headroom is GOGC% of the heap outside the tier (and of the tier, up to half of what it has left of LOCAL_CACHE_SIZE); cap memory with GOMEMLIMIT, which turns that off", Set: gcPercent},
	{Env: "LOG_FORMAT", Default: "text", Help: "text or json", Set: settings.OneOf(func(c *Config) *string { return &c.LogFormat }, "text", "json")},
	{Env: "LOG_REQUESTS", Default: "true", Help: "log one line per request: id, method, path, status, duration, GraphQL operation, cache hits and misses, SQL rows", Set: settings.Bool(func(c *Config) *bool { return &c.LogRequests })},
	{Env: "EMBEDDED_DEMO_USERS", Default: "300", Help: "demo users loaded in the embedded mode", Set: settings.Int(func(c *Config) *int { return &c.EmbeddedDemoUsers })},
	{Env: "OTEL_EXPORTER_OTLP_ENDPOINT", Default: "", Help: "OpenTelemetry collector base URL (http://host:4318, or :4317 for grpc); empty with OTEL_EXPORTER_OTLP_TRACES_ENDPOINT empty: no tracing", Set: settings.String(func(c *Config) *string { return &c.Tracing.Endpoint })},
	{Env: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", Default: "", Help: "full URL traces are sent to, over OTEL_EXPORTER_OTLP_ENDPOINT (http/protobuf: with its path, e.g. /v1/traces)", Set: settings.String(func(c *Config) *string { return &c.Tracing.TracesEndpoint })},
	{Env: "OTEL_EXPORTER_OTLP_PROTOCOL", Default: "http/protobuf", Help: "OTLP protocol: http/protobuf or grpc", Set: settings.OneOf(func(c *Config) *string { return &c.Tracing.Protocol }, otlpProtocols...)},
	{Env: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", Default: "", Help: "OTLP protocol for traces, over OTEL_EXPORTER_OTLP_PROTOCOL", Set: settings.Optional(tracesProtocol, settings.OneOf(tracesProtocol, otlpProtocols...))},
	{Env: "OTEL_SERVICE_NAME", Default: "headline", Help: "service.name the traces carry", Set: settings.String(func(c *Config) *string { return &c.Tracing.ServiceName })},
}

// parseConfig fills a Config from defaults, then getenv (an empty variable
// counts as unset), then flags in args.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (*Config, error) {
	c := &Config{}
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&c.ShowVersion, "version", false, "print the build and exit")
	fs.Usage = func() { serverUsage(fs.Output()) }
	if err := settings.Parse(fs, serverSettings, c, args, getenv); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, settings.UsageError{Err: fmt.Errorf("unexpected arguments %q (server -h lists the commands)", fs.Args())}
	}
	return c, c.GraphQL.Check()
}

// serverUsage prints `server -h`: the commands, then every setting.
func serverUsage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  server                  serve GraphQL; with neither MYSQL_DSN nor a Redis set,
                          on embedded engines with demo users
  server migrate COMMAND  change the MySQL schema (up, down, status), then exit;
                          server migrate -h says more
  server -version         print the build's version and VCS revision, then exit

`)
	settings.PrintSettings(w, serverSettings)
	settings.PrintFlag(w, "version", "", "print the module version and VCS revision, time and modified state of this build, and exit.")
}

// embedded reports whether the server runs on its embedded engines.
func (c *Config) embedded() bool { return c.MySQLDSN == "" && c.Redis.Count() == 0 }
