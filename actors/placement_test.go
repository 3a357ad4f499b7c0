package actors

import (
	"fmt"
	"testing"
)

// Three nodes on one host, whose addresses differ in one character, own
// about a third of the products each; when one leaves, only its products
// move, and they spread over the other two.
func TestPlacementIsBalancedAndMovesOnlyTheLeaversProducts(t *testing.T) {
	nodes := []string{"127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103"}
	var p placement
	if got := p.owner(1); got != "" {
		t.Fatalf("owner with no members = %q, want none", got)
	}
	p.update(nodes)
	const products = 30_000
	before := map[int64]string{}
	count := map[string]int{}
	for id := int64(1); id <= products; id++ {
		o := p.owner(id)
		before[id] = o
		count[o]++
	}
	for _, n := range nodes {
		if share := float64(count[n]) / products; share < 0.30 || share > 0.37 {
			t.Errorf("node %s owns %.3f of the products, want about a third (%v)", n, share, count)
		}
	}

	p.update(nodes[:2])
	moved := map[string]int{}
	for id := int64(1); id <= products; id++ {
		o := p.owner(id)
		switch {
		case before[id] != nodes[2] && o != before[id]:
			t.Fatalf("product %d moved from %s, which stayed, to %s", id, before[id], o)
		case before[id] == nodes[2]:
			moved[o]++
		}
	}
	for _, n := range nodes[:2] {
		if share := float64(moved[n]) / float64(count[nodes[2]]); share < 0.45 || share > 0.55 {
			t.Errorf("%s took %.3f of the leaver's products, want about half (%v)", n, share, moved)
		}
	}
}

func BenchmarkPlacementOwner(b *testing.B) {
	var p placement
	p.update([]string{"10.0.0.1:7101", "10.0.0.2:7101", "10.0.0.3:7101", "10.0.0.4:7101", "10.0.0.5:7101"})
	b.ReportAllocs()
	for i := range b.N {
		if p.owner(int64(i)) == "" {
			b.Fatal(fmt.Sprint("no owner for ", i))
		}
	}
}
