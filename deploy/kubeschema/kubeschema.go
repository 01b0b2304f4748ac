// Package kubeschema writes the Kubernetes JSON schemas that kubeconform
// validates deploy/kubernetes against, without network access.
//
// kubeconform downloads schemas from GitHub by default, which CI here
// cannot reach. Its Go module ships, for its own offline tests, a cached
// copy of yannh/kubernetes-json-schema's master _definitions.json
// (Kubernetes 1.33-era, 707 definitions). Write turns that file into a
// local schema registry: the definitions made strict (no properties beyond
// the API's, like kubernetes-json-schema's -strict flavour), and one small
// file per kind named as kubeconform's {{.ResourceKind}}{{.KindSuffix}}.json
// template expects, pointing into the definitions. The module is pinned in
// go.mod (a tool dependency), so the schemas do not drift.
package kubeschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Module is kubeconform's module path.
const Module = "github.com/yannh/kubeconform"

// definitionsFixture is the cached _definitions.json inside the module (a
// cache file is named by the SHA-256 of its URL).
const definitionsFixture = "fixtures/cache/6dc6142c64b944d783a3e783526114da8e747a14a11d8b32dd1f12e2d89a8330"

// Template is the -schema-location template, relative to the directory
// Write wrote.
const Template = "{{ .ResourceKind }}{{ .KindSuffix }}.json"

// DefinitionsPath finds the definitions file in the kubeconform module of
// the version go.mod requires, downloading the module if it is missing.
func DefinitionsPath() (string, error) {
	out, err := exec.Command("go", "mod", "download", "-json", Module).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return "", fmt.Errorf("go mod download %s: %w", Module, err)
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out, &m); err != nil {
		return "", err
	}
	if m.Error != "" || m.Dir == "" {
		return "", fmt.Errorf("go mod download %s: %s", Module, m.Error)
	}
	return filepath.Join(m.Dir, definitionsFixture), nil
}

// Write writes the registry into dir and returns how many kinds it has.
func Write(definitionsPath, dir string) (int, error) {
	data, err := os.ReadFile(definitionsPath)
	if err != nil {
		return 0, err
	}
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return 0, fmt.Errorf("%s: %w", definitionsPath, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	files := map[string]string{}
	for name, def := range doc.Definitions {
		strict(def)
		gvks, _ := def["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			gvk, _ := g.(map[string]any)
			group, _ := gvk["group"].(string)
			version, _ := gvk["version"].(string)
			kind, _ := gvk["kind"].(string)
			if kind == "" || version == "" {
				continue
			}
			files[fileName(kind, group, version)] = name
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return 0, err
	}
	if err := os.WriteFile(filepath.Join(dir, "_definitions.json"), out, 0o644); err != nil {
		return 0, err
	}
	for file, name := range files {
		ref := fmt.Sprintf(`{"$ref":"_definitions.json#/definitions/%s"}`, name)
		if err := os.WriteFile(filepath.Join(dir, file), []byte(ref), 0o644); err != nil {
			return 0, err
		}
	}
	return len(files), nil
}

// fileName names a kind's schema as kubeconform's KindSuffix does: the
// group's first label and the version, e.g. statefulset-apps-v1.json,
// service-v1.json, poddisruptionbudget-policy-v1.json.
func fileName(kind, group, version string) string {
	suffix := "-" + strings.ToLower(version)
	if group != "" {
		suffix = "-" + strings.ToLower(strings.Split(group, ".")[0]) + suffix
	}
	return strings.ToLower(kind) + suffix + ".json"
}

// strict forbids properties the API does not define in every object schema
// that lists its properties, unless it keeps unknown fields on purpose.
func strict(v any) {
	switch s := v.(type) {
	case map[string]any:
		_, hasProps := s["properties"]
		_, hasAdditional := s["additionalProperties"]
		if keep, _ := s["x-kubernetes-preserve-unknown-fields"].(bool); hasProps && !hasAdditional && !keep {
			s["additionalProperties"] = false
		}
		for _, c := range s {
			strict(c)
		}
	case []any:
		for _, c := range s {
			strict(c)
		}
	}
}
