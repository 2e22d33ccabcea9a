package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/headline/headline/cmd/server/internal/settings"
	"github.com/headline/headline/store/storetest"
)

// TestHelpFitsATerminal: `server -h` and `server migrate -h` exit 0, say
// what they must (every setting; the migrate commands and flags), and no
// line is wider than 80 columns.
func TestHelpFitsATerminal(t *testing.T) {
	var flags []string
	for _, s := range serverSettings {
		flags = append(flags, "-"+settings.FlagName(s.Env)+" ("+s.Env+")")
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"server", "-h"}, append(flags, "server migrate COMMAND", "-version")},
		{[]string{"server", "migrate", "-h"}, []string{"\n  up\n", "\n  down\n", "\n  status\n", "-mysql-dsn (MYSQL_DSN)", "-force"}},
		{[]string{"server", "migrate", "down", "-h"}, []string{"\n  up\n", "\n  down\n", "\n  status\n", "-force"}},
	} {
		t.Run(strings.Join(tc.args[1:], " "), func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tc.args, envOf(nil), &out)
			if code := settings.ExitCode(err); code != 0 {
				t.Errorf("exit status %d (%v), want 0", code, err)
			}
			help := out.String()
			for _, w := range tc.want {
				if !strings.Contains(help, w) {
					t.Errorf("the help lacks %q", w)
				}
			}
			widest := 0
			for i, l := range strings.Split(help, "\n") {
				n := utf8.RuneCountInString(l)
				widest = max(widest, n)
				if n > settings.HelpWidth || strings.Contains(l, "\t") {
					t.Errorf("line %d is %d columns (or has a tab), over %d:\n%s", i+1, n, settings.HelpWidth, l)
				}
			}
			t.Logf("%d lines, the widest %d columns", strings.Count(help, "\n"), widest)
		})
	}
}

// TestMigrateNeedsACommand: `server migrate` with no command (which once
// applied the migrations) or an unknown one prints the usage and is a usage
// error, exit status 2, without connecting to MySQL; so is an unknown flag.
// A setting the server refuses is a failure, status 1.
func TestMigrateNeedsACommand(t *testing.T) {
	mysql := storetest.StartUnanswering(t)
	env := envOf(map[string]string{"MYSQL_DSN": "root@tcp(" + mysql.Addr + ")/toutiao"})
	for _, tc := range []struct {
		args  []string
		code  int
		usage bool // the usage is printed
	}{
		{[]string{"server", "migrate"}, 2, true},
		{[]string{"server", "migrate", "-mysql-dsn", "root@tcp(" + mysql.Addr + ")/toutiao"}, 2, true},
		{[]string{"server", "migrate", "sideways"}, 2, false},
		{[]string{"server", "migrate", "up", "now"}, 2, false},
		{[]string{"server", "migrate", "status", "-no-such-flag"}, 2, true},
		{[]string{"server", "migrate", "up", "-force"}, 2, false},
		{[]string{"server", "-no-such-flag"}, 2, true},
		{[]string{"server", "extra", "arguments"}, 2, false},
	} {
		t.Run(strings.Join(tc.args[1:], " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var out bytes.Buffer
			err := run(ctx, tc.args, env, &out)
			if code := settings.ExitCode(err); code != tc.code {
				t.Errorf("exit status %d (%v), want %d", code, err, tc.code)
			}
			if got := strings.Contains(out.String(), "Usage:"); got != tc.usage {
				t.Errorf("usage printed: %v, want %v:\n%s", got, tc.usage, out.String())
			}
			if n := mysql.Accepted(); n > 0 {
				t.Errorf("MySQL got %d connections, want none", n)
			}
		})
	}
	err := run(context.Background(), []string{"server"}, envOf(map[string]string{"LOG_LEVEL": "verbose"}), &bytes.Buffer{})
	if code := settings.ExitCode(err); code != 1 {
		t.Errorf("LOG_LEVEL=verbose: exit status %d (%v), want 1", code, err)
	}
}
