// ps-gowork - the Go program of the supervisor's tests (tests/integration/90-supervised.bats): reads a file
// another program partly changed, writes single bytes into a large file from eight goroutines at once, appends,
// creates, renames, removes, makes a directory, and lists the tree with a checksum of every file. Run on a
// read-only tree under pageshadow-run and on a writable copy, its output must be the same.
// "ps-gowork extra FILE COMMAND..." runs COMMAND with FILE (opened for reading and writing) as its descriptor 3
// (os/exec's ExtraFiles: the child copies it there before its exec).
package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "ps-gowork:", err)
		os.Exit(1)
	}
}

func sum(path string) string {
	f, err := os.Open(path)
	check(err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	check(err)
	return fmt.Sprintf("%x", h.Sum(nil))
}

func extra(path string, command []string) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	check(err)
	cmd := exec.Command(command[0], command[1:]...)
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	check(cmd.Run())
}

func main() {
	if os.Args[1] == "extra" {
		extra(os.Args[2], os.Args[3:])
		return
	}
	dir := os.Args[1]
	b, err := os.ReadFile(filepath.Join(dir, "partial"))
	check(err)
	fmt.Printf("partial %d %x\n", len(b), sha256.Sum256(b))

	big, err := os.OpenFile(filepath.Join(dir, "big"), os.O_RDWR, 0)
	check(err)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 64; i++ {
				off := int64((g*64+i)*131072 + g*7 + 1)
				_, err := big.WriteAt([]byte{byte('A' + g)}, off)
				check(err)
			}
		}(g)
	}
	wg.Wait()
	check(big.Close())

	log, err := os.OpenFile(filepath.Join(dir, "log"), os.O_APPEND|os.O_WRONLY, 0)
	check(err)
	_, err = log.WriteString("appended by go\n")
	check(err)
	check(log.Close())

	check(os.WriteFile(filepath.Join(dir, "created"), []byte("made by go\n"), 0644))
	check(os.Mkdir(filepath.Join(dir, "newdir"), 0755))
	check(os.WriteFile(filepath.Join(dir, "newdir", "inner"), []byte("inner\n"), 0600))
	check(os.Rename(filepath.Join(dir, "created"), filepath.Join(dir, "newdir", "moved")))
	check(os.Remove(filepath.Join(dir, "gone")))

	check(filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		check(err)
		rel, _ := filepath.Rel(dir, p)
		if info.Mode().IsRegular() {
			fmt.Printf("%s %v %d %s\n", rel, info.Mode(), info.Size(), sum(p))
		} else {
			fmt.Printf("%s %v\n", rel, info.Mode())
		}
		return nil
	}))
}
