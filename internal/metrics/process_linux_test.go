package metrics

import (
	"os"
	"testing"
)

// TestProcessStats reads this test's own process: ten more open files
// are ten more descriptors, and its memory and limit are there.
func TestProcessStats(t *testing.T) {
	before, ok := processStats()
	if !ok {
		t.Fatal("no /proc/self/stat")
	}
	var files []*os.File
	for range 10 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	after, _ := processStats()
	for _, f := range files {
		f.Close()
	}
	if after.openFDs-before.openFDs != 10 {
		t.Errorf("open descriptors %v, then %v with 10 files more; want 10 more", before.openFDs, after.openFDs)
	}
	if after.residentBytes < 1<<20 || after.virtualBytes < after.residentBytes || after.maxFDs < after.openFDs || after.cpuSeconds < 0 {
		t.Errorf("stats %+v: want a resident size of at least 1 MiB, under the virtual size, and a limit above the descriptors open", after)
	}
}
