package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every Linux
// architecture Go supports (sysconf(_SC_CLK_TCK) needs cgo to read).
const clockTicks = 100

// procStat is what bench reads from /proc/<pid>/stat.
type procStat struct {
	comm         string
	ppid         int
	utime, stime int64 // clock ticks
}

// parseProcStat reads one /proc/<pid>/stat line. The command name is in
// parentheses and may hold spaces and parentheses itself, so the fields are
// counted from the last ')'.
func parseProcStat(line string) (procStat, error) {
	open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return procStat{}, fmt.Errorf("proc stat: no command name in %q", line)
	}
	// After ")": state(3) ppid(4) … utime(14) stime(15): index 0 is state.
	f := strings.Fields(line[end+1:])
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("proc stat: %d fields after the name", len(f))
	}
	var s procStat
	var err error
	s.comm = line[open+1 : end]
	if s.ppid, err = strconv.Atoi(f[1]); err != nil {
		return procStat{}, fmt.Errorf("proc stat: ppid: %w", err)
	}
	if s.utime, err = strconv.ParseInt(f[11], 10, 64); err != nil {
		return procStat{}, fmt.Errorf("proc stat: utime: %w", err)
	}
	if s.stime, err = strconv.ParseInt(f[12], 10, 64); err != nil {
		return procStat{}, fmt.Errorf("proc stat: stime: %w", err)
	}
	return s, nil
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(string(b))
}

// cpuTicks is utime+stime of each pid that still exists.
func cpuTicks(pids []int) map[int]int64 {
	m := make(map[int]int64, len(pids))
	for _, p := range pids {
		if s, err := readProcStat(p); err == nil {
			m[p] = s.utime + s.stime
		}
	}
	return m
}

// tickDelta is the CPU the pids used between two cpuTicks snapshots; a pid
// that appeared in between counts from zero.
func tickDelta(before, after map[int]int64) int64 {
	var d int64
	for p, t := range after {
		d += t - before[p]
	}
	return d
}

// allPids lists the numeric entries of /proc.
func allPids() []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		if p, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

// withChildren returns pid and its direct children (a gunicorn master and
// its workers).
func withChildren(pid int) []int {
	out := []int{pid}
	for _, p := range allPids() {
		if s, err := readProcStat(p); err == nil && s.ppid == pid {
			out = append(out, p)
		}
	}
	return out
}

// parseCPULine reads the aggregate "cpu" line of /proc/stat and returns the
// busy ticks (everything but idle and iowait) and all ticks, summed over all
// CPUs.
func parseCPULine(data []byte) (busy, total int64, err error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 9 || f[0] != "cpu" {
			continue
		}
		// user nice system idle iowait irq softirq steal
		for i, v := range f[1:9] {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("/proc/stat: %w", err)
			}
			total += n
			if i != 3 && i != 4 {
				busy += n
			}
		}
		return busy, total, nil
	}
	return 0, 0, errors.New("/proc/stat: no cpu line")
}

func machineTicks() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	busy, total, _ = parseCPULine(b)
	return busy, total
}

func busyTicks() int64 {
	b, _ := machineTicks()
	return b
}

// parseProcNetTCP returns the socket inodes listening on port, and the
// number of sockets in TIME_WAIT, from /proc/net/tcp or tcp6 text.
func parseProcNetTCP(data []byte, port int) (listen []string, timeWait int) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		switch f[3] {
		case "06":
			timeWait++
		case "0A":
			i := strings.LastIndexByte(f[1], ':')
			if p, err := strconv.ParseUint(f[1][i+1:], 16, 32); err == nil && int(p) == port {
				listen = append(listen, f[9])
			}
		}
	}
	return listen, timeWait
}

// listenerPID finds the process that listens on a TCP port, through the
// socket inodes of /proc/net/tcp{,6} and /proc/<pid>/fd. 0 if none is found
// (or its fds cannot be read).
func listenerPID(port int) int {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		l, _ := parseProcNetTCP(b, port)
		for _, ino := range l {
			inodes["socket:["+ino+"]"] = true
		}
	}
	if len(inodes) == 0 {
		return 0
	}
	for _, p := range allPids() {
		fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", p))
		for _, fd := range fds {
			if l, err := os.Readlink(fd); err == nil && inodes[l] {
				return p
			}
		}
	}
	return 0
}

// timeWaitSockets counts TCP sockets in TIME_WAIT on the machine.
func timeWaitSockets() int {
	n := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if b, err := os.ReadFile(f); err == nil {
			_, tw := parseProcNetTCP(b, -1)
			n += tw
		}
	}
	return n
}

// testBinary matches what `pgrep -f '\.test( |$)'` matches: a running Go
// test binary (or a go command building one).
var testBinary = regexp.MustCompile(`\.test( |$)`)

// runningTests lists the command lines of running test binaries.
func runningTests() []string {
	self := os.Getpid()
	var out []string
	for _, p := range allPids() {
		if p == self {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		if err != nil || len(b) == 0 {
			continue
		}
		cmd := strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " ")
		if testBinary.MatchString(cmd) {
			out = append(out, fmt.Sprintf("%d %s", p, cmd))
		}
	}
	return out
}
