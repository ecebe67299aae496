// Go in the make bench workloads, run with GOMAXPROCS=1 so that
// goroutines share one OS thread as green threads do.
//
//	go-bench switch|spawn|chan0|chan64|io|idle N,  go-bench http PORT
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const response = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!"

func perOp(start time.Time, n int) float64 {
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

func benchSwitch(n int) float64 {
	var wg sync.WaitGroup
	wg.Add(2)
	start := time.Now()
	for k := 0; k < 2; k++ {
		go func() {
			for i := 0; i < n/2; i++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	return perOp(start, n)
}

func benchSpawn(n int) float64 {
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go wg.Done()
		wg.Wait()
	}
	return perOp(start, n)
}

func benchChan(n, capacity int) float64 {
	there, back := make(chan int, capacity), make(chan int, capacity)
	go func() {
		for i := 0; i < n/2; i++ {
			back <- <-there
		}
	}()
	start := time.Now()
	for i := 0; i < n/2; i++ {
		there <- i
		<-back
	}
	return perOp(start, n)
}

func fileConn(fd int) net.Conn {
	c, err := net.FileConn(os.NewFile(uintptr(fd), "socketpair"))
	if err != nil {
		panic(err)
	}
	return c
}

func benchIO(n int) float64 {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		panic(err)
	}
	a, b := fileConn(fds[0]), fileConn(fds[1])
	go func() {
		buf := make([]byte, 1)
		for i := 0; i < n; i++ {
			b.Read(buf)
			b.Write(buf)
		}
	}()
	buf := []byte{'x'}
	start := time.Now()
	for i := 0; i < n; i++ {
		a.Write(buf)
		a.Read(buf)
	}
	return perOp(start, n) / 1000
}

func memory() float64 {
	data, _ := os.ReadFile("/proc/self/status")
	kb := 0.0
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") || strings.HasPrefix(line, "VmPTE:") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[1], 64)
			kb += v
		}
	}
	return kb * 1024
}

func benchIdle(n int) float64 {
	runtime.GC()
	mem0 := memory()
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
	return (memory() - mem0) / float64(n)
}

func serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 4096)
	buf := make([]byte, 0, 4096)
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		buf = append(buf[:0], line...)
		if bytes.Equal(buf, []byte("\r\n")) {
			if _, err := c.Write([]byte(response)); err != nil {
				return
			}
		}
	}
}

func benchHTTP(port int) {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		panic(err)
	}
	fmt.Println("ready")
	for {
		c, err := l.Accept()
		if err == nil {
			go serve(c)
		}
	}
}

// skynet: a tree of n goroutines, fan-out 10, each leaf sending its
// number and each parent the sum of its children's; ms for the tree.
func skynet(c chan int, num, size int) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int)
	part := size / 10
	for i := 0; i < 10; i++ {
		go skynet(rc, num+i*part, part)
	}
	sum := 0
	for i := 0; i < 10; i++ {
		sum += <-rc
	}
	c <- sum
}

func benchSkynet(n int) float64 {
	c := make(chan int)
	t0 := time.Now()
	go skynet(c, 0, n)
	sum := <-c
	if sum != n*(n-1)/2 {
		fmt.Fprintln(os.Stderr, "skynet: wrong sum", sum)
		os.Exit(1)
	}
	return float64(time.Since(t0).Nanoseconds()) / 1e6
}

func main() {
	n, _ := strconv.Atoi(os.Args[2])
	var r float64
	switch os.Args[1] {
	case "switch":
		r = benchSwitch(n)
	case "spawn":
		r = benchSpawn(n)
	case "chan0":
		r = benchChan(n, 0)
	case "chan64":
		r = benchChan(n, 64)
	case "io":
		r = benchIO(n)
	case "idle":
		r = benchIdle(n)
	case "skynet":
		r = benchSkynet(n)
	case "http":
		benchHTTP(n)
	default:
		os.Exit(2)
	}
	fmt.Printf("%.3f\n", r)
}
