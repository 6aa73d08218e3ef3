package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// goSDKTarget builds the Go SDK fixture (its own module) and returns it as
// a target.
func goSDKTarget(ctx context.Context, cfg *config, tmp string) (*target, error) {
	dir := fixtureDir(cfg.repo, cfg.goSDKDir)
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return nil, fmt.Errorf("no fixture at %s", dir)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(tmp, "gosdk-fixture")
	if !cfg.setup {
		return nil, errors.New("building it needs -setup")
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build in %s: %v\n%s", dir, err, out)
	}
	return &target{name: "go-sdk", spec: func(m mode) (spec, bool) {
		env := []string{"GENKIT_ENV=dev"}
		if m == modeList {
			env = append(env, listEnv(cfg)...)
		}
		return spec{name: "go-sdk-" + string(m), path: bin, dir: dir, env: env, discover: dir}, true
	}}, nil
}

// jsTarget prepares the JS SDK fixture (npm ci when node_modules is
// missing) and returns it as a target.
func jsTarget(ctx context.Context, cfg *config) (*target, error) {
	dir := fixtureDir(cfg.repo, cfg.jsDir)
	if _, err := os.Stat(filepath.Join(dir, "package.json")); err != nil {
		return nil, fmt.Errorf("no fixture at %s", dir)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		if !cfg.setup {
			return nil, errors.New("node_modules missing; run npm ci or pass -setup")
		}
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	return &target{name: "js-sdk", spec: func(m mode) (spec, bool) {
		env := []string{"GENKIT_ENV=dev"}
		if m == modeList {
			env = append(env, listEnv(cfg)...)
		}
		return spec{name: "js-sdk-" + string(m), path: node, args: []string{"index.js"}, dir: dir, env: env, discover: dir}, true
	}}, nil
}

// listEnv asks an SDK fixture for the synthetic actions of the listing
// scenario.
func listEnv(cfg *config) []string {
	return []string{
		fmt.Sprintf("FIXTURE_SYNTHETIC_ACTIONS=%d", cfg.listFlows),
		fmt.Sprintf("FIXTURE_SYNTHETIC_DAP_ACTIONS=%d", cfg.listDAP),
	}
}

// fixtureDir resolves a fixture directory: absolute, or relative to repo.
func fixtureDir(repo, dir string) string {
	if filepath.IsAbs(dir) {
		return dir
	}
	return filepath.Join(repo, dir)
}
