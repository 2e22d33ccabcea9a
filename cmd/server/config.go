package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/headline/headline/dataloaders"
	"github.com/headline/headline/store"
	"github.com/headline/headline/store/persisted"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/sqldb"
)

// Config is every setting of the server. Each is read from an environment
// variable, and a flag of the same name in lower case with dashes overrides
// it (HTTP_ADDR, -http-addr). Defaults are in settings (and the README's
// table); those of the store's and the loaders' settings are their
// packages' exported defaults, named beside each field here.
type Config struct {
	HTTPAddr string // HTTP_ADDR: where to listen. Default ":8080".

	// MySQL as a go-sql-driver DSN, e.g. root@tcp(127.0.0.1:3306)/toutiao.
	// With neither MYSQL_DSN nor REDIS_URL the server runs on embedded
	// engines (SQLite, miniredis) with demo data.
	MySQLDSN     string // MYSQL_DSN. Default "" (embedded mode if REDIS_URL is empty too).
	MySQLMaxOpen int    // MYSQL_MAX_OPEN_CONNS: pool bound. Default sqldb.DefaultPoolOptions.
	RedisURL     string // REDIS_URL: redis:// or rediss:// URL (one node). Default "".

	// MySQL read replicas: profile reads go to them, updates to MYSQL_DSN.
	MySQLReplicaDSNs   string        // MYSQL_REPLICA_DSNS: space-separated DSNs. Default "": none.
	MySQLReplicaMaxLag time.Duration // MYSQL_REPLICA_MAX_LAG: a replica further behind gets no reads. Default sqldb.DefaultReplicaOptions; 0: unchecked.
	MySQLReplicaRetry  time.Duration // MYSQL_REPLICA_RETRY: a replica that failed gets no reads this long. Default sqldb.DefaultReplicaOptions.
	MySQLFreshWindow   time.Duration // MYSQL_FRESH_WINDOW: reads of a user updated this recently go to the primary. Default store.DefaultProfilesOptions.

	// One Redis topology: REDIS_URL, or Sentinel, or Cluster.
	RedisSentinelAddrs  string // REDIS_SENTINEL_ADDRS: comma-separated sentinels. Default "".
	RedisSentinelMaster string // REDIS_SENTINEL_MASTER: the master's name. Default "".
	RedisClusterAddrs   string // REDIS_CLUSTER_ADDRS: comma-separated startup nodes. Default ""

	RedisDialTimeout  time.Duration // REDIS_DIAL_TIMEOUT. Default 100ms.
	RedisReadTimeout  time.Duration // REDIS_READ_TIMEOUT. Default 100ms.
	RedisWriteTimeout time.Duration // REDIS_WRITE_TIMEOUT. Default 100ms.
	RedisPoolSize     int           // REDIS_POOL_SIZE. Default 0: go-redis's 10 per CPU.

	BreakerFailures int           // REDIS_BREAKER_FAILURES: consecutive failures that open the breaker. Default rediscache.DefaultBreakerOptions.
	BreakerCooldown time.Duration // REDIS_BREAKER_COOLDOWN: open time before one probe. Default rediscache.DefaultBreakerOptions.

	JWTSecret         string        // JWT_SECRET: HS256 secret of the Toutiao backend. Required outside the embedded mode.
	JWTSecretPrevious string        // JWT_SECRET_PREVIOUS: also accepted, during a rotation. Default "".
	JWTLeeway         time.Duration // JWT_LEEWAY: clock skew allowed on exp, nbf, iat. Default 5s.

	CacheTTL               time.Duration // CACHE_TTL: profile TTL base. Default rediscache.DefaultTTLs (all CACHE_*).
	CacheTTLJitter         time.Duration // CACHE_TTL_JITTER: random extra [0, this).
	CacheMissingTTL        time.Duration // CACHE_MISSING_TTL: "-1" TTL base.
	CacheMissingJitter     time.Duration // CACHE_MISSING_TTL_JITTER.
	CacheStatusTTL         time.Duration // CACHE_STATUS_TTL: user:<id>:status TTL base.
	CacheStatusJitter      time.Duration // CACHE_STATUS_TTL_JITTER.
	LoaderWait             time.Duration // LOADER_WAIT: window of unplanned lookups. Default dataloaders.DefaultOptions.
	MaxIDs                 int           // MAX_IDS: ids one users(ids:) may ask for. Default 100.
	ComplexityLimit        int           // COMPLEXITY_LIMIT. Default 1000.
	MaxDepth               int           // MAX_DEPTH: deepest field nesting of a query. Default 15.
	MaxAliases             int           // MAX_ALIASES: aliased fields of a query. Default 100.
	MaxTokens              int           // MAX_TOKENS: lexical tokens of a query document. Default 2000.
	MaxFields              int           // MAX_FIELDS: fields a query selects, through fragments. Default 1000.
	QueryCacheSize         int           // QUERY_CACHE_SIZE: parsed documents kept. Default 1000.
	QueryCacheBytes        int           // QUERY_CACHE_BYTES: heap the parsed documents kept may cost. Default 32 MiB.
	APQ                    bool          // APQ: automatic persisted queries. Default true.
	APQTTL                 time.Duration // APQ_TTL: a persisted query's life in Redis from its registration. Default persisted.DefaultOptions (all APQ_* but APQ, APQ_MAX_QUERY_BYTES).
	APQCacheSize           int           // APQ_CACHE_SIZE: persisted queries kept in process (LRU).
	APQMaxBytes            int           // APQ_MAX_QUERY_BYTES: longest query stored. Default 32768.
	APQCacheBytes          int           // APQ_CACHE_BYTES: bytes of queries kept in process (LRU).
	APQRegistrationBytes   int           // APQ_REGISTRATION_BYTES: bytes of registrations one process writes to Redis per APQ_TTL.
	APQClientRegistrations int           // APQ_CLIENT_REGISTRATIONS: new queries one client address may register per hour.
	ClientIPHeader         string        // CLIENT_IP_HEADER: header a trusted proxy sets to the client's address. Default "": the TCP peer.
	Introspection          bool          // INTROSPECTION. Default true.
	Metrics                bool          // METRICS: serve Prometheus metrics at GET /metrics. Default true.
	PlaygroundAuth         string        // PLAYGROUND_AUTHORIZATION: Authorization header the Playground starts with. Default "" (embedded: a demo token).
	PlaygroundAssetsDir    string        // PLAYGROUND_ASSETS_DIR: node_modules holding the Playground's scripts. Default "": from a CDN.
	CORSAllowedOrigins     string        // CORS_ALLOWED_ORIGINS: comma-separated origins browsers may call from. Default "": any.
	MaxBodyBytes           int64         // MAX_BODY_BYTES: request body limit. Default 1 MiB.
	InFlightBytes          int           // REQUEST_BYTES_IN_FLIGHT: GraphQL request bytes held at once. Default 16 MiB; 0: no bound.
	ReadHeaderTimeout      time.Duration // HTTP_READ_HEADER_TIMEOUT. Default 5s.
	ReadTimeout            time.Duration // HTTP_READ_TIMEOUT. Default 10s.
	WriteTimeout           time.Duration // HTTP_WRITE_TIMEOUT. Default 15s.
	IdleTimeout            time.Duration // HTTP_IDLE_TIMEOUT. Default 120s.
	ShutdownTimeout        time.Duration // SHUTDOWN_TIMEOUT: grace for in-flight requests. Default 15s.
	LogLevel               string        // LOG_LEVEL: debug, info, warn, error. Default info.
	GCPercent              int           // GOGC: the Go runtime's own variable; -1 for "off". Default 400 (the runtime's: 100).
	LogFormat              string        // LOG_FORMAT: text or json. Default text.
	LogRequests            bool          // LOG_REQUESTS: one log line per request. Default true.
	EmbeddedDemoUsers      int           // EMBEDDED_DEMO_USERS: users loaded in the embedded mode. Default 300.

	ShowVersion bool // the flag -version alone, not a setting: print the build's version and exit.

	// OpenTelemetry traces, under the standard variable names; tracing is
	// off unless an endpoint is set. The exporter reads the other OTEL_*
	// variables (headers, timeout, TLS, sampler) from the environment itself.
	OTLPEndpoint       string // OTEL_EXPORTER_OTLP_ENDPOINT: collector base URL. Default "".
	OTLPTracesEndpoint string // OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: full URL for traces, over the base. Default "".
	OTLPProtocol       string // OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf or grpc. Default http/protobuf.
	OTLPTracesProtocol string // OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: over OTEL_EXPORTER_OTLP_PROTOCOL. Default "".
	ServiceName        string // OTEL_SERVICE_NAME: service.name of the traces. Default headline.
}

