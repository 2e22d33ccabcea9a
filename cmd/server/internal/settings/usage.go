package settings

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// UsageError is a command line a command cannot act on: an unknown flag, a
// missing or unknown migrate command. main exits with status 2 for it, as
// the flag package does, rather than 1 for a failure of the work itself.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// ExitCode is the process's exit status for what a command returned.
func ExitCode(err error) int {
	switch _, usage := errors.AsType[UsageError](err); {
	case err == nil:
		return 0
	case usage:
		return 2
	default:
		return 1
	}
}

// ParseFlags parses args with fs, whose usage has been printed on a
// malformed command line, and tells that apart from a failure.
func ParseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return UsageError{err}
	}
	return err
}

// HelpWidth is the widest line of the help text, so that it reads in an
// 80-column terminal.
const HelpWidth = 80

// PrintSettings prints list as `-h` does: how settings are given, then
// each setting's flag, variable, help and default.
func PrintSettings[C any](w io.Writer, list []Setting[C]) {
	PrintWrapped(w, "", "Each setting is an environment variable; the flag of the same name in lower "+
		"case with dashes overrides it. An empty variable counts as unset.")
	fmt.Fprintln(w)
	for _, s := range list {
		PrintFlag(w, FlagName(s.Env), s.Env, s.Help+". Default: "+quoteDefault(s.Default)+".")
	}
}

// PrintFlag prints one flag: its name and variable on a line, then its
// help, indented and wrapped.
func PrintFlag(w io.Writer, name, env, help string) {
	if env != "" {
		fmt.Fprintf(w, "  -%s (%s)\n", name, env)
	} else {
		fmt.Fprintf(w, "  -%s\n", name)
	}
	PrintWrapped(w, "      ", help)
}

// PrintWrapped prints text in lines no wider than HelpWidth, each after
// indent, breaking at spaces; a word longer than a line gets one of its own.
func PrintWrapped(w io.Writer, indent, text string) {
	line := indent
	for _, word := range strings.Fields(text) {
		if line != indent && utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) > HelpWidth {
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
