// Command render renders a Helm chart's templates the way `helm template`
// does, for CI machines where helm cannot be installed: Go's text/template
// (the engine helm uses) with the sprig function library (the one helm uses),
// plus helm's own toYaml, include and required. It covers what the dpu-fw
// chart uses, not all of helm: no subcharts, no .Capabilities, no .Files, no
// lookup, no hooks; documents are printed in template file order (helm
// orders them by kind).
//
// deploy/helm/render.sh wraps it. Build and run it with Debian's packaged Go
// and libraries (GOPATH mode, no module downloads):
//
//	apt-get install golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v2-dev
//	GOPATH=/usr/share/gocode GO111MODULE=off go run deploy/helm/render/main.go \
//	    -chart deploy/helm/dpu-fw -name dpu-fw [-namespace NS] [-f extra-values.yaml]...
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	sprig "github.com/Masterminds/sprig"
	yaml "gopkg.in/yaml.v2"
)

type valueFiles []string

func (v *valueFiles) String() string     { return strings.Join(*v, ",") }
func (v *valueFiles) Set(s string) error { *v = append(*v, s); return nil }

// normalize turns yaml.v2's map[interface{}]interface{} into the
// map[string]interface{} that helm's values (and sprig's dict functions) use.
func normalize(v interface{}) interface{} {
	switch t := v.(type) {
	case map[interface{}]interface{}:
		m := make(map[string]interface{}, len(t))
		for k, e := range t {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	case []interface{}:
		for i, e := range t {
			t[i] = normalize(e)
		}
		return t
	default:
		return v
	}
}

func readYAML(path string) (map[string]interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw interface{}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if raw == nil {
		return map[string]interface{}{}, nil
	}
	m, ok := normalize(raw).(map[string]interface{})
	if !ok {
		return nil, fmt.Errorf("%s: not a YAML mapping", path)
	}
	return m, nil
}

// merge lays over onto base as helm does for -f files: maps merge key by key,
// anything else is replaced.
func merge(base, over map[string]interface{}) map[string]interface{} {
	for k, v := range over {
		if bm, ok := base[k].(map[string]interface{}); ok {
			if om, ok := v.(map[string]interface{}); ok {
				base[k] = merge(bm, om)
				continue
			}
		}
		base[k] = v
	}
	return base
}

func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

func main() {
	chart := flag.String("chart", "", "the chart directory")
	name := flag.String("name", "release-name", "the release name")
	namespace := flag.String("namespace", "default", "the release namespace")
	var extra valueFiles
	flag.Var(&extra, "f", "a values file laid over the chart's values.yaml (repeatable)")
	flag.Parse()
	if *chart == "" {
		fmt.Fprintln(os.Stderr, "render: -chart DIR is required")
		os.Exit(2)
	}
	if err := run(*chart, *name, *namespace, extra); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

func run(chartDir, name, namespace string, extra []string) error {
	meta, err := readYAML(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return err
	}
	values, err := readYAML(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return err
	}
	for _, f := range extra {
		over, err := readYAML(f)
		if err != nil {
			return err
		}
		values = merge(values, over)
	}
	chartName, _ := meta["name"].(string)
	str := func(k string) string { s, _ := meta[k].(string); return s }
	top := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{
			"Name": name, "Namespace": namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Chart": map[string]interface{}{
			"Name": chartName, "Version": str("version"), "AppVersion": str("appVersion"),
			"Description": str("description"), "Type": str("type"), "Annotations": meta["annotations"],
		},
	}

	t := template.New("chart").Option("missingkey=zero")
	funcs := sprig.TxtFuncMap()
	funcs["toYaml"] = toYAML
	funcs["include"] = func(n string, data interface{}) (string, error) {
		var b bytes.Buffer
		err := t.ExecuteTemplate(&b, n, data)
		return b.String(), err
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil || v == "" {
			return nil, fmt.Errorf("%s", msg)
		}
		return v, nil
	}
	t.Funcs(funcs)

	dir := filepath.Join(chartDir, "templates")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var files []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !(strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".tpl")) {
			continue
		}
		text, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		if _, err := t.New(chartName + "/templates/" + n).Parse(string(text)); err != nil {
			return err
		}
		files = append(files, n)
	}
	sort.Strings(files)
	var out bytes.Buffer
	for _, n := range files {
		if strings.HasPrefix(n, "_") {
			continue
		}
		src := chartName + "/templates/" + n
		var b bytes.Buffer
		if err := t.ExecuteTemplate(&b, src, top); err != nil {
			return err
		}
		body := strings.ReplaceAll(b.String(), "<no value>", "")
		if strings.TrimSpace(body) == "" {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", src, strings.Trim(body, "\n"))
	}
	_, err = os.Stdout.Write(out.Bytes())
	return err
}
