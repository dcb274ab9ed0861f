package main

import (
	"testing"

	"github.com/spf13/pflag"
)

// resetFlags puts a subcommand's flags back to their defaults now and when
// the test ends: rootCmd is shared by the package's tests (and by the runs
// of -count N). A slice flag cannot be reset through Set (its DefValue "[]"
// parses as one element), so it is emptied with Replace.
func resetFlags(t *testing.T, name string) {
	t.Helper()
	cmd, _, err := rootCmd.Find([]string{name})
	if err != nil {
		t.Fatal(err)
	}
	reset := func() {
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if sv, ok := f.Value.(pflag.SliceValue); ok && f.DefValue == "[]" {
				sv.Replace(nil)
			} else {
				f.Value.Set(f.DefValue)
			}
			f.Changed = false
		})
	}
	reset()
	t.Cleanup(reset)
}
