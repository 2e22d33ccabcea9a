package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/headline/headline/cmd/server/internal/api"
	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/cmd/server/internal/settings"
	"github.com/headline/headline/store/localcache"
)

// TestFixedValueSettingsRefuseOthers: a setting with a fixed set of values
// takes exactly those (in any case) and stops the start on any other, rather
// than quietly meaning its default. The protocols are checked even with
// tracing off, so a typo does not wait for the day tracing is turned on.
func TestFixedValueSettingsRefuseOthers(t *testing.T) {
	get := map[string]func(*Config) string{
		"LOG_LEVEL":                          func(c *Config) string { return c.LogLevel },
		"LOG_FORMAT":                         func(c *Config) string { return c.LogFormat },
		"OTEL_EXPORTER_OTLP_PROTOCOL":        func(c *Config) string { return c.Tracing.Protocol },
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": func(c *Config) string { return c.Tracing.TracesProtocol },
	}
	for _, tc := range []struct {
		env, value string
		want       string // the value taken; "" for a refusal
	}{
		{"LOG_LEVEL", "debug", "debug"},
		{"LOG_LEVEL", "warn", "warn"},
		{"LOG_LEVEL", "ERROR", "error"},
		{"LOG_LEVEL", "verbose", ""},
		{"LOG_LEVEL", "warning", ""},
		{"LOG_LEVEL", "info+2", ""}, // slog would take it
		{"LOG_FORMAT", "json", "json"},
		{"LOG_FORMAT", "text", "text"},
		{"LOG_FORMAT", "yaml", ""},
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "grpc"},
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", "http/protobuf"},
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", ""},
		{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc", "grpc"},
		{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "udp", ""},
	} {
		t.Run(tc.env+"="+tc.value, func(t *testing.T) {
			cfg, err := parseConfig(nil, envOf(map[string]string{tc.env: tc.value}), io.Discard)
			switch {
			case tc.want == "" && err == nil:
				t.Fatalf("taken as %q, want a refusal", get[tc.env](cfg))
			case tc.want == "" && !strings.Contains(err.Error(), tc.env):
				t.Fatalf("refused with %q, which does not name %s", err, tc.env)
			case tc.want != "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && get[tc.env](cfg) != tc.want:
				t.Fatalf("taken as %q, want %q", get[tc.env](cfg), tc.want)
			}
			if tc.want != "" {
				return
			}
			// The same through the flag, and as the process sees it: run
			// fails before it starts anything.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = run(ctx, []string{"server", "-http-addr", "127.0.0.1:0", "-" + settings.FlagName(tc.env), tc.value}, envOf(nil), io.Discard)
			if flag := "-" + settings.FlagName(tc.env); err == nil || !strings.Contains(err.Error(), flag) {
				t.Errorf("run with %s %s: %v, want an error naming %s", flag, tc.value, err, flag)
			}
		})
	}
}

// TestShortJWTSecretIsWarnedOf: a JWT_SECRET under 32 bytes starts the
// server with a warning, and tokens signed with it are accepted (the Flask
// app's secret may be that short); a long enough one is not warned of.
func TestShortJWTSecretIsWarnedOf(t *testing.T) {
	const warning = `level=WARN msg="JWT_SECRET is shorter than 32 bytes`
	for _, tc := range []struct {
		secret string
		warned bool
	}{
		{"flask-dev-secret", true},
		{strings.Repeat("s", 31), true},
		{strings.Repeat("s", 32), false},
	} {
		t.Run(fmt.Sprintf("%d bytes", len(tc.secret)), func(t *testing.T) {
			addr, out, _ := startRun(t, map[string]string{"JWT_SECRET": tc.secret}, "embedded", "-embedded-demo-users", "1")
			if got := strings.Contains(out.String(), warning); got != tc.warned {
				t.Errorf("warned: %v, want %v; log:\n%s", got, tc.warned, out)
			}
			if tc.warned && !strings.Contains(out.String(), fmt.Sprintf("bytes=%d", len(tc.secret))) {
				t.Errorf("the warning does not say how long the secret is:\n%s", out)
			}
			tok, err := api.MintToken(tc.secret, 1, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/graphql", strings.NewReader(`{"query":"{ me { id } }"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tok)
			if _, got := servertest.Send(t, req); got != `{"data":{"me":{"id":"1"}}}` {
				t.Errorf("me with a token signed by the secret: %s", got)
			}
		})
	}
}

// TestLocalCacheSettings: the local tier's settings default to
// localcache's defaults; a size may be 0 (off) but not negative, an age
// must be positive.
func TestLocalCacheSettings(t *testing.T) {
	cfg, err := parseConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LocalCacheSize != localcache.DefaultMaxBytes || cfg.LocalCacheMaxAge != localcache.DefaultMaxAge {
		t.Errorf("defaults %d, %v; want %d, %v", cfg.LocalCacheSize, cfg.LocalCacheMaxAge, localcache.DefaultMaxBytes, localcache.DefaultMaxAge)
	}
	for _, tc := range []struct {
		env, value string
		ok         bool
	}{
		{"LOCAL_CACHE_SIZE", "0", true},
		{"LOCAL_CACHE_SIZE", "1048576", true},
		{"LOCAL_CACHE_SIZE", "-1", false},
		{"LOCAL_CACHE_SIZE", "64MiB", false},
		{"LOCAL_CACHE_MAX_AGE", "30s", true},
		{"LOCAL_CACHE_MAX_AGE", "0", false},
		{"LOCAL_CACHE_MAX_AGE", "-1m", false},
	} {
		_, err := parseConfig(nil, envOf(map[string]string{tc.env: tc.value}), io.Discard)
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), tc.env)) {
			t.Errorf("%s=%s: %v, want accepted %v", tc.env, tc.value, err, tc.ok)
		}
	}
}

// TestPersistedDocumentsStopABadStart: a PERSISTED_DOCUMENTS manifest that
// Apollo's tooling would not write, or PERSISTED_DOCUMENTS_ONLY without
// one, stops the start with an error saying which and why; a good manifest
// is loaded.
func TestPersistedDocumentsStopABadStart(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"format":"apollo-persisted-query-manifest","version":1,"operations":[{"id":"x","name":"Me","type":"query","body":"{ me { id } }"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	const good = "internal/api/testdata/trusted-documents/persisted-query-manifest.json"
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string // in the error; "" for a start
	}{
		{"a manifest", map[string]string{"PERSISTED_DOCUMENTS": good, "PERSISTED_DOCUMENTS_ONLY": "true"}, ""},
		{"a missing file", map[string]string{"PERSISTED_DOCUMENTS": filepath.Join(dir, "none.json")}, "PERSISTED_DOCUMENTS: open " + dir},
		{"an id that is not the body's SHA-256", map[string]string{"PERSISTED_DOCUMENTS": bad},
			"PERSISTED_DOCUMENTS: " + bad + `: operations[0] (Me): id "x" is not the SHA-256 of its body`},
		{"only, without a manifest", map[string]string{"PERSISTED_DOCUMENTS_ONLY": "true"}, "PERSISTED_DOCUMENTS_ONLY is true but PERSISTED_DOCUMENTS names no manifest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig(nil, envOf(tc.env), io.Discard)
			switch {
			case tc.want == "" && (err != nil || cfg.GraphQL.PersistedDocuments.Len() != 3 || !cfg.GraphQL.PersistedDocumentsOnly):
				t.Errorf("%v; want the manifest's 3 operations, only them", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}
