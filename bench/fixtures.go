package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// The SDK fixtures are the conformance suite's (e2e/fixtures): the action
// set of package fixture on the official Go, JS and Python SDKs. The
// harness runs them with a project root of its own (see fixtureRoot), so
// their runtime files never land in the repository.

// goSDKBinary is the name e2e/fixtures/gosdk is built to (by test.sh, and
// as in its README).
const goSDKBinary = "gosdk-fixture"

// goSDKTarget builds the Go SDK fixture (its own module) into tmp and
// returns it as a target. With -setup=false it uses the binary already
// built in the fixture directory.
func goSDKTarget(ctx context.Context, cfg *config, tmp, root string) (*target, error) {
	dir, err := filepath.Abs(fixtureDir(cfg.repo, cfg.goSDKDir))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return nil, fmt.Errorf("no fixture at %s", dir)
	}
	bin := filepath.Join(tmp, goSDKBinary)
	if cfg.setup {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build in %s: %v\n%s", dir, err, out)
		}
	} else {
		bin = filepath.Join(dir, goSDKBinary)
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("%s not built (go build -o %s . in %s), and -setup=false", bin, goSDKBinary, dir)
		}
	}
	return &target{name: "go-sdk", spec: func(m mode) (spec, bool) {
		// The Go SDK listens on GENKIT_REFLECTION_PORT.
		return spec{name: "go-sdk-" + string(m), path: bin, dir: root, env: fixtureEnv(cfg, m), discover: root}, true
	}}, nil
}

// jsTarget prepares the JS SDK fixture (npm ci when its packages are not
// installed) and returns it as a target.
func jsTarget(ctx context.Context, cfg *config, root string) (*target, error) {
	dir, err := filepath.Abs(fixtureDir(cfg.repo, cfg.jsDir))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "package.json")); err != nil {
		return nil, fmt.Errorf("no fixture at %s", dir)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "genkit", "package.json")); err != nil {
		if !cfg.setup {
			return nil, errors.New("packages not installed; run npm ci there or drop -setup=false")
		}
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	script := filepath.Join(dir, "index.js")
	return &target{name: "js-sdk", spec: func(m mode) (spec, bool) {
		// The JS SDK ignores GENKIT_REFLECTION_PORT and picks a free port
		// from 3100 up: the harness reads it from the runtime file the SDK
		// writes under root, the nearest directory holding a package.json.
		return spec{name: "js-sdk-" + string(m), path: node, args: []string{script}, dir: root, env: fixtureEnv(cfg, m), discover: root}, true
	}}, nil
}

// pythonVenv is the virtual environment e2e/fixtures/python is installed
// into (by test.sh, and as in its README), relative to the fixture.
const pythonVenv = ".venv"

// pythonTarget prepares the Python SDK fixture (a virtual environment with
// its hash-pinned requirements, when there is none) and returns it as a
// target.
func pythonTarget(ctx context.Context, cfg *config, root string) (*target, error) {
	dir, err := filepath.Abs(fixtureDir(cfg.repo, cfg.pythonDir))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "requirements.txt")); err != nil {
		return nil, fmt.Errorf("no fixture at %s", dir)
	}
	python := filepath.Join(dir, pythonVenv, "bin", "python")
	if m, _ := filepath.Glob(filepath.Join(dir, pythonVenv, "lib", "python3*", "site-packages", "genkit", "__init__.py")); len(m) == 0 {
		if !cfg.setup {
			return nil, errors.New("virtual environment not installed; see its README or drop -setup=false")
		}
		for _, args := range [][]string{
			{"python3", "-m", "venv", pythonVenv},
			{python, "-m", "pip", "install", "--quiet", "--require-hashes", "--no-deps", "-r", "requirements.txt"},
		} {
			cmd := exec.CommandContext(ctx, args[0], args[1:]...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				return nil, fmt.Errorf("%v in %s: %v\n%s", args, dir, err, out)
			}
		}
	}
	script := filepath.Join(dir, "main.py")
	return &target{name: "python-sdk", spec: func(m mode) (spec, bool) {
		// The Python SDK ignores GENKIT_REFLECTION_PORT and binds a port
		// the system picks: the harness reads it from the runtime file the
		// SDK writes under its working directory, root.
		return spec{name: "python-sdk-" + string(m), path: python, args: []string{script}, dir: root, env: fixtureEnv(cfg, m), discover: root}, true
	}, listMin: cfg.listFlows + cfg.listDAP}, nil
}

// fixtureEnv is the environment of an SDK fixture in mode m: GENKIT_ENV=dev,
// which starts the SDK's reflection server, and for the listing scenario
// the synthetic actions (the Go SDK ignores the dynamic-action-provider
// ones).
func fixtureEnv(cfg *config, m mode) []string {
	env := []string{"GENKIT_ENV=dev"}
	if m == modeList {
		env = append(env,
			fmt.Sprintf("FIXTURE_SYNTHETIC_ACTIONS=%d", cfg.listFlows),
			fmt.Sprintf("FIXTURE_SYNTHETIC_DAP_ACTIONS=%d", cfg.listDAP),
		)
	}
	return env
}

// fixtureRoot creates the project root the SDK fixtures run in: a directory
// holding go.mod and package.json, so each SDK writes its runtime file to
// root/.genkit/runtimes (the Python SDK writes it under its working
// directory, which is root too).
func fixtureRoot(tmp string) (string, error) {
	root := filepath.Join(tmp, "fixture-root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	files := map[string]string{
		"go.mod":       "module genkitbenchroot\n\ngo 1.26\n",
		"package.json": `{"name":"genkit-bench-root","private":true}` + "\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			return "", err
		}
	}
	return root, nil
}

// fixtureDir resolves a fixture directory: absolute, or relative to repo.
func fixtureDir(repo, dir string) string {
	if filepath.IsAbs(dir) {
		return dir
	}
	return filepath.Join(repo, dir)
}
