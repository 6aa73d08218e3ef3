//go:build !unix

package mcp

import "os/exec"

// ownProcessGroup does nothing where process groups are not available.
func ownProcessGroup(*exec.Cmd) {}

// killStragglers does nothing where process groups are not available.
func killStragglers(*exec.Cmd) {}
