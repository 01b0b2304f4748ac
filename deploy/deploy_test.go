// Package deploy_test checks the deployment files statically: no Docker
// engine or Kubernetes cluster runs where the tests do. docker-compose.yml
// is loaded and validated against the Compose specification with
// compose-go (the loader `docker compose` itself uses), and with `docker
// compose config -q` when the plugin is installed; the Kubernetes manifests
// are validated with kubeconform against offline schemas (deploy/kubeschema).
// On top, both are checked for what the schemas cannot see: that commands
// use real kaudit flags, that paths are mounted, that selectors, services,
// volumes and probes fit together.
package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/require"
	"github.com/yannh/kubeconform/pkg/validator"
	"go.yaml.in/yaml/v3"

	"github.com/kaudit/kaudit/deploy/kubeschema"
	"github.com/kaudit/kaudit/topology"
)

// root is the repository root; tests run in deploy/.
const root = ".."

var (
	buildOnce sync.Once
	kauditBin string
	buildErr  error
)

// kaudit builds the binary once per test run.
func kaudit(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kaudit-deploy-test")
		if err != nil {
			buildErr = err
			return
		}
		kauditBin = filepath.Join(dir, "kaudit")
		out, err := exec.Command("go", "build", "-o", kauditBin, filepath.Join(root, "cmd", "kaudit")).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return kauditBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if kauditBin != "" {
		os.RemoveAll(filepath.Dir(kauditBin))
	}
	os.Exit(code)
}

// requireKauditFlags checks that args (a kaudit command line without the
// binary) use only flags the command defines, with values they accept:
// it runs the real binary with -h appended. Go's flag package parses every
// flag before it sees -h, so an unknown flag or a bad value fails first.
func requireKauditFlags(t *testing.T, args []string) {
	t.Helper()
	require.NotEmpty(t, args)
	for _, a := range args[1:] {
		// A positional argument would stop flag parsing before -h and run
		// the command for real.
		require.True(t, strings.HasPrefix(a, "-") || isFlagValue(args, a), "positional argument %q in %v", a, args)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kaudit(t), append(slices.Clone(args), "-h")...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "kaudit %v -h: %s", args, stderr.String())
	require.Equal(t, 2, ee.ExitCode(), "kaudit %v -h: %s", args, stderr.String())
	for _, bad := range []string{"flag provided but not defined", "invalid value", "unknown command", "invalid boolean"} {
		require.NotContains(t, stderr.String(), bad, "kaudit %v", args)
	}
	require.Contains(t, strings.ToLower(stderr.String()), "usage", "kaudit %v printed its usage", args)
}

// isFlagValue reports whether a follows a flag that takes it as value.
func isFlagValue(args []string, a string) bool {
	for i := 1; i < len(args); i++ {
		if args[i] == a && strings.HasPrefix(args[i-1], "-") && !strings.Contains(args[i-1], "=") {
			return true
		}
	}
	return false
}

// flagValue returns the value of --name in args.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		for _, p := range []string{"-", "--"} {
			if a == p+name && i+1 < len(args) {
				return args[i+1], true
			}
			if v, ok := strings.CutPrefix(a, p+name+"="); ok {
				return v, true
			}
		}
	}
	return "", false
}

func TestKauditFlagCheckCatchesMistakes(t *testing.T) {
	// The check itself: a bad flag and a bad value must fail it.
	for _, args := range [][]string{
		{"run", "--no-such-flag", "x"},
		{"ship", "--batch-lines", "many"},
		{"nosuchcommand"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := exec.CommandContext(ctx, kaudit(t), append(args, "-h")...).CombinedOutput()
		cancel()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		require.Regexp(t, "flag provided but not defined|invalid value|unknown command", string(out), "%v", args)
	}
	requireKauditFlags(t, []string{"ship", "--file", "/x", "--checkpoint", "/y"})
}

func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	abs, err := filepath.Abs(root)
	require.NoError(t, err)
	file := filepath.Join(abs, "docker-compose.yml")
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  abs,
		ConfigFiles: []types.ConfigFile{{Filename: file, Content: data}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) { o.SetProjectName("kaudit", true) })
	require.NoError(t, err, "docker-compose.yml against the Compose specification")
	return p
}

