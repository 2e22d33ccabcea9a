package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/headline/headline"
	"github.com/headline/headline/store/rediscache"
)

const (
	benchDB     = "toutiao"
	jwtSecret   = "toutiao-bench-secret"
	unknownIDs  = 1000 // ids users+1 … users+1000 have no user
	readyWithin = 20 * time.Second
)

// flaskPackages are the Debian packages the Flask app needs (its README).
var flaskPackages = []string{"python3-flask", "python3-flask-sqlalchemy", "python3-redis", "python3-pymysql", "python3-jwt", "gunicorn"}

// repoRoot walks up from the working directory to headline's go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/headline/headline\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the headline repository (no go.mod of github.com/headline/headline above the working directory)")
		}
		dir = parent
	}
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// cmdOutput runs a command and returns its combined output, which it puts
// into the error when the command fails.
func cmdOutput(ctx context.Context, env []string, dir, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = env
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail(out, 2000))
	}
	return out, nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

// flaskDepsMissing reports what the Flask app lacks on this machine.
func flaskDepsMissing(ctx context.Context) bool {
	if _, err := os.Stat("/usr/bin/gunicorn"); err != nil {
		return true
	}
	_, err := cmdOutput(ctx, nil, "", "/usr/bin/python3", "-c", "import flask, flask_sqlalchemy, redis, pymysql, jwt")
	return err != nil
}

// aptInstall installs Debian packages (apt-get update first). It needs root.
func aptInstall(ctx context.Context, out io.Writer, pkgs ...string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("need the Debian packages %s; install them as root: apt-get update && apt-get install -y %s", strings.Join(pkgs, " "), strings.Join(pkgs, " "))
	}
	fmt.Fprintf(out, "installing %s with apt-get …\n", strings.Join(pkgs, " "))
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if _, err := cmdOutput(ctx, env, "", "apt-get", "update", "-q"); err != nil {
		return err
	}
	args := append([]string{"install", "-y", "-q", "--no-install-recommends"}, pkgs...)
	_, err := cmdOutput(ctx, env, "", "apt-get", args...)
	return err
}

// dsnWith returns the DSN with another database and extra settings.
func dsnWith(dsn, db string, multi bool) (string, *mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "", nil, fmt.Errorf("-mysql-dsn: %w", err)
	}
	cfg.DBName = db
	cfg.MultiStatements = multi
	return cfg.FormatDSN(), cfg, nil
}

// seed creates toutiao.user_basic and fills it with users 1…n, as the
// flask_seed's seed.sql does (MariaDB's SEQUENCE engine; about 2 s for 100k).
// With the Flask folder its schema.sql makes the table (and the toutiao
// account the Flask app logs in with); without it, `server migrate up`.
func seed(ctx context.Context, rootDSN, flaskDir, headlineBin, path string, n int) error {
	dsn, _, err := dsnWith(rootDSN, "", true)
	if err != nil {
		return err
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if flaskDir != "" {
		schema, err := os.ReadFile(filepath.Join(flaskDir, "schema.sql"))
		if err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, string(schema)); err != nil {
			return fmt.Errorf("schema.sql: %w", err)
		}
	} else {
		if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+benchDB+" DEFAULT CHARACTER SET utf8mb4"); err != nil {
			return err
		}
		appDSN, _, err := dsnWith(rootDSN, benchDB, false)
		if err != nil {
			return err
		}
		if _, err := cmdOutput(ctx, []string{"PATH=" + path, "MYSQL_DSN=" + appDSN}, "", headlineBin, "migrate", "up"); err != nil {
			return err
		}
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, q := range []string{
		"USE " + benchDB, // seq_1_to_N lives in the current database
		"SET SESSION unique_checks = 0",
		"TRUNCATE TABLE " + benchDB + ".user_basic",
		// The rows of flask_seed/seed.sql, for ids 1…n.
		"INSERT INTO " + benchDB + ".user_basic (user_id, mobile, user_name, profile_photo, introduction, certificate, status) " +
			"SELECT seq, CONCAT('138', LPAD(seq, 8, '0')), CONCAT('user_', seq), " +
			"CONCAT('avatar/', LPAD(HEX(seq * 2654435761 % 4294967296), 8, '0'), '.png'), " +
			"CONCAT('Hello, I am user ', seq, '.'), IF(seq % 10 = 0, CONCAT('certified author #', seq), NULL), 1 " +
			"FROM seq_1_to_" + strconv.Itoa(n),
		"ANALYZE TABLE " + benchDB + ".user_basic",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("seed: %s: %w", q[:min(len(q), 40)], err)
		}
	}
	var count int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+benchDB+".user_basic").Scan(&count); err != nil {
		return err
	}
	if count != n {
		return fmt.Errorf("seed: %d users in user_basic, want %d", count, n)
	}
	return nil
}

