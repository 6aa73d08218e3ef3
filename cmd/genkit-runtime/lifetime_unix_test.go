//go:build unix

package main

import "syscall"

const sigHUP = syscall.SIGHUP
