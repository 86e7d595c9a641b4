package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Files expands the run's arguments into flow files: a file stays as
// given; a directory gives its *.yaml and *.yml files (not recursive,
// sorted), leaving out flow tests (*.test.yaml). A file given twice is
// an error, since one file is one flow.
func Files(args []string) ([]string, error) {
	var files []string
	seen := map[string]string{}
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		found := []string{a}
		if st.IsDir() {
			if found, err = flowsIn(a); err != nil {
				return nil, err
			}
		}
		for _, f := range found {
			abs, err := filepath.Abs(f)
			if err != nil {
				return nil, err
			}
			if prev, ok := seen[abs]; ok {
				return nil, fmt.Errorf("%s is given twice (also as %s): one file runs as one flow", f, prev)
			}
			seen[abs] = f
			files = append(files, f)
		}
	}
	return files, nil
}

func flowsIn(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !(strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) ||
			strings.HasSuffix(n, ".test.yaml") || strings.HasSuffix(n, ".test.yml") {
			continue
		}
		files = append(files, filepath.Join(dir, n))
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s has no flow files (*.yaml, *.yml)", dir)
	}
	sort.Strings(files)
	return files, nil
}