// TestComposeConfig runs `docker compose config -q` where the plugin is
// installed; the compose-go checks below run everywhere.
func TestComposeConfig(t *testing.T) {
	if err := exec.Command("docker", "compose", "version").Run(); err != nil {
		t.Skip("the docker compose plugin is not installed; TestCompose validates with compose-go")
	}
	out, err := exec.Command("docker", "compose", "-f", filepath.Join(root, "docker-compose.yml"), "config", "-q").CombinedOutput()
	require.NoError(t, err, "docker compose config -q: %s", out)
}

func TestCompose(t *testing.T) {
	p := loadCompose(t)
	abs, err := filepath.Abs(root)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"kafka", "kaudit-ship", "kaudit-1", "kaudit-2"}, p.ServiceNames())

	for name, s := range p.Services {
		t.Run(name, func(t *testing.T) {
			for _, v := range s.Volumes {
				switch v.Type {
				case types.VolumeTypeVolume:
					require.Contains(t, p.Volumes, v.Source, "volume %s is declared", v.Source)
				case types.VolumeTypeBind:
					_, err := os.Stat(v.Source)
					require.NoError(t, err, "bind mount source exists")
					require.True(t, v.ReadOnly, "bind mounts of repo files are read-only: %s", v.Source)
				default:
					t.Fatalf("unexpected volume type %s", v.Type)
				}
			}
			for dep, d := range s.DependsOn {
				target, ok := p.Services[dep]
				require.True(t, ok, "depends on an existing service: %s", dep)
				require.Equal(t, types.ServiceConditionHealthy, d.Condition, "waits for %s to be healthy", dep)
				require.NotNil(t, target.HealthCheck, "%s has a healthcheck", dep)
			}
			require.NotNil(t, s.HealthCheck, "every service has a healthcheck")
			require.NotEmpty(t, s.HealthCheck.Test)
			if name == "kafka" {
				return
			}
			// kaudit services: the image from deploy/Dockerfile, real flags,
			// paths on mounts, healthcheck via the image's probe.
			require.NotNil(t, s.Build)
			require.Equal(t, abs, s.Build.Context)
			require.Equal(t, "deploy/Dockerfile", s.Build.Dockerfile)
			require.FileExists(t, filepath.Join(abs, s.Build.Dockerfile))
			require.Equal(t, []string{"CMD", "/healthcheck"}, []string(s.HealthCheck.Test[:2]), "the image's probe binary")
			require.Contains(t, s.DependsOn, "kafka")
			args := []string(s.Command)
			requireKauditFlags(t, args)
			requirePathsMounted(t, s, args)
			if cfg, ok := flagValue(args, "config"); ok {
				requireKauditConfig(t, hostPath(t, s, cfg), p)
			}
			if addr, ok := flagValue(args, "http"); ok {
				_, port, _ := strings.Cut(addr, ":")
				require.Contains(t, strings.Join(s.HealthCheck.Test, " "), "127.0.0.1:"+port+"/", "healthcheck probes the --http port")
			}
		})
	}

	// Two processors, same command line (one consumer group per processor),
	// the query API published by one of them.
	k1, k2 := p.Services["kaudit-1"], p.Services["kaudit-2"]
	require.Equal(t, "run", k1.Command[0])
	require.Equal(t, []string(k1.Command), []string(k2.Command))
	require.Len(t, k1.Ports, 1)
	require.EqualValues(t, 8080, k1.Ports[0].Target)
	require.Equal(t, "8080", k1.Ports[0].Published)
	require.Empty(t, k2.Ports)
	require.NotEqual(t, volumeAt(t, k1, "/var/lib/kaudit").Source, volumeAt(t, k2, "/var/lib/kaudit").Source, "each processor has its own state")

	// The shipper reads the file Kafka's request logger writes.
	kafka, shipper := p.Services["kafka"], p.Services["kaudit-ship"]
	require.True(t, strings.HasPrefix(kafka.Image, "apache/kafka:3."), "log4j 1 config: an apache/kafka 3.x image")
	require.NotContains(t, kafka.Environment, "KAFKA_LOG4J_LOGGERS", "it would override the logger's appender")
	logDir := *kafka.Environment["LOG_DIR"]
	props := readProperties(t, volumeAt(t, kafka, "/mnt/shared/config/log4j.properties").Source)
	require.Equal(t, "DEBUG, requestAppender", props["log4j.logger.kafka.request.logger"])
	require.Equal(t, "org.apache.log4j.DailyRollingFileAppender", props["log4j.appender.requestAppender"])
	require.Equal(t, "'.'yyyy-MM-dd-HH", props["log4j.appender.requestAppender.DatePattern"])
	logFile := strings.ReplaceAll(props["log4j.appender.requestAppender.File"], "${kafka.logs.dir}", logDir)

	file, _ := flagValue(shipper.Command, "file")
	require.Equal(t, "ship", shipper.Command[0])
	require.Equal(t, filepath.Base(logFile), filepath.Base(file))
	kafkaVol := volumeAt(t, kafka, filepath.Dir(logFile))
	shipVol := volumeAt(t, shipper, filepath.Dir(file))
	require.Equal(t, types.VolumeTypeVolume, kafkaVol.Type)
	require.Equal(t, kafkaVol.Source, shipVol.Source, "kafka and the shipper share the log volume")
	require.Equal(t, filepath.Dir(logFile), kafkaVol.Target)
	require.Equal(t, filepath.Dir(file), shipVol.Target)
	require.True(t, shipVol.ReadOnly, "the shipper only reads the log")
	require.Contains(t, shipper.DependsOn, "kaudit-1", "the raw topic exists before the shipper produces (auto-create is off)")
	require.Equal(t, "false", *kafka.Environment["KAFKA_AUTO_CREATE_TOPICS_ENABLE"])
}

