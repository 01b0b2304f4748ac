package chaos

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kaudit/kaudit/topology"
)

// traceGroups writes every change of the kaudit groups' states and
// members to path, polling twice a second, with each member's host port
// mapped to the process that owns the socket (through /proc, Linux only;
// "?" elsewhere or once the socket is gone). With KAUDIT_CHAOS_TRACE=1
// it shows which member a stuck rebalance waits for.
func traceGroups(ctx context.Context, cfg *topology.Config, c *cluster, path string) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	last := map[string]string{}
	owner := map[string]string{} // host port -> proc name, sticky
	for ctx.Err() == nil {
		time.Sleep(500 * time.Millisecond)
		for port, name := range portOwners(c) {
			owner[port] = name
		}
		ds, err := describe(cfg)
		if err != nil {
			continue
		}
		for _, d := range ds {
			var ms []string
			for id, m := range d.Members {
				_, port, _ := strings.Cut(m.ClientHost, ":")
				name := owner[port]
				if name == "" {
					name = "?"
				}
				ms = append(ms, fmt.Sprintf("%s@%s(%s)", id[max(0, len(id)-6):], port, name))
			}
			sort.Strings(ms)
			s := d.State + " " + strings.Join(ms, " ")
			if last[d.GroupId] != s {
				fmt.Fprintf(f, "%s %s: %s\n", time.Now().Format("15:04:05.000"), d.GroupId, s)
				last[d.GroupId] = s
			}
		}
	}
}

// portOwners maps the local ports of the instances' TCP sockets to the
// instances' names.
func portOwners(c *cluster) map[string]string {
	inodes := map[string]string{}
	for _, in := range c.kaudit {
		in.proc.mu.Lock()
		cmd := in.proc.cmd
		name := fmt.Sprintf("%s.%d", in.proc.name, in.proc.starts)
		in.proc.mu.Unlock()
		if cmd == nil || cmd.Process == nil {
			continue
		}
		fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", cmd.Process.Pid))
		for _, fd := range fds {
			l, err := os.Readlink(fd)
			if err == nil && strings.HasPrefix(l, "socket:[") {
				inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = name
			}
		}
	}
	out := map[string]string{}
	fh, err := os.Open("/proc/net/tcp")
	if err != nil {
		return out
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 {
			continue
		}
		if name, ok := inodes[fs[9]]; ok {
			_, hexport, _ := strings.Cut(fs[1], ":")
			port, _ := strconv.ParseInt(hexport, 16, 32)
			out[strconv.Itoa(int(port))] = name
		}
	}
	return out
}
