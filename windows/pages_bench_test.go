package windows

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkPageSpread is why the store counts pages, not only cache
// lines: dependent loads of 65,536 cache lines (4 MiB of data), laid out
// one line to a 4 KiB page (65,536 pages, 256 MiB apart), 64 lines to a
// page (1,024 pages) and packed (4 MiB in a row). On the development VM
// the first costs 300-450 ns a load, the second 35-130 and the packed
// layout 18: the lines are the same, and the difference is the TLB miss,
// whose page walk on a virtual machine crosses two levels of page tables.
// Transparent huge pages in the guest did not shorten it (the host maps
// the guest's memory in 4 KiB pages). docs/OPERATIONS.md §15.
func BenchmarkPageSpread(b *testing.B) {
	const lines, page, line = 1 << 16, 4096 / 8, 64 / 8 // in uint64s
	buf := make([]uint64, lines*page)
	for _, layout := range []struct {
		name string
		at   func(i int) int
	}{
		{"line-per-page", func(i int) int { return i * page }},
		{"64-lines-per-page", func(i int) int { return (i/64)*64*page + i%64*line }},
		{"packed", func(i int) int { return i * line }},
	} {
		b.Run(layout.name, func(b *testing.B) {
			perm := rand.New(rand.NewPCG(1, 2)).Perm(lines)
			for k := range perm { // one cycle through every line, in random order
				buf[layout.at(perm[k])] = uint64(layout.at(perm[(k+1)%lines]))
			}
			p := uint64(layout.at(perm[0]))
			b.ResetTimer()
			for range b.N {
				p = buf[p]
			}
			sinkWord = p
		})
	}
}

var sinkWord uint64
