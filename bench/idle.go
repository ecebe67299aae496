// The idle-memory workload of bench/scale.c, with goroutines: n goroutines
// parked in a sleep.  Prints resident bytes and page-table bytes per
// goroutine, measured the same way (VmRSS and VmPTE).
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

func statusKB(key string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(line, key+":") {
			fields := strings.Fields(line[len(key)+1:])
			v, _ := strconv.ParseInt(fields[0], 10, 64)
			return v
		}
	}
	return -1
}

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	runtime.GC()
	rss0, pte0 := statusKB("VmRSS"), statusKB("VmPTE")
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			wg.Done()
			time.Sleep(time.Hour)
		}()
	}
	wg.Wait()
	runtime.Gosched()
	rss1, pte1 := statusKB("VmRSS"), statusKB("VmPTE")
	fmt.Printf("%.0f %.0f\n", float64(rss1-rss0)*1024/float64(n), float64(pte1-pte0)*1024/float64(n))
}