// setting is one row of the configuration: its variable, its default, and
// the field it fills. The README's table is this list.
type setting struct {
	env, def, help string
	set            func(c *Config, v string) error
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

func str(f func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *f(c) = v; return nil }
}

func integer(f func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("want a whole number ≥ 0, got %q", v)
		}
		*f(c) = n
		return nil
	}
}

func duration(f func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("want a duration such as 250ms or 5m, got %q", v)
		}
		*f(c) = d
		return nil
	}
}

// oneOf refuses any value but those listed (in any case), so that a typo
// such as LOG_LEVEL=verbose stops the start rather than quietly meaning the
// default.
func oneOf(f func(*Config) *string, values ...string) func(*Config, string) error {
	return func(c *Config, v string) error {
		for _, want := range values {
			if strings.EqualFold(v, want) {
				*f(c) = want
				return nil
			}
		}
		return fmt.Errorf("want one of %s, got %q", strings.Join(values, ", "), v)
	}
}

func boolean(f func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", v)
		}
		*f(c) = b
		return nil
	}
}

// durationDefault writes a default duration as the table does: in the
// smallest unit in which it is a whole number no greater than 60 (60s, 30m,
// 24h), else in the largest in which it is whole (500us).
func durationDefault(d time.Duration) string {
	var s string
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Microsecond, "us"}, {time.Millisecond, "ms"}, {time.Second, "s"}, {time.Minute, "m"}, {time.Hour, "h"}} {
		if d%u.d != 0 {
			continue
		}
		s = strconv.FormatInt(int64(d/u.d), 10) + u.name
		if d/u.d <= 60 {
			break
		}
	}
	return s
}

