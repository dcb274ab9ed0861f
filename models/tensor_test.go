package models

import (
	"math"
	"testing"
)

func TestHalfConversions(t *testing.T) {
	cases := []struct {
		f    float32
		half uint16
		bf16 uint16
	}{
		{0, 0x0000, 0x0000},
		{1, 0x3c00, 0x3f80},
		{-2, 0xc000, 0xc000},
		{65504, 0x7bff, 0x4780},
		{1e-7, 0x0002, 0x33d7},                 // half subnormal
		{float32(math.Inf(1)), 0x7c00, 0x7f80}, // infinity
		{1.0009765625, 0x3c01, 0x3f80},         // exact in half, rounds in bf16
		{1 + 1.0/4096, 0x3c00, 0x3f80},         // halfway in half: ties to even
		{70000, 0x7c00, 0x4789},                // overflows half
		{3.14159265, 0x4248, 0x4049},
	}
	for _, c := range cases {
		if got := Float32ToHalf(c.f); got != c.half {
			t.Errorf("Float32ToHalf(%g) = %#04x, want %#04x", c.f, got, c.half)
		}
		if got := Float32ToBF16(c.f); got != c.bf16 {
			t.Errorf("Float32ToBF16(%g) = %#04x, want %#04x", c.f, got, c.bf16)
		}
	}
	// Every finite half value survives half → float32 → half.
	for h := uint32(0); h < 0x10000; h++ {
		if h&0x7c00 == 0x7c00 {
			continue
		}
		if back := Float32ToHalf(HalfToFloat32(uint16(h))); back != uint16(h) {
			t.Fatalf("half %#04x → %g → %#04x", h, HalfToFloat32(uint16(h)), back)
		}
	}
}