// volumeAt is the mount of s whose target is path or holds it.
func volumeAt(t *testing.T, s types.ServiceConfig, path string) types.ServiceVolumeConfig {
	t.Helper()
	var best *types.ServiceVolumeConfig
	for i, v := range s.Volumes {
		if path == v.Target || strings.HasPrefix(path, strings.TrimSuffix(v.Target, "/")+"/") {
			if best == nil || len(v.Target) > len(best.Target) {
				best = &s.Volumes[i]
			}
		}
	}
	require.NotNil(t, best, "%s: no volume holds %s", s.Name, path)
	return *best
}

// hostPath maps a container path on a bind mount to the repo file.
func hostPath(t *testing.T, s types.ServiceConfig, path string) string {
	t.Helper()
	v := volumeAt(t, s, path)
	require.Equal(t, types.VolumeTypeBind, v.Type, "%s is a repo file", path)
	return filepath.Join(v.Source, strings.TrimPrefix(path, v.Target))
}

// requirePathsMounted checks that every absolute path a command names is
// on a mount (the image has nothing but the binaries), writable where
// kaudit writes.
func requirePathsMounted(t *testing.T, s types.ServiceConfig, args []string) {
	t.Helper()
	writes := map[string]bool{"checkpoint": true, "state-dir": true}
	for i := 1; i+1 < len(args); i++ {
		name := strings.TrimLeft(args[i], "-")
		val := args[i+1]
		if !strings.HasPrefix(args[i], "-") || !strings.HasPrefix(val, "/") {
			continue
		}
		v := volumeAt(t, s, val)
		if writes[name] {
			require.False(t, v.ReadOnly, "%s --%s %s is on a writable volume", s.Name, name, val)
		}
	}
}

// The example config lists every key kaudit reads (README.md says so): each
// field of topology.Config and of the structs under it, but not the
// fields of list items and map values, which the comments show. A key
// whose default cannot be written as a value (it follows another key) may
// be listed commented out.
func TestExampleConfigListsEveryKey(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "deploy", "kaudit.yaml"))
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal(data, &doc))
	var missing []string
	for _, path := range configKeys(reflect.TypeFor[topology.Config](), nil) {
		node := any(doc)
		for _, k := range path {
			m, _ := node.(map[string]any)
			var ok bool
			if node, ok = m[k]; ok {
				continue
			}
			commented := regexp.MustCompile(`(?m)^\s*# ` + regexp.QuoteMeta(path[len(path)-1]) + `:`)
			if !commented.Match(data) {
				missing = append(missing, strings.Join(path, "."))
			}
			break
		}
	}
	require.Empty(t, missing, "keys deploy/kaudit.yaml lacks")
}

