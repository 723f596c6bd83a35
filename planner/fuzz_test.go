package planner

import (
	"errors"
	"testing"
	"time"
)

// FuzzPlan decodes arbitrary bytes into an Input and a Strategy and checks
// that Solve either returns a documented error or a plan with every
// property of checkPlan (and, for Optimal, the guarantee).
func FuzzPlan(f *testing.F) {
	f.Add([]byte{2, 10, 0, 0, 20, 5, 1, 0, 3, 7, 3, 9, 1, 4, 2})
	f.Add([]byte{5, 255, 255, 255, 0, 0, 0, 1, 1, 1, 200, 9, 9, 9, 30, 31, 17, 3, 3})
	f.Add([]byte{1, 0, 0, 0, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return b
		}
		k := 1 + int(next()%6)
		var in Input
		for r := range k {
			in.Sources = append(in.Sources, Source{
				Region:      string(rune('a' + r)),
				Bandwidth:   float64(next()) * 1000,
				RTT:         time.Duration(next()) * time.Millisecond,
				Queued:      int64(next()) * 997,
				CostPerByte: float64(next()%4) * 1e-9,
			})
		}
		mode := next()
		if mode&1 != 0 {
			in.IngressCap = float64(next()) * 2000
		}
		st := allStrategies[int(mode>>1)%len(allStrategies)]
		if st.Kind == OriginOnly {
			st.Origin = in.Sources[int(next())%k].Region
		}
		equal := mode&0x80 != 0
		for i := 0; len(data) > 0 && i < 64; i++ {
			size := int64(next())<<8 | int64(next())
			if equal {
				size = 4096
			}
			in.Chunks = append(in.Chunks, Chunk{Index: int(next()) - 128 + 256*i, Size: size, Holders: RegionSet(next()) & (1<<uint(k) - 1)})
		}
		pl, err := Solve(in, st)
		if err != nil {
			if !errors.Is(err, ErrBadInput) && !errors.Is(err, ErrNoHolder) {
				t.Fatalf("undocumented error %v", err)
			}
			return
		}
		checkPlan(t, in, pl, st.Kind == Optimal)
	})
}
