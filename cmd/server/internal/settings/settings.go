// Package settings reads a command's settings from environment variables
// and the flags that mirror them (HTTP_ADDR, -http-addr), and prints them as
// its help. The command keeps the list; this is the machinery.
package settings

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Setting is one row of a command's configuration C: its variable, its
// default, its help, and what fills C from a value. The README's table is
// the list of them.
type Setting[C any] struct {
	Env, Default, Help string
	Set                func(c *C, v string) error
}

// Parse fills c from each setting's default, then getenv (an empty variable
// counts as unset), then the flags in args, which it adds to fs. A value a
// setting refuses is an error naming its variable.
func Parse[C any](fs *flag.FlagSet, list []Setting[C], c *C, args []string, getenv func(string) string) error {
	for _, s := range list {
		v := s.Default
		if e := getenv(s.Env); e != "" {
			v = e
		}
		if err := s.Set(c, v); err != nil {
			return fmt.Errorf("%s: %w", s.Env, err)
		}
		fs.Func(FlagName(s.Env), s.Help, func(v string) error {
			return s.Set(c, v)
		})
	}
	return ParseFlags(fs, args)
}

// FlagName is the flag that mirrors an environment variable.
func FlagName(env string) string {
	return strings.ReplaceAll(strings.ToLower(env), "_", "-")
}

// String takes any value.
func String[C any](f func(*C) *string) func(*C, string) error {
	return func(c *C, v string) error { *f(c) = v; return nil }
}

// Int takes a whole number ≥ 0.
func Int[C any, N ~int | ~int64 | ~uint32](f func(*C) *N) func(*C, string) error {
	return func(c *C, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || int64(N(n)) != n {
			return fmt.Errorf("want a whole number ≥ 0, got %q", v)
		}
		*f(c) = N(n)
		return nil
	}
}

// Bytes takes a positive number of bytes.
func Bytes[C any](f func(*C) *int64) func(*C, string) error {
	return func(c *C, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("want a positive number of bytes, got %q", v)
		}
		*f(c) = n
		return nil
	}
}

// Duration takes a duration ≥ 0 as time.ParseDuration reads it.
func Duration[C any](f func(*C) *time.Duration) func(*C, string) error {
	return func(c *C, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("want a duration such as 250ms or 5m, got %q", v)
		}
		*f(c) = d
		return nil
	}
}

// OneOf refuses any value but those listed (in any case), so that a typo
// such as LOG_LEVEL=verbose stops the start rather than quietly meaning the
// default.
func OneOf[C any](f func(*C) *string, values ...string) func(*C, string) error {
	return func(c *C, v string) error {
		for _, want := range values {
			if strings.EqualFold(v, want) {
				*f(c) = want
				return nil
			}
		}
		return fmt.Errorf("want one of %s, got %q", strings.Join(values, ", "), v)
	}
}

// Optional takes "" as well, as unset, and any other value as set takes it.
func Optional[C any](f func(*C) *string, set func(*C, string) error) func(*C, string) error {
	return func(c *C, v string) error {
		if v == "" {
			*f(c) = ""
			return nil
		}
		return set(c, v)
	}
}

// Parsed takes what parse makes of a value: a file it reads, say.
func Parsed[C, T any](f func(*C) *T, parse func(string) (T, error)) func(*C, string) error {
	return func(c *C, v string) error {
		t, err := parse(v)
		if err != nil {
			return err
		}
		*f(c) = t
		return nil
	}
}

// Bool takes true or false, as strconv.ParseBool reads them.
func Bool[C any](f func(*C) *bool) func(*C, string) error {
	return func(c *C, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", v)
		}
		*f(c) = b
		return nil
	}
}

// FormatDuration writes a default duration as the settings table does: in the
// smallest unit in which it is a whole number no greater than 60 (60s, 30m,
// 24h), else in the largest in which it is whole (500us).
func FormatDuration(d time.Duration) string {
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
