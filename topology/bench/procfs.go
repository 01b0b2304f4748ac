package bench

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProcUsage is what /proc says about a process: CPU time and memory.
type ProcUsage struct {
	// CPUSeconds is user plus system time, in seconds.
	CPUSeconds float64
	// RSS is the resident set now (VmRSS); PeakRSS its high-water mark
	// (VmHWM), both in bytes.
	RSS, PeakRSS int64
}

// ReadProc reads a process's CPU time and memory from /proc.
func ReadProc(pid int) (ProcUsage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcUsage{}, err
	}
	ticks, err := parseStatTicks(stat)
	if err != nil {
		return ProcUsage{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcUsage{}, err
	}
	rss, hwm := parseStatus(status)
	return ProcUsage{CPUSeconds: float64(ticks) / float64(clockTicks()), RSS: rss, PeakRSS: hwm}, nil
}

// parseStatTicks returns utime+stime (fields 14 and 15 of /proc/<pid>/stat),
// in clock ticks. The command name (field 2) is in parentheses and may
// itself hold spaces and parentheses, so fields are counted from the last
// ')'.
func parseStatTicks(stat []byte) (uint64, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, errors.New("no command name")
	}
	// After ')': state is field 3, so utime (14) is index 11, stime 12.
	f := strings.Fields(string(stat[end+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	utime, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("utime: %w", err)
	}
	stime, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stime: %w", err)
	}
	return utime + stime, nil
}

// parseStatus returns VmRSS and VmHWM from /proc/<pid>/status, in bytes
// (the file says kB, meaning KiB).
func parseStatus(status []byte) (rss, hwm int64) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		f := strings.Fields(val)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if len(f) > 1 && f[1] == "kB" {
			n *= 1024
		}
		if key == "VmRSS" {
			rss = n
		} else {
			hwm = n
		}
	}
	return rss, hwm
}

// atClkTck is the auxiliary-vector entry with sysconf(_SC_CLK_TCK).
const atClkTck = 17

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat times:
// read from this process's auxiliary vector (Go has no sysconf without
// cgo), 100 if that fails, as on every common Linux build.
var clockTicks = sync.OnceValue(func() int64 {
	auxv, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return 100
	}
	if hz, ok := parseAuxvClkTck(auxv, strconv.IntSize/8); ok {
		return hz
	}
	return 100
})

// parseAuxvClkTck finds AT_CLKTCK in an auxiliary vector of native-endian
// (type, value) words of wordSize bytes.
func parseAuxvClkTck(auxv []byte, wordSize int) (int64, bool) {
	word := func(b []byte) uint64 {
		if wordSize == 4 {
			return uint64(binary.NativeEndian.Uint32(b))
		}
		return binary.NativeEndian.Uint64(b)
	}
	for i := 0; i+2*wordSize <= len(auxv); i += 2 * wordSize {
		typ, val := word(auxv[i:]), word(auxv[i+wordSize:])
		if typ == 0 { // AT_NULL ends the vector
			break
		}
		if typ == atClkTck && val > 0 {
			return int64(val), true
		}
	}
	return 0, false
}

// parseMachineBusy returns the busy time of all CPUs together from the
// first line of /proc/stat ("cpu  user nice system idle iowait irq softirq
// steal ..."), in clock ticks: everything but idle and iowait.
func parseMachineBusy(stat []byte) (uint64, error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("no aggregate cpu line")
	}
	var busy uint64
	for i, v := range f[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cpu field %d: %w", i+1, err)
		}
		busy += n
	}
	return busy, nil
}

// machineBusySeconds is the CPU time all processes have used since boot.
func machineBusySeconds() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	ticks, err := parseMachineBusy(b)
	return float64(ticks) / float64(clockTicks()), err
}

// cpuWatch measures, over an interval, the cores the given processes used
// and the cores everything else on the machine used: a benchmark on a
// shared machine says how shared it was.
type cpuWatch struct {
	start   time.Time
	pids    []int
	own     []float64
	machine float64
}

func watchCPU(pids ...int) *cpuWatch {
	w := &cpuWatch{start: time.Now(), pids: pids}
	for _, pid := range pids {
		u, _ := ReadProc(pid) //nolint:errcheck // a process that is gone counts 0
		w.own = append(w.own, u.CPUSeconds)
	}
	w.machine, _ = machineBusySeconds() //nolint:errcheck // 0: others unknown
	return w
}

// cores returns the cores each watched process used since the watch
// began, the cores the rest of the machine used, and the seconds since.
func (w *cpuWatch) cores() (each []float64, others, secs float64) {
	secs = time.Since(w.start).Seconds()
	if secs <= 0 {
		return make([]float64, len(w.pids)), 0, 0
	}
	var ours float64
	for i, pid := range w.pids {
		u, _ := ReadProc(pid) //nolint:errcheck // likewise
		c := max(u.CPUSeconds-w.own[i], 0) / secs
		each = append(each, c)
		ours += c
	}
	if m, err := machineBusySeconds(); err == nil && w.machine > 0 {
		others = max((m-w.machine)/secs-ours, 0)
	}
	return each, others, secs
}

// Machine describes where the benchmark ran.
type Machine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	MemBytes int64  `json:"mem_bytes"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
}

// ReadMachine reads the machine's description from /proc.
func ReadMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = cpuModel(b)
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemBytes = memTotal(b)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel(cpuinfo []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(val)
		}
	}
	return ""
}

// memTotal is MemTotal of /proc/meminfo, in bytes.
func memTotal(meminfo []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || key != "MemTotal" {
			continue
		}
		f := strings.Fields(val)
		if len(f) > 0 {
			if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				return n * 1024
			}
		}
	}
	return 0
}
