// Command edgesync-scale computes edgesync's capacity on one AWS account
// and simulates a whole fleet's reconnect storm against AWS's quotas, and
// writes both into SCALE.md:
//
//	go run ./cmd/edgesync-scale -o SCALE.md
//
// The capacity model (internal/capacity) reads template.yaml's parameters,
// the agent's defaults, the per-terminal usage the cost benchmark measured
// (cmd/edgesync-bench/rates.json) and AWS's quotas (quotas.json, with their sources and the
// date they were checked), and gives the load of 1k, 10k and 100k terminals
// on each quota. The storm (internal/stormsim) reconnects every terminal of
// the fleet at once in virtual time, with the agent's and template.yaml's
// defaults, with the large-fleet warm throughput, and as they were before
// issue 16. Flags: -terminals (the storm's fleet,
// 100000), -sizes (1000,10000,100000), -seed, -skip sweep,storm,
// -quotas and -usage (other files than the defaults), -template.
package main

import (
	"bytes"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/edgesync/edgesync/devstack/template"
	"github.com/edgesync/edgesync/internal/capacity"
)

//go:embed quotas.json
var quotasJSON []byte

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "edgesync-scale:", err)
		os.Exit(1)
	}
}

type options struct {
	out          string
	templatePath string
	quotasPath   string
	usagePath    string
	terminals    int
	sizes        []int
	seed         uint64
	skip         map[string]bool
}

func run(args []string, stdout io.Writer) error {
	var o options
	var sizes, skip string
	fs := flag.NewFlagSet("edgesync-scale", flag.ContinueOnError)
	fs.StringVar(&o.out, "o", "", "rewrite the results section of this Markdown file (SCALE.md)")
	fs.StringVar(&o.templatePath, "template", "", "template.yaml (default: the module's)")
	fs.StringVar(&o.quotasPath, "quotas", "", "quotas file (default: the embedded cmd/edgesync-scale/quotas.json)")
	fs.StringVar(&o.usagePath, "usage", "", "per-terminal usage: a rates.json of edgesync-bench, or a usage file (default: the module's cmd/edgesync-bench/rates.json)")
	fs.IntVar(&o.terminals, "terminals", 100000, "terminals of the simulated storm")
	fs.StringVar(&sizes, "sizes", "1000,10000,100000", "fleet sizes of the capacity model and the smaller storms, comma-separated")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed of the storms")
	fs.StringVar(&skip, "skip", "", "parts to leave out, comma-separated: storm, sweep")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-sizes: %q is not a positive number", s)
		}
		o.sizes = append(o.sizes, n)
	}
	o.skip = map[string]bool{}
	for _, s := range strings.Split(skip, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.skip[s] = true
		}
	}
	if o.terminals < 1 {
		return fmt.Errorf("-terminals must be at least 1, got %d", o.terminals)
	}
	in, err := loadInputs(o)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	start := time.Now()
	if err := report(&buf, in, o); err != nil {
		return err
	}
	fmt.Fprintf(&buf, "The run took %v.\n", time.Since(start).Round(100*time.Millisecond))
	if _, err := stdout.Write(buf.Bytes()); err != nil {
		return err
	}
	if o.out != "" {
		return rewrite(o.out, buf.Bytes())
	}
	return nil
}

// inputs are what the model and the storms are computed from.
type inputs struct {
	quotas capacity.Quotas
	usage  capacity.Usage
	stack  capacity.Stack
}

func loadInputs(o options) (inputs, error) {
	qdata := quotasJSON
	var err error
	if o.quotasPath != "" {
		if qdata, err = os.ReadFile(o.quotasPath); err != nil {
			return inputs{}, err
		}
	}
	usagePath, usageName := o.usagePath, o.usagePath
	if usagePath == "" {
		root, err := moduleRoot()
		if err != nil {
			return inputs{}, err
		}
		usageName = "cmd/edgesync-bench/rates.json"
		usagePath = filepath.Join(root, usageName)
	}
	udata, err := os.ReadFile(usagePath)
	if err != nil {
		return inputs{}, err
	}
	var in inputs
	var errs []error
	if in.quotas, err = capacity.ParseQuotas(qdata); err != nil {
		errs = append(errs, err)
	}
	path := o.templatePath
	if path == "" {
		root, err := moduleRoot()
		if err != nil {
			return inputs{}, err
		}
		path = filepath.Join(root, "template.yaml")
	}
	tpl, err := template.Load(path)
	if err != nil {
		errs = append(errs, err)
	} else if in.stack, err = capacity.StackFrom(tpl); err != nil {
		errs = append(errs, err)
	}
	// The benchmark bills its Lambda time at the template's memory.
	switch {
	case !capacity.IsRates(udata):
		in.usage, err = capacity.ParseUsage(udata)
	case in.stack.MemoryMB > 0:
		in.usage, err = capacity.UsageFromRates(udata, usageName, float64(in.stack.MemoryMB))
	default:
		err = fmt.Errorf("rates %s: no function memory (template.yaml unread)", usageName)
	}
	if err != nil {
		errs = append(errs, err)
	}
	return in, errors.Join(errs...)
}

// moduleRoot finds the directory of go.mod from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory; pass -template")
		}
		dir = parent
	}
}

// Markers of the generated section of SCALE.md.
const (
	beginMarker = "<!-- scale:begin -->"
	endMarker   = "<!-- scale:end -->"
)

// rewrite replaces the generated section of the Markdown file path.
func rewrite(path string, section []byte) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	b := bytes.Index(doc, []byte(beginMarker))
	e := bytes.Index(doc, []byte(endMarker))
	if b < 0 || e < b {
		return fmt.Errorf("%s: no %s … %s section to rewrite", path, beginMarker, endMarker)
	}
	var out bytes.Buffer
	out.Write(doc[:b+len(beginMarker)])
	out.WriteString("\n")
	out.Write(section)
	out.Write(doc[e:])
	return os.WriteFile(path, out.Bytes(), 0o644)
}
