package clitest

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// procStat holds the fields of /proc/<pid>/stat that process bookkeeping needs.
type procStat struct {
	pid, ppid, pgrp int
}

// parseProcStat parses the content of /proc/<pid>/stat. The command name is
// in parentheses and may itself hold spaces and parentheses, so the fields
// are read after the last ')'.
func parseProcStat(b []byte) (procStat, bool) {
	s := string(b)
	open := strings.IndexByte(s, '(')
	closing := strings.LastIndexByte(s, ')')
	if open < 1 || closing < open {
		return procStat{}, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
	if err != nil {
		return procStat{}, false
	}
	// After ")": state ppid pgrp ...
	f := strings.Fields(s[closing+1:])
	if len(f) < 3 {
		return procStat{}, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgrp, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		return procStat{}, false
	}
	return procStat{pid: pid, ppid: ppid, pgrp: pgrp}, true
}

// allProcs lists every process visible in /proc.
func allProcs() []procStat {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var ps []procStat
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // the process went away
		}
		if st, ok := parseProcStat(b); ok {
			ps = append(ps, st)
		}
	}
	return ps
}

// children returns the direct children of pid, read from
// /proc/<pid>/task/*/children, or from the parent field of every
// /proc/<n>/stat when the kernel does not provide that file.
func children(pid int) []int {
	files, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "children"))
	var kids []int
	supported := false
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		supported = true
		for _, field := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(field); err == nil {
				kids = append(kids, n)
			}
		}
	}
	if supported {
		return kids
	}
	for _, st := range allProcs() {
		if st.ppid == pid {
			kids = append(kids, st.pid)
		}
	}
	return kids
}

// descendants returns every descendant of pid, parents before their children.
func descendants(pid int) []int {
	var out []int
	seen := map[int]bool{pid: true}
	queue := children(pid)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
		queue = append(queue, children(p)...)
	}
	return out
}

// killGroup sends SIGKILL to process group pgid if any process still belongs
// to it. It is meant for groups whose leader has exited and been reaped, when
// only the members confirm that the id still names the group we created.
func killGroup(pgid int) error {
	for _, st := range allProcs() {
		if st.pgrp != pgid {
			continue
		}
		if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return err
		}
		return nil
	}
	return nil
}
