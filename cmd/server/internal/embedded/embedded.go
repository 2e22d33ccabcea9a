// Package embedded is what the embedded mode runs on in place of MySQL and
// Redis, besides SQLite: an in-process Redis whose clock keeps time, demo
// users, and a secret for the tokens nothing else issues.
package embedded

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/uptrace/bun"

	"github.com/headline/headline"
	"github.com/headline/headline/store/sqldb"
)

// StartRedis runs an in-process Redis (miniredis) and returns its address
// and how to stop it. miniredis only expires keys when its clock is moved,
// so a ticker moves it in step with the wall clock.
func StartRedis(ctx context.Context) (addr string, stop func(), err error) {
	mr, err := miniredis.Run()
	if err != nil {
		return "", nil, fmt.Errorf("start miniredis: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				mr.FastForward(time.Second)
			}
		}
	}()
	return mr.Addr(), func() { cancel(); mr.Close() }, nil
}

// RandomSecret makes a JWT secret for the embedded mode, where nothing else
// issues tokens.
func RandomSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// SeedUsers loads n demo users with ids 1..n: ASCII and Chinese names,
// some with no photo, intro or certificate, as real profiles are.
func SeedUsers(ctx context.Context, db bun.IDB, n int) error {
	const batch = 500
	users := make([]headline.User, 0, batch)
	for id := int64(1); id <= int64(n); id++ {
		u := headline.User{ID: id, Name: fmt.Sprintf("user%d", id)}
		if id%3 == 0 {
			u.Name = fmt.Sprintf("头条用户%d", id)
		}
		if id%2 == 1 {
			u.Photo = ptr(fmt.Sprintf("https://img.example.com/avatar/%d.png", id))
		}
		if id%4 != 0 {
			u.Intro = ptr(fmt.Sprintf("Hello, I am user %d.", id))
		}
		if id%10 == 0 {
			u.Certi = ptr("认证作者")
		}
		users = append(users, u)
		if len(users) == batch || id == int64(n) {
			if err := sqldb.InsertUsers(ctx, db, users...); err != nil {
				return err
			}
			users = users[:0]
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
