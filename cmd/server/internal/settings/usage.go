package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// usageError is a command line run cannot act on: an unknown flag, a
// missing or unknown migrate command. main exits with status 2 for it, as
// the flag package does, rather than 1 for a failure of the work itself.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitCode is the process's exit status for what run returned.
func exitCode(err error) int {
	switch _, usage := errors.AsType[usageError](err); {
	case err == nil:
		return 0
	case usage:
		return 2
	default:
		return 1
	}
}

// parseFlags parses args with fs, whose usage has been printed on a
// malformed command line, and tells that apart from a failure.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return usageError{err}
	}
	return err
}

// helpWidth is the widest line of the help text, so that it reads in an
// 80-column terminal.
const helpWidth = 80

// serverUsage prints `server -h`: the commands, then every setting.
func serverUsage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  server                  serve GraphQL; with neither MYSQL_DSN nor a Redis set,
                          on embedded engines with demo users
  server migrate COMMAND  change the MySQL schema (up, down, status), then exit;
                          server migrate -h says more
  server -version         print the build's version and VCS revision, then exit

`)
	printWrapped(w, "", "Each setting is an environment variable; the flag of the same name in lower "+
		"case with dashes overrides it. An empty variable counts as unset.")
	fmt.Fprintln(w)
	for _, s := range settings {
		printFlag(w, flagName(s.env), s.env, s.help+". Default: "+quoteDefault(s.def)+".")
	}
	printFlag(w, "version", "", "print the module version and VCS revision, time and modified state of this build, and exit.")
}

// printFlag prints one flag: its name and variable on a line, then its
// help, indented and wrapped.
func printFlag(w io.Writer, name, env, help string) {
	if env != "" {
		fmt.Fprintf(w, "  -%s (%s)\n", name, env)
	} else {
		fmt.Fprintf(w, "  -%s\n", name)
	}
	printWrapped(w, "      ", help)
}

// printWrapped prints text in lines no wider than helpWidth, each after
// indent, breaking at spaces; a word longer than a line gets one of its own.
func printWrapped(w io.Writer, indent, text string) {
	line := indent
	for _, word := range strings.Fields(text) {
		if line != indent && utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) > helpWidth {
			fmt.Fprintln(w, line)
			line = indent
		}
		if line != indent {
			line += " "
		}
		line += word
	}
	if line != indent {
		fmt.Fprintln(w, line)
	}
}

func quoteDefault(d string) string {
	if d == "" {
		return "none"
	}
	return d
}