// warmAll writes every user's profile into Redis, as the Flask app's save()
// and flask_seed's warm_cache.py do: same key, JSON and TTL policy, which
// are headline's (store/rediscache) too.
func warmAll(ctx context.Context, db *sql.DB, rdb *redis.Client) (int, error) {
	rows, err := db.QueryContext(ctx, "SELECT user_id, user_name, profile_photo, introduction, certificate FROM "+benchDB+".user_basic")
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	pipe := rdb.Pipeline()
	n := 0
	for rows.Next() {
		var u headline.User
		if err := rows.Scan(&u.ID, &u.Name, &u.Photo, &u.Intro, &u.Certi); err != nil {
			return n, err
		}
		pipe.Set(ctx, rediscache.ProfileKey(u.ID), rediscache.EncodeProfile(&u), rediscache.DefaultTTLs.DrawProfile())
		n++
		if n%5000 == 0 {
			if _, err := pipe.Exec(ctx); err != nil {
				return n, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	_, err = pipe.Exec(ctx)
	return n, err
}

// fillMissing writes the "-1" entries of ids from…to, as the Flask app does
// for an id with no user.
func fillMissing(ctx context.Context, rdb *redis.Client, from, to int) error {
	pipe := rdb.Pipeline()
	for id := from; id <= to; id++ {
		pipe.Set(ctx, rediscache.ProfileKey(int64(id)), rediscache.MissingValue, rediscache.DefaultTTLs.DrawMissing())
	}
	_, err := pipe.Exec(ctx)
	return err
}

// mintToken makes the access token the Toutiao backend would issue to user.
func mintToken(user int64) (string, error) {
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"user_id": user, "refresh": false, "exp": time.Now().Add(2 * time.Hour).Unix(),
	}).SignedString([]byte(jwtSecret))
}

// process is a server bench started; stop ends it.
type process struct {
	name string
	base string       // http://127.0.0.1:port
	pids func() []int // the processes whose CPU counts as the server's
	stop func()
	log  func() string
	// logPath is headline's log (LOG_LEVEL=warn: every line is a warning
	// or an error); empty for Flask.
	logPath string
}

// buildHeadline builds cmd/server into dir.
func buildHeadline(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "headline")
	_, err := cmdOutput(ctx, nil, root, "go", "build", "-o", bin, "./cmd/server")
	return bin, err
}

// startHeadline runs the built server on a free port against the real
// MySQL and Redis, production settings but for the log level and extraEnv.
func startHeadline(ctx context.Context, bin, dir, path, dsn, redisAddr string, extraEnv []string) (*process, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	appDSN, _, err := dsnWith(dsn, benchDB, false)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "headline.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{
		"PATH=" + path,
		"HTTP_ADDR=127.0.0.1:" + strconv.Itoa(port),
		"MYSQL_DSN=" + appDSN,
		"REDIS_URL=redis://" + redisAddr + "/0",
		"JWT_SECRET=" + jwtSecret,
		"LOG_LEVEL=warn",
	}
	cmd.Env = append(cmd.Env, extraEnv...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	p := &process{
		name:    "headline",
		logPath: logPath,
		base:    "http://127.0.0.1:" + strconv.Itoa(port),
		pids:    func() []int { return []int{cmd.Process.Pid} },
		log: func() string {
			b, _ := os.ReadFile(logPath)
			return tail(b, 3000)
		},
	}
	p.stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	if err := waitHTTP(ctx, p.base+"/readyz", done); err != nil {
		p.stop()
		return nil, fmt.Errorf("headline did not become ready: %w\n%s", err, p.log())
	}
	return p, nil
}

// waitHTTP polls url until it answers 200.
func waitHTTP(ctx context.Context, url string, exited <-chan struct{}) error {
	deadline := time.Now().Add(readyWithin)
	var last error
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s: %s", url, resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return errors.New("the process exited")
		case <-time.After(100 * time.Millisecond):
		}
	}
	return last
}

// startFlask starts the Flask app with the flask_seed's start_flask.sh
// (gunicorn, 4 sync workers) on a free port, on the same MySQL and Redis.
func startFlask(ctx context.Context, flaskDir, runDir string, dsnCfg *mysql.Config, redisAddr string) (*process, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	rhost, rport, err := net.SplitHostPort(redisAddr)
	if err != nil {
		return nil, fmt.Errorf("-redis-addr: %w", err)
	}
	env := append(os.Environ(),
		"RUN_DIR="+runDir,
		"MYSQL_URL=mysql+pymysql://toutiao:toutiao@"+dsnCfg.Addr+"/"+benchDB+"?charset=utf8mb4",
		"REDIS_HOST="+rhost, "REDIS_PORT="+rport,
		"JWT_SECRET="+jwtSecret,
	)
	ps := strconv.Itoa(port)
	pidFile := filepath.Join(runDir, "gunicorn-"+ps+".pid")
	logPath := filepath.Join(runDir, "gunicorn-"+ps+".log")
	p := &process{
		name: "Flask",
		base: "http://127.0.0.1:" + ps,
		log: func() string {
			b, _ := os.ReadFile(logPath)
			return tail(b, 3000)
		},
		stop: func() {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, _ = cmdOutput(sctx, env, flaskDir, filepath.Join(flaskDir, "stop_flask.sh"), ps)
		},
	}
	if _, err := cmdOutput(ctx, env, flaskDir, filepath.Join(flaskDir, "start_flask.sh"), ps); err != nil {
		p.stop()
		return nil, fmt.Errorf("%w\n%s", err, p.log())
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("gunicorn pid file: %w", err)
	}
	master, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("gunicorn pid file: %w", err)
	}
	p.pids = func() []int { return withChildren(master) }
	if err := waitHTTP(ctx, p.base+"/v1_0/users/1", nil); err != nil {
		p.stop()
		return nil, fmt.Errorf("the Flask app did not answer: %w\n%s", err, p.log())
	}
	return p, nil
}
