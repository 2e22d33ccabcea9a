package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/headline/headline/store/storetest"
)

// goTool is the go command of the toolchain that runs the tests.
func goTool() string {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	return goBin
}

// buildServer builds the server binary into dir, with go build's flags.
func buildServer(t *testing.T, dir string, flags ...string) string {
	t.Helper()
	bin := filepath.Join(dir, "server")
	start := time.Now()
	out, err := exec.Command(goTool(), append(append([]string{"build"}, flags...), "-o", bin, ".")...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", strings.Join(flags, " "), err, out)
	}
	t.Logf("built the server in %v", time.Since(start).Round(time.Millisecond))
	return bin
}

// process is the server binary running.
type process struct {
	cmd    *exec.Cmd
	out    *syncBuffer // stdout and stderr
	exited chan struct{}
}

// startProcess runs bin with args and the settings env (and nothing else of
// the test's environment but PATH and HOME; the local tier off unless env
// names LOCAL_CACHE_SIZE, see localTierOff). When the test ends, the
// process is sent SIGTERM, killed if it still runs 10s later, and its last
// lines of output are logged if the test failed.
func startProcess(t *testing.T, bin string, env map[string]string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), out: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	if _, ok := env["LOCAL_CACHE_SIZE"]; !ok {
		p.cmd.Env = append(p.cmd.Env, "LOCAL_CACHE_SIZE="+localTierOff("LOCAL_CACHE_SIZE"))
	}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("server output, last lines:\n%s", lastLines(p.out.String(), 30))
		}
	})
	return p
}

// signal sends sig and returns whether the process exited within d.
func (p *process) signal(t *testing.T, sig os.Signal, d time.Duration) bool {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal: %v", err)
	}
	select {
	case <-p.exited:
		return true
	case <-time.After(d):
		return false
	}
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// listening waits up to 15s for the process to listen, and returns its
// address; it fails the test if the process exits first.
func (p *process) listening(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if m := listeningRE.FindStringSubmatch(p.out.String()); m != nil {
			return m[1]
		}
		select {
		case <-p.exited:
			t.Fatalf("the server exited before listening:\n%s", p.out)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server does not listen after 15s:\n%s", p.out)
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// syncBuffer is a log sink the server and the test share.
type syncBuffer = storetest.SyncBuffer
