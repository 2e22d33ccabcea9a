package localcache

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"

	"github.com/redis/go-redis/v9"
)

// sentinelSource asks the sentinels, in turn, for the master's address.
type sentinelSource struct {
	name      string
	addrs     []string
	sentinels []*redis.SentinelClient
}

func newSentinelSource(o *redis.UniversalOptions) *sentinelSource {
	s := &sentinelSource{name: o.MasterName, addrs: o.Addrs}
	for _, addr := range o.Addrs {
		opt := nodeOptions(o, addr)
		opt.Username, opt.Password = o.SentinelUsername, o.SentinelPassword
		opt.CredentialsProvider, opt.CredentialsProviderContext, opt.StreamingCredentialsProvider = nil, nil, nil
		s.sentinels = append(s.sentinels, redis.NewSentinelClient(opt))
	}
	return s
}

func (s *sentinelSource) masters(ctx context.Context) ([]string, error) {
	var errs []error
	for i, c := range s.sentinels {
		addr, err := c.GetMasterAddrByName(ctx, s.name).Result()
		if err == nil && len(addr) == 2 {
			return []string{net.JoinHostPort(addr[0], addr[1])}, nil
		}
		errs = append(errs, fmt.Errorf("sentinel %s: %v %w", s.addrs[i], addr, err))
	}
	return nil, errors.Join(errs...)
}

func (s *sentinelSource) close() {
	for _, c := range s.sentinels {
		_ = c.Close()
	}
}

// clusterSource reads CLUSTER SLOTS from the first node that answers: the
// one that answered last, then the seeds and every node seen.
type clusterSource struct {
	opt     *redis.UniversalOptions
	order   []string // last good first
	clients map[string]*redis.Client
}

func newClusterSource(o *redis.UniversalOptions) *clusterSource {
	return &clusterSource{opt: o, order: slices.Clone(o.Addrs), clients: map[string]*redis.Client{}}
}

func (s *clusterSource) masters(ctx context.Context) ([]string, error) {
	var errs []error
	for i, addr := range s.order {
		c := s.clients[addr]
		if c == nil {
			c = redis.NewClient(nodeOptions(s.opt, addr))
			s.clients[addr] = c
		}
		slots, err := c.ClusterSlots(ctx).Result()
		if err != nil || len(slots) == 0 {
			errs = append(errs, fmt.Errorf("CLUSTER SLOTS from %s: %d slot ranges, %w", addr, len(slots), err))
			continue
		}
		host, _, _ := net.SplitHostPort(addr)
		var masters []string
		seen := []string{addr}
		for _, r := range slots {
			for j, n := range r.Nodes {
				a := n.Addr
				if h, p, err := net.SplitHostPort(a); err == nil && h == "" {
					// A node that does not know its own address.
					a = net.JoinHostPort(host, p)
				}
				if j == 0 && !slices.Contains(masters, a) {
					masters = append(masters, a)
				}
				if !slices.Contains(seen, a) {
					seen = append(seen, a)
				}
			}
		}
		s.learn(seen, s.order[i+1:])
		return masters, nil
	}
	return nil, errors.Join(errs...)
}

// learn orders the nodes to ask next time: the one that answered, the
// nodes it named, then the seeds; clients of nodes gone are closed.
func (s *clusterSource) learn(seen, rest []string) {
	order := seen
	for _, a := range append(slices.Clone(s.opt.Addrs), rest...) {
		if !slices.Contains(order, a) {
			order = append(order, a)
		}
	}
	for a, c := range s.clients {
		if !slices.Contains(order, a) {
			_ = c.Close()
			delete(s.clients, a)
		}
	}
	s.order = order
}

func (s *clusterSource) close() {
	for _, c := range s.clients {
		_ = c.Close()
	}
}