// configKeys lists the YAML key paths of struct type t's fields under
// prefix, descending into struct (and pointer to struct) fields.
func configKeys(t reflect.Type, prefix []string) [][]string {
	var out [][]string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		path := append(slices.Clone(prefix), name)
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft.PkgPath() != "time" {
			out = append(out, configKeys(ft, path)...)
			continue
		}
		out = append(out, path)
	}
	return out
}

// requireKauditConfig loads a config file as kaudit does and checks that
// its brokers are the compose Kafka's listener.
func requireKauditConfig(t *testing.T, path string, p *types.Project) {
	t.Helper()
	cfg, err := topology.LoadConfig(path)
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
	listeners := *p.Services["kafka"].Environment["KAFKA_ADVERTISED_LISTENERS"]
	for _, b := range cfg.Brokers {
		require.Contains(t, listeners, "://"+b, "broker %s is an advertised listener of the kafka service", b)
	}
}

func readProperties(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok, "%s: %q", path, line)
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	require.NoError(t, sc.Err())
	return out
}

func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "deploy", "Dockerfile"))
	require.NoError(t, err)
	df := string(data)
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1)
	require.NotEmpty(t, froms)
	require.Regexp(t, `^gcr\.io/distroless/static`, froms[len(froms)-1][1], "the final stage has no libc, shell or package manager")
	require.Contains(t, df, "CGO_ENABLED=0", "a static binary")
	require.Contains(t, df, "./cmd/kaudit")
	require.Contains(t, df, "./deploy/healthcheck")
	require.Contains(t, df, "/healthcheck")
	users := regexp.MustCompile(`(?m)^USER\s+(\d+)(?::(\d+))?\s*$`).FindAllStringSubmatch(df, -1)
	require.Len(t, users, 1, "one numeric USER, so Kubernetes' runAsNonRoot can check it")
	uid, err := strconv.Atoi(users[0][1])
	require.NoError(t, err)
	require.NotZero(t, uid, "non-root")
	require.Contains(t, df, "--chown="+users[0][1], "the state directory belongs to the user")
	require.Regexp(t, `(?m)^ENTRYPOINT \["/kaudit"\]`, df)
}

func TestLog4j2Config(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "deploy", "kafka", "log4j2.yaml"))
	require.NoError(t, err)
	var c struct {
		Configuration struct {
			Appenders struct {
				RollingFile []struct {
					Name        string `yaml:"name"`
					FileName    string `yaml:"fileName"`
					FilePattern string `yaml:"filePattern"`
				} `yaml:"RollingFile"`
			} `yaml:"Appenders"`
			Loggers struct {
				Logger []struct {
					Name        string `yaml:"name"`
					Level       string `yaml:"level"`
					AppenderRef struct {
						Ref string `yaml:"ref"`
					} `yaml:"AppenderRef"`
				} `yaml:"Logger"`
			} `yaml:"Loggers"`
		} `yaml:"Configuration"`
	}
	require.NoError(t, yaml.Unmarshal(data, &c))
	var ref string
	for _, l := range c.Configuration.Loggers.Logger {
		if l.Name == "kafka.request.logger" {
			require.Equal(t, "DEBUG", l.Level)
			ref = l.AppenderRef.Ref
		}
	}
	require.NotEmpty(t, ref, "kafka.request.logger has an appender")
	found := false
	for _, a := range c.Configuration.Appenders.RollingFile {
		if a.Name == ref {
			found = true
			require.True(t, strings.HasSuffix(a.FileName, "/kafka-request.log"), "a live file the shipper follows")
			require.True(t, strings.HasPrefix(a.FilePattern, a.FileName+"."), "rolled files are siblings named after the live file")
		}
	}
	require.True(t, found, "appender %s exists", ref)
}

