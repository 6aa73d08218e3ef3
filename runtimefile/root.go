package runtimefile

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// projectMarkers are the files whose presence makes a directory a project
// root for the Genkit CLI (findProjectRoot in genkit-tools/common/src/utils).
var projectMarkers = []string{
	"package.json",
	"go.mod",
	"pyproject.toml",
	"requirements.txt",
	"pom.xml",
	"build.gradle",
	"build.gradle.kts",
	"pubspec.yaml",
}

// FindRoot returns the project root for dir by the Genkit CLI's rule: the
// nearest of dir and its ancestors that contains any of package.json, go.mod,
// pyproject.toml, requirements.txt, pom.xml, build.gradle, build.gradle.kts
// or pubspec.yaml (a file or a directory of that name), or dir itself if
// none does. As in the CLI, the file system root is never a candidate. The
// result is absolute. A runtime that uses the same rule from the CLI's
// working directory writes its runtime file where the CLI looks.
//
// Entries that cannot be examined count as absent.
func FindRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("runtimefile: project root of %s: %w", dir, err)
	}
	for cur := abs; filepath.Dir(cur) != cur; cur = filepath.Dir(cur) {
		for _, m := range projectMarkers {
			if _, err := os.Stat(filepath.Join(cur, m)); err == nil {
				return cur, nil
			}
		}
	}
	return abs, nil
}

// Dir returns the runtimes directory of a project root,
// <root>/.genkit/runtimes.
func Dir(root string) string {
	return filepath.Join(root, ".genkit", "runtimes")
}

// projectName derives the project name from the path of a runtime file as
// the CLI does (projectNameFromGenkitFilePath): the base name of the
// directory above the first ".genkit" element, or "unknown".
func projectName(path string) string {
	parts := strings.Split(path, string(filepath.Separator))
	i := slices.Index(parts, ".genkit")
	if i <= 0 {
		return "unknown"
	}
	base := strings.Join(parts[:i], "/")
	if base == "" {
		return "unknown"
	}
	return filepath.Base(base)
}