// otlpProtocols are the OTLP transports Go's trace exporters have
// (http/json is in the specification, not in Go's SDK).
var otlpProtocols = []string{"http/protobuf", "grpc"}

var settings = []setting{
	{"HTTP_ADDR", ":8080", "address to listen on", str(func(c *Config) *string { return &c.HTTPAddr })},
	{"MYSQL_DSN", "", "MySQL/MariaDB go-sql-driver DSN; empty with REDIS_URL empty: embedded mode", str(func(c *Config) *string { return &c.MySQLDSN })},
	{"MYSQL_MAX_OPEN_CONNS", strconv.Itoa(sqldb.DefaultPoolOptions.MaxOpen), "most MySQL connections open at once (per server: the primary and each replica)", integer(func(c *Config) *int { return &c.MySQLMaxOpen })},
	{"MYSQL_REPLICA_DSNS", "", "space-separated DSNs of MySQL read replicas: profile reads go to them, round robin; updates and reads after an update go to MYSQL_DSN", str(func(c *Config) *string { return &c.MySQLReplicaDSNs })},
	{"MYSQL_REPLICA_MAX_LAG", durationDefault(sqldb.DefaultReplicaOptions.MaxLag), "a replica further behind than this (Seconds_Behind_Master), or not applying changes, gets no reads until it catches up; 0: not checked", duration(func(c *Config) *time.Duration { return &c.MySQLReplicaMaxLag })},
	{"MYSQL_REPLICA_RETRY", durationDefault(sqldb.DefaultReplicaOptions.Retry), "a replica whose read failed gets no reads for this long (its read is retried on the primary)", duration(func(c *Config) *time.Duration { return &c.MySQLReplicaRetry })},
	{"MYSQL_FRESH_WINDOW", durationDefault(store.DefaultProfilesOptions.FreshWindow), "after an update, reads of that user go to the primary this long (all instances: a marker in Redis); must exceed MYSQL_REPLICA_MAX_LAG", duration(func(c *Config) *time.Duration { return &c.MySQLFreshWindow })},
	{"REDIS_URL", "", "one Redis node: redis:// or rediss:// URL; no Redis setting and no MYSQL_DSN: embedded mode", str(func(c *Config) *string { return &c.RedisURL })},
	{"REDIS_SENTINEL_ADDRS", "", "Redis Sentinel: comma-separated sentinel host:port (with REDIS_SENTINEL_MASTER)", str(func(c *Config) *string { return &c.RedisSentinelAddrs })},
	{"REDIS_SENTINEL_MASTER", "", "Redis Sentinel: the monitored master's name", str(func(c *Config) *string { return &c.RedisSentinelMaster })},
	{"REDIS_CLUSTER_ADDRS", "", "Redis Cluster: comma-separated startup nodes host:port", str(func(c *Config) *string { return &c.RedisClusterAddrs })},
	{"REDIS_DIAL_TIMEOUT", "100ms", "Redis connect timeout", duration(func(c *Config) *time.Duration { return &c.RedisDialTimeout })},
	{"REDIS_READ_TIMEOUT", "100ms", "Redis read timeout: a hung Redis costs at most this, then MySQL answers", duration(func(c *Config) *time.Duration { return &c.RedisReadTimeout })},
	{"REDIS_WRITE_TIMEOUT", "100ms", "Redis write timeout", duration(func(c *Config) *time.Duration { return &c.RedisWriteTimeout })},
	{"REDIS_POOL_SIZE", "0", "Redis connections per process; 0: go-redis's default, 10 per CPU", integer(func(c *Config) *int { return &c.RedisPoolSize })},
	{"REDIS_BREAKER_FAILURES", strconv.FormatUint(uint64(rediscache.DefaultBreakerOptions.Failures), 10), "consecutive failed calls to one Redis node (each Cluster master has its own breaker; persisted queries have their own) that open its circuit breaker", integer(func(c *Config) *int { return &c.BreakerFailures })},
	{"REDIS_BREAKER_COOLDOWN", durationDefault(rediscache.DefaultBreakerOptions.Cooldown), "how long an open breaker keeps calls off its Redis node before one probe", duration(func(c *Config) *time.Duration { return &c.BreakerCooldown })},
	{"JWT_SECRET", "", "HS256 secret shared with the Toutiao backend; required unless embedded", str(func(c *Config) *string { return &c.JWTSecret })},
	{"JWT_SECRET_PREVIOUS", "", "the previous secret, also accepted while a rotation is under way", str(func(c *Config) *string { return &c.JWTSecretPrevious })},
	{"JWT_LEEWAY", "5s", "clock skew allowed when checking exp, nbf and iat", duration(func(c *Config) *time.Duration { return &c.JWTLeeway })},
	{"CACHE_TTL", durationDefault(rediscache.DefaultTTLs.Profile), "profile cache TTL, base", duration(func(c *Config) *time.Duration { return &c.CacheTTL })},
	{"CACHE_TTL_JITTER", durationDefault(rediscache.DefaultTTLs.ProfileJitter), "profile cache TTL, random extra [0, this)", duration(func(c *Config) *time.Duration { return &c.CacheTTLJitter })},
	{"CACHE_MISSING_TTL", durationDefault(rediscache.DefaultTTLs.Missing), "TTL of the -1 entry for an id with no user, base", duration(func(c *Config) *time.Duration { return &c.CacheMissingTTL })},
	{"CACHE_MISSING_TTL_JITTER", durationDefault(rediscache.DefaultTTLs.MissingJitter), "TTL of the -1 entry, random extra [0, this)", duration(func(c *Config) *time.Duration { return &c.CacheMissingJitter })},
	{"CACHE_STATUS_TTL", durationDefault(rediscache.DefaultTTLs.Status), "TTL of user:<id>:status entries, base", duration(func(c *Config) *time.Duration { return &c.CacheStatusTTL })},
	{"CACHE_STATUS_TTL_JITTER", durationDefault(rediscache.DefaultTTLs.StatusJitter), "TTL of status entries, random extra [0, this)", duration(func(c *Config) *time.Duration { return &c.CacheStatusJitter })},
	{"LOADER_WAIT", durationDefault(dataloaders.DefaultOptions.Wait), "batch window of lookups the query plan did not foresee (planned ones do not wait)", duration(func(c *Config) *time.Duration { return &c.LoaderWait })},
	{"MAX_IDS", "100", "most ids one users(ids:) may ask for", integer(func(c *Config) *int { return &c.MaxIDs })},
	{"COMPLEXITY_LIMIT", "1000", "GraphQL complexity limit", integer(func(c *Config) *int { return &c.ComplexityLimit })},
	{"MAX_DEPTH", "15", "deepest field nesting of a GraphQL query (introspection counts; the full introspection query is 15)", integer(func(c *Config) *int { return &c.MaxDepth })},
	{"MAX_ALIASES", "100", "most aliased fields in a GraphQL query, counted through fragments", integer(func(c *Config) *int { return &c.MaxAliases })},
	{"MAX_FIELDS", "1000", "most fields a GraphQL query selects, counted through fragments (the full introspection query selects 226)", integer(func(c *Config) *int { return &c.MaxFields })},
	{"MAX_TOKENS", "2000", "most lexical tokens in a GraphQL document, refused while parsing (bounds validation cost)", integer(func(c *Config) *int { return &c.MaxTokens })},
	{"QUERY_CACHE_SIZE", "1000", "parsed GraphQL documents kept (LRU)", integer(func(c *Config) *int { return &c.QueryCacheSize })},
	{"QUERY_CACHE_BYTES", "33554432", "heap the parsed GraphQL documents kept may cost (query text and AST), least recently used dropped first; a document over 1/64 of it is parsed for each request and not kept", integer(func(c *Config) *int { return &c.QueryCacheBytes })},
	{"APQ", "true", "automatic persisted queries (Apollo APQ): a client may send a query's SHA-256 instead of its text", boolean(func(c *Config) *bool { return &c.APQ })},
	{"APQ_TTL", durationDefault(persisted.DefaultOptions.TTL), "how long a persisted query stays in Redis after it was registered (reads do not extend it)", duration(func(c *Config) *time.Duration { return &c.APQTTL })},
	{"APQ_CACHE_SIZE", strconv.Itoa(persisted.DefaultOptions.LRUSize), "persisted queries each process keeps in memory (LRU) in front of Redis", integer(func(c *Config) *int { return &c.APQCacheSize })},
	{"APQ_MAX_QUERY_BYTES", "32768", "the longest query APQ stores; a longer one runs but is not kept, so its client sends it in full each time (bounds what one registration makes Redis and each process's LRU hold)", integer(func(c *Config) *int { return &c.APQMaxBytes })},
	{"APQ_CACHE_BYTES", strconv.Itoa(persisted.DefaultOptions.LRUBytes), "bytes of persisted queries (text and hash) each process keeps in memory in front of Redis; with APQ_CACHE_SIZE, whichever is reached first evicts", integer(func(c *Config) *int { return &c.APQCacheBytes })},
	{"APQ_REGISTRATION_BYTES", strconv.Itoa(persisted.DefaultOptions.Limits.Bytes), "bytes of newly registered queries (each charged its key, its text and 128 bytes of Redis overhead) one process writes to Redis within any APQ_TTL; past it a registration runs but is stored nowhere, so Redis holds at most instances × this of persisted queries (a restarted process starts afresh)", integer(func(c *Config) *int { return &c.APQRegistrationBytes })},
	{"APQ_CLIENT_REGISTRATIONS", strconv.Itoa(persisted.DefaultOptions.Limits.PerClient), "new persisted queries one client address (an IPv6 /64) may register per hour, per process: a burst of this many, then one every hour/this; past it a registration runs but is stored nowhere", integer(func(c *Config) *int { return &c.APQClientRegistrations })},
	{"CLIENT_IP_HEADER", "", "request header a proxy you run sets to the client's address (X-Real-IP, or X-Forwarded-For, of which the last address is taken); empty: the TCP peer; only per-client budgets use it", str(func(c *Config) *string { return &c.ClientIPHeader })},
	{"PLAYGROUND_ASSETS_DIR", "", "a node_modules folder with graphiql@4.1.2, react@18.2.0 and react-dom@18.2.0: the server serves the Playground's scripts from it, for machines that cannot reach the CDN", str(func(c *Config) *string { return &c.PlaygroundAssetsDir })},
	{"PLAYGROUND_AUTHORIZATION", "", "Authorization header the Playground starts with; in the embedded mode a token for user 1 when empty", str(func(c *Config) *string { return &c.PlaygroundAuth })},
	{"CORS_ALLOWED_ORIGINS", "", "comma-separated origins browser frontends may call the API from (https://app.example.com, https://*.example.com); empty: any", str(func(c *Config) *string { return &c.CORSAllowedOrigins })},
	{"INTROSPECTION", "true", "serve GraphQL introspection (the Playground needs it)", boolean(func(c *Config) *bool { return &c.Introspection })},
	{"METRICS", "true", "count and serve Prometheus metrics at GET /metrics", boolean(func(c *Config) *bool { return &c.Metrics })},
	{"MAX_BODY_BYTES", "1048576", "request body limit in bytes", func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("want a positive number of bytes, got %q", v)
		}
		c.MaxBodyBytes = n
		return nil
	}},
	{"REQUEST_BYTES_IN_FLIGHT", "16777216", "bytes of GraphQL requests (POST bodies, GET query strings) held in memory at once, each charged its size plus 64 per JSON value it could decode into; a request over it waits its turn, up to HTTP_READ_TIMEOUT, then gets 503 SERVICE_UNAVAILABLE with Retry-After; 0: no bound", integer(func(c *Config) *int { return &c.InFlightBytes })},
	{"HTTP_READ_HEADER_TIMEOUT", "5s", "time to read a request's headers", duration(func(c *Config) *time.Duration { return &c.ReadHeaderTimeout })},
	{"HTTP_READ_TIMEOUT", "10s", "time to read a whole request", duration(func(c *Config) *time.Duration { return &c.ReadTimeout })},
	{"HTTP_WRITE_TIMEOUT", "15s", "time to write a response", duration(func(c *Config) *time.Duration { return &c.WriteTimeout })},
	{"HTTP_IDLE_TIMEOUT", "120s", "keep-alive idle time", duration(func(c *Config) *time.Duration { return &c.IdleTimeout })},
	{"SHUTDOWN_TIMEOUT", "15s", "grace for in-flight requests on SIGTERM", duration(func(c *Config) *time.Duration { return &c.ShutdownTimeout })},
	{"LOG_LEVEL", "info", "debug, info, warn or error", oneOf(func(c *Config) *string { return &c.LogLevel }, "debug", "info", "warn", "error")},
	{"GOGC", "400", "garbage collector target, as the Go runtime reads it (a percentage, or off); headline's default is 400, not the runtime's 100: its live heap is small and its garbage per request large, so collecting a quarter as often cuts CPU per feed request by about a fifth; cap memory with GOMEMLIMIT", gcPercent},
	{"LOG_FORMAT", "text", "text or json", oneOf(func(c *Config) *string { return &c.LogFormat }, "text", "json")},
	{"LOG_REQUESTS", "true", "log one line per request: id, method, path, status, duration, GraphQL operation, cache hits and misses, SQL rows", boolean(func(c *Config) *bool { return &c.LogRequests })},
	{"EMBEDDED_DEMO_USERS", "300", "demo users loaded in the embedded mode", integer(func(c *Config) *int { return &c.EmbeddedDemoUsers })},
	{"OTEL_EXPORTER_OTLP_ENDPOINT", "", "OpenTelemetry collector base URL (http://host:4318, or :4317 for grpc); empty with OTEL_EXPORTER_OTLP_TRACES_ENDPOINT empty: no tracing", str(func(c *Config) *string { return &c.OTLPEndpoint })},
	{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "", "full URL traces are sent to, over OTEL_EXPORTER_OTLP_ENDPOINT (http/protobuf: with its path, e.g. /v1/traces)", str(func(c *Config) *string { return &c.OTLPTracesEndpoint })},
	{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", "OTLP protocol: http/protobuf or grpc", oneOf(func(c *Config) *string { return &c.OTLPProtocol }, otlpProtocols...)},
	{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "", "OTLP protocol for traces, over OTEL_EXPORTER_OTLP_PROTOCOL", func(c *Config, v string) error {
		if v == "" {
			c.OTLPTracesProtocol = ""
			return nil
		}
		return oneOf(func(c *Config) *string { return &c.OTLPTracesProtocol }, otlpProtocols...)(c, v)
	}},
	{"OTEL_SERVICE_NAME", "headline", "service.name the traces carry", str(func(c *Config) *string { return &c.ServiceName })},
}

