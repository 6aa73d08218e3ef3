package conformance

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
)

// casesFS holds the suite's case files, built into every program that
// imports the package.
//
//go:embed cases
var casesFS embed.FS

// CasesFS returns the case files built into the package (the folder
// conformance/cases of the source tree), as a file system whose root holds
// the run, trace, v1 and v2 folders.
func CasesFS() fs.FS {
	sub, err := fs.Sub(casesFS, "cases")
	if err != nil {
		panic(err) // the embedded folder is always there
	}
	return sub
}

// Embedded loads the suite built into the package; see CasesFS.
func Embedded() (*Suite, error) { return Load(CasesFS()) }

// Version identifies the suite's case set: the first 12 hex digits of a
// SHA-256 over each case's ID and content (its JSON, compacted, so layout
// does not count). Two reports with the same version ran the same cases.
func (s *Suite) Version() string {
	h := sha256.New()
	for _, c := range s.Cases {
		h.Write([]byte(c.ID))
		h.Write([]byte{0})
		h.Write(c.digest[:])
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
