package actors

import (
	"hash/fnv"
	"slices"
	"sync/atomic"
)

// placement names the owner of each product among the members by
// rendezvous (highest random weight) hashing: every member scores every
// product and the highest score owns it, so when a member leaves only its
// products move, and each member owns about as many as the others.
//
// The engine's own Rendezvous (the one disthash uses) hashes the identity
// and the member's address with one FNV-1a 32 over their concatenation;
// with addresses that differ in one character, as nodes on one host do,
// its scores are far from independent: one of three nodes on 127.0.0.1
// owned half of 10,000 products. It also allocates and takes a lock on
// every lookup. Ours mixes each score with a finalizer, allocates nothing
// and reads an immutable list.
type placement struct {
	members atomic.Pointer[[]placed] // sorted by address
}

type placed struct {
	addr string
	seed uint64 // the address hashed once
}

// update takes a new list of members' addresses.
func (p *placement) update(addrs []string) {
	ms := make([]placed, 0, len(addrs))
	for _, a := range addrs {
		h := fnv.New64a()
		h.Write([]byte(a))
		ms = append(ms, placed{addr: a, seed: h.Sum64()})
	}
	slices.SortFunc(ms, func(x, y placed) int {
		switch {
		case x.addr < y.addr:
			return -1
		case x.addr > y.addr:
			return 1
		}
		return 0
	})
	p.members.Store(&ms)
}

// owner is the member that owns a product, or empty when there is none.
func (p *placement) owner(productID int64) string {
	ms := p.members.Load()
	if ms == nil {
		return ""
	}
	best, owner := uint64(0), ""
	for _, m := range *ms {
		if s := score(m.seed, productID); owner == "" || s > best {
			best, owner = s, m.addr
		}
	}
	return owner
}

// score is a member's weight for a product: splitmix64's finalizer over
// the member's seed and the product's id, so that every bit of either
// moves every bit of the score.
func score(seed uint64, productID int64) uint64 {
	z := seed ^ uint64(productID)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