// flagName is the flag that mirrors an environment variable.
func flagName(env string) string {
	return strings.ReplaceAll(strings.ToLower(env), "_", "-")
}

// parseConfig fills a Config from defaults, then getenv (an empty variable
// counts as unset), then flags in args.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (*Config, error) {
	c := &Config{}
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, s := range settings {
		v := s.def
		if e := getenv(s.env); e != "" {
			v = e
		}
		if err := s.set(c, v); err != nil {
			return nil, fmt.Errorf("%s: %w", s.env, err)
		}
		fs.Func(flagName(s.env), s.help, func(v string) error {
			return s.set(c, v)
		})
	}
	fs.BoolVar(&c.ShowVersion, "version", false, "print the build and exit")
	fs.Usage = func() { serverUsage(fs.Output()) }
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Errorf("unexpected arguments %q (server -h lists the commands)", fs.Args())}
	}
	return c, nil
}

// embedded reports whether the server runs on its embedded engines.
func (c *Config) embedded() bool { return c.MySQLDSN == "" && c.redisTopologies() == 0 }

// redisTopologies counts the Redis topologies configured; one is allowed.
func (c *Config) redisTopologies() int {
	n := 0
	for _, s := range []string{c.RedisURL, c.RedisSentinelAddrs, c.RedisClusterAddrs} {
		if s != "" {
			n++
		}
	}
	return n
}