func TestSystemdUnit(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "deploy", "kaudit-ship.service"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^ExecStart=(\S+) (.*)$`).FindStringSubmatch(string(data))
	require.NotNil(t, m)
	require.Equal(t, "/usr/local/bin/kaudit", m[1])
	args := strings.Fields(m[2])
	requireKauditFlags(t, args)
	ck, _ := flagValue(args, "checkpoint")
	require.True(t, strings.HasPrefix(ck, "/var/lib/kaudit-ship/"), "the checkpoint is in StateDirectory")
}

// manifest is one Kubernetes object, decoded loosely.
type manifest = map[string]any

func loadManifests(t *testing.T) (files []string, byKind map[string][]manifest) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "deploy", "kubernetes", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	byKind = map[string][]manifest{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var m manifest
			err := dec.Decode(&m)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, f)
			if m == nil {
				continue
			}
			kind, _ := m["kind"].(string)
			byKind[kind] = append(byKind[kind], m)
		}
	}
	return files, byKind
}

// TestKubeconform validates every manifest with kubeconform, strictly
// (unknown fields and duplicate keys are errors), against the offline
// schemas; a kind without a schema is an error too.
func TestKubeconform(t *testing.T) {
	defs, err := kubeschema.DefinitionsPath()
	require.NoError(t, err)
	dir := t.TempDir()
	n, err := kubeschema.Write(defs, dir)
	require.NoError(t, err)
	require.Greater(t, n, 100)
	v, err := validator.New([]string{filepath.Join(dir, kubeschema.Template)}, validator.Opts{Strict: true})
	require.NoError(t, err)

	files, _ := loadManifests(t)
	count := 0
	for _, f := range files {
		fh, err := os.Open(f)
		require.NoError(t, err)
		for _, r := range v.Validate(f, fh) {
			if r.Status == validator.Empty {
				continue
			}
			count++
			require.Equal(t, validator.Valid, r.Status, "%s: %v %v", f, r.Err, r.ValidationErrors)
		}
	}
	require.Equal(t, 5, count, "ConfigMap, 2 Services, PodDisruptionBudget, StatefulSet")

	// The schemas are strict: a misspelt field fails.
	bad := "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {clusterIp: None}\n"
	rs := v.Validate("bad.yaml", io.NopCloser(strings.NewReader(bad)))
	require.Len(t, rs, 1)
	require.Equal(t, validator.Invalid, rs[0].Status)
}

func get[T any](t *testing.T, m any, path ...string) T {
	t.Helper()
	cur := m
	for _, p := range path {
		mm, ok := cur.(manifest)
		require.True(t, ok, "%v: %s is not a map", path, p)
		cur = mm[p]
	}
	v, ok := cur.(T)
	require.True(t, ok, "%v: %T", path, cur)
	return v
}

func selects(selector, labels manifest) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

// TestKubernetesManifests checks what the schemas do not: that the
// objects refer to each other correctly and run kaudit the way it needs.
func TestKubernetesManifests(t *testing.T) {
	_, byKind := loadManifests(t)
	require.Len(t, byKind["StatefulSet"], 1)
	sts := byKind["StatefulSet"][0]
	spec := get[manifest](t, sts, "spec")
	podLabels := get[manifest](t, spec, "template", "metadata", "labels")
	require.True(t, selects(get[manifest](t, spec, "selector", "matchLabels"), podLabels), "the selector matches the pods")

	// Services: a headless governing one and a regular one for the API,
	// both selecting the pods on the named container port.
	pod := get[manifest](t, spec, "template", "spec")
	containers := get[[]any](t, pod, "containers")
	require.Len(t, containers, 1)
	c := containers[0].(manifest)
	ports := map[string]int{}
	for _, p := range get[[]any](t, c, "ports") {
		ports[get[string](t, p, "name")] = get[int](t, p, "containerPort")
	}
	services := map[string]manifest{}
	for _, s := range byKind["Service"] {
		name := get[string](t, s, "metadata", "name")
		services[name] = s
		require.True(t, selects(get[manifest](t, s, "spec", "selector"), podLabels), "service %s selects the pods", name)
		for _, p := range get[[]any](t, s, "spec", "ports") {
			require.Contains(t, ports, get[string](t, p, "targetPort"), "service %s targets a named container port", name)
			require.Equal(t, 8080, get[int](t, p, "port"))
		}
	}
	headless := services[get[string](t, spec, "serviceName")]
	require.NotNil(t, headless, "serviceName names a Service")
	require.Equal(t, "None", get[string](t, headless, "spec", "clusterIP"), "the governing Service is headless")
	require.Len(t, services, 2)

	// PodDisruptionBudget.
	require.Len(t, byKind["PodDisruptionBudget"], 1)
	pdb := byKind["PodDisruptionBudget"][0]
	require.True(t, selects(get[manifest](t, pdb, "spec", "selector", "matchLabels"), podLabels))

	// The container: real flags, config from the ConfigMap, state on the
	// claim, probes on the HTTP port, resources, non-root.
	args := make([]string, 0)
	for _, a := range get[[]any](t, c, "args") {
		args = append(args, a.(string))
	}
	requireKauditFlags(t, args)
	require.Equal(t, "run", args[0])
	mounts := map[string]string{}
	for _, m := range get[[]any](t, c, "volumeMounts") {
		mounts[get[string](t, m, "mountPath")] = get[string](t, m, "name")
	}
	httpAddr, ok := flagValue(args, "http")
	require.True(t, ok)
	require.Equal(t, ":"+strconv.Itoa(ports["http"]), httpAddr)
	stateDir, ok := flagValue(args, "state-dir")
	require.True(t, ok, "tables are kept on disk")
	claims := get[[]any](t, spec, "volumeClaimTemplates")
	require.Len(t, claims, 1)
	require.Equal(t, get[string](t, claims[0], "metadata", "name"), mounts[stateDir], "--state-dir is the persistent volume")
	require.Equal(t, []any{"ReadWriteOnce"}, get[[]any](t, claims[0], "spec", "accessModes"))

	cfgPath, ok := flagValue(args, "config")
	require.True(t, ok)
	volName := mounts[filepath.Dir(cfgPath)]
	var cmName string
	for _, v := range get[[]any](t, pod, "volumes") {
		if get[string](t, v, "name") == volName {
			cmName = get[string](t, v, "configMap", "name")
		}
	}
	var cfgYAML string
	for _, cm := range byKind["ConfigMap"] {
		if get[string](t, cm, "metadata", "name") == cmName {
			cfgYAML = get[string](t, cm, "data", filepath.Base(cfgPath))
		}
	}
	require.NotEmpty(t, cfgYAML, "the ConfigMap %s holds %s", cmName, filepath.Base(cfgPath))
	cfgFile := filepath.Join(t.TempDir(), "kaudit.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(cfgYAML), 0o644))
	cfg, err := topology.LoadConfig(cfgFile)
	require.NoError(t, err, "the ConfigMap's config loads")
	require.NoError(t, cfg.Validate())
	replicas := get[int](t, spec, "replicas")
	require.GreaterOrEqual(t, replicas, 2)
	require.LessOrEqual(t, replicas, cfg.Topics.Partitions, "replicas beyond the partitions of %s idle", cfg.Topics.Raw)

	require.Equal(t, "/readyz", get[string](t, c, "readinessProbe", "httpGet", "path"), "readiness is table recovery")
	require.Equal(t, "/healthz", get[string](t, c, "livenessProbe", "httpGet", "path"))
	require.Equal(t, "http", get[string](t, c, "readinessProbe", "httpGet", "port"))
	require.Equal(t, "http", get[string](t, c, "livenessProbe", "httpGet", "port"))
	for _, kind := range []string{"requests", "limits"} {
		for _, res := range []string{"cpu", "memory"} {
			require.NotEmpty(t, get[string](t, c, "resources", kind, res), "resources.%s.%s", kind, res)
		}
	}
	require.True(t, get[bool](t, pod, "securityContext", "runAsNonRoot"))
	require.Equal(t, 65532, get[int](t, pod, "securityContext", "runAsUser"), "the image's USER")
	require.True(t, get[bool](t, c, "securityContext", "readOnlyRootFilesystem"))
}
