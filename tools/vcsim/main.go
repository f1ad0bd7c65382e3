// Command vcsim runs the govmomi vCenter simulator (Debian's golang-github-vmware-govmomi-dev,
// govmomi 0.24.2) as a test peer for the vim25 SOAP client. Built by scripts/build-vcsim.sh.
//
// When the simulator is ready it prints exactly one line to stdout, space-separated KEY=VALUE:
//
//	VCSIM_URL=https://user:pass@127.0.0.1:PORT/sdk THUMBPRINT=AA:BB:... DATASTORE=LocalDS_0 DATASTORE_DIR=/dir PID=123
//
// and then serves until SIGINT or SIGTERM. Everything else (logs, -trace output) goes to stderr.
//
// Besides the simulator's own methods it serves InstantClone_Task (instantclone.go), which govmomi
// 0.24's simulator lacks.
//
// Test hooks besides the SOAP API (only with -control, off by default):
//
//	POST /vcsim/status-once?code=503                                  next /sdk request answers with that HTTP status
//	POST /vcsim/disable-method?moid=vm-51&type=VirtualMachine&method=PowerOnVM_Task   that call now faults (MethodDisabled)
//	POST /vcsim/enable-method?moid=...&type=...&method=...             undoes disable-method
//	POST /vcsim/terminate-session?key=<vmware_soap_session cookie>     the session is gone (NotAuthenticated next)
package main

import (
	"crypto/sha1"
	"crypto/tls"
	"flag"
	"fmt"
	"io/ioutil"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (port 0 picks a free port)")
	username := flag.String("username", "user", "the only user name Login accepts")
	password := flag.String("password", "pass", "the only password Login accepts")
	certFile := flag.String("tlscert", "", "PEM certificate (default: the simulator's built-in self-signed one)")
	keyFile := flag.String("tlskey", "", "PEM key for -tlscert")
	plain := flag.Bool("http", false, "serve plain HTTP instead of HTTPS")
	dsDir := flag.String("datastore-dir", "", "directory the datastores' folders are made in (default: a temp dir, removed on exit)")

	dc := flag.Int("dc", 1, "datacenters")
	cluster := flag.Int("cluster", 1, "clusters per datacenter")
	host := flag.Int("host", 3, "hosts per cluster")
	standalone := flag.Int("standalone-host", 1, "standalone hosts per datacenter")
	ds := flag.Int("ds", 1, "datastores (each a local directory, mounted on every host)")
	pool := flag.Int("pool", 0, "child resource pools per cluster (every cluster has its root pool 'Resources')")
	vm := flag.Int("vm", 2, "VMs per resource pool")
	app := flag.Int("app", 0, "vApps per cluster")
	pg := flag.Int("pg", 1, "distributed port groups per datacenter")
	folder := flag.Int("folder", 0, "put each datacenter in this many folders")
	autostart := flag.Bool("autostart", true, "power on the model's VMs")

	idle := flag.Duration("session-idle-timeout", 0, "expire sessions idle this long (0: never)")
	delay := flag.Int("delay", 0, "milliseconds to delay every SOAP call")
	methodDelay := flag.String("method-delay", "", "per-method delay, e.g. Login:200,PowerOnVM_Task:1000 (ms)")
	trace := flag.Bool("trace", false, "write every SOAP request and response to stderr (or -trace-file)")
	traceFile := flag.String("trace-file", "", "file for -trace output")
	control := flag.Bool("control", false, "serve the /vcsim/ test hooks")
	flag.Parse()

	log.SetOutput(os.Stderr)
	log.SetPrefix("vcsim: ")

	// The model makes each datastore with ioutil.TempDir("", ...), i.e. under $TMPDIR.
	keepDatastores := *dsDir != ""
	if keepDatastores {
		if err := os.MkdirAll(*dsDir, 0o755); err != nil {
			log.Fatal(err)
		}
		os.Setenv("TMPDIR", *dsDir)
	}

	model := simulator.VPX()
	model.Datacenter = *dc
	model.Cluster = *cluster
	model.ClusterHost = *host
	model.Host = *standalone
	model.Datastore = *ds
	model.Pool = *pool
	model.Machine = *vm
	model.App = *app
	model.Portgroup = *pg
	model.Folder = *folder
	model.Autostart = *autostart
	model.DelayConfig.Delay = *delay
	if *methodDelay != "" {
		model.DelayConfig.MethodDelay = map[string]int{}
		for _, kv := range strings.Split(*methodDelay, ",") {
			p := strings.SplitN(kv, ":", 2)
			ms, err := strconv.Atoi(strings.TrimSpace(p[len(p)-1]))
			if len(p) != 2 || err != nil {
				log.Fatalf("bad -method-delay entry %q", kv)
			}
			model.DelayConfig.MethodDelay[strings.TrimSpace(p[0])] = ms
		}
	}

	if err := model.Create(); err != nil {
		log.Fatal(err)
	}
	if !keepDatastores {
		defer model.Remove()
	}

	simulator.SessionIdleTimeout = *idle
	if *trace {
		simulator.Trace = true
		if *traceFile != "" {
			f, err := os.Create(*traceFile)
			if err != nil {
				log.Fatal(err)
			}
			defer f.Close()
			simulator.TraceFile = f
		}
	}

	if !*plain {
		cfg := new(tls.Config)
		if *certFile != "" {
			cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
			if err != nil {
				log.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		model.Service.TLS = cfg
	}
	// A user other than simulator.DefaultLogin makes Login check name and password exactly.
	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(*username, *password)}
	model.Service.ServeMux = http.NewServeMux()
	if *control {
		addControl(model.Service.ServeMux)
	}

	server := model.Service.NewServer()
	defer server.Close()
	// Before the URL is printed, so before any request.
	server.Config.Handler = withInstantClone(server.Config.Handler)

	fields := []string{"VCSIM_URL=" + server.URL.String()}
	if !*plain {
		sum := sha1.Sum(server.Certificate().Raw)
		hex := make([]string, len(sum))
		for i, b := range sum {
			hex[i] = fmt.Sprintf("%02X", b)
		}
		fields = append(fields, "THUMBPRINT="+strings.Join(hex, ":"))
	}
	name, dir := firstDatastore()
	if name != "" {
		fields = append(fields, "DATASTORE="+name, "DATASTORE_DIR="+dir)
	}
	fields = append(fields, "PID="+strconv.Itoa(os.Getpid()))
	fmt.Println(strings.Join(fields, " "))
	os.Stdout.Sync()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	log.Printf("%s: shutting down", s)
}

// firstDatastore returns the name and local directory of the datastore that /folder uses
// when no dsName is given (by name order, as the finder's default only works with one).
func firstDatastore() (string, string) {
	var all []*simulator.Datastore
	for _, e := range simulator.Map.All("Datastore") {
		if d, ok := e.(*simulator.Datastore); ok {
			all = append(all, d)
		}
	}
	if len(all) == 0 {
		return "", ""
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	for _, d := range all {
		log.Printf("datastore %s at %s", d.Name, d.Info.GetDatastoreInfo().Url)
	}
	return all[0].Name, all[0].Info.GetDatastoreInfo().Url
}

func addControl(mux *http.ServeMux) {
	post := func(pattern string, f func(q url.Values) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost {
				w.WriteHeader(http.StatusMethodNotAllowed)
				return
			}
			_, _ = ioutil.ReadAll(r.Body)
			if err := f(r.URL.Query()); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
	}

	post("/vcsim/status-once", func(q url.Values) error {
		code, err := strconv.Atoi(q.Get("code"))
		if err != nil || code < 100 || code > 599 {
			return fmt.Errorf("code must be an HTTP status")
		}
		simulator.StatusSDK = code // read (and reset to 200) by the next /sdk request
		return nil
	})

	// The simulator compares Entity.DisabledMethod against its Go method name, which is the
	// vim25 name with "_Task" shortened to "Task" (PowerOnVM_Task -> PowerOnVMTask).
	setDisabled := func(q url.Values, disable bool) error {
		ref := types.ManagedObjectReference{Type: q.Get("type"), Value: q.Get("moid")}
		method := strings.Title(strings.TrimSuffix(q.Get("method"), "_Task"))
		if strings.HasSuffix(q.Get("method"), "_Task") {
			method += "Task"
		}
		if ref.Type == "" || ref.Value == "" || method == "" {
			return fmt.Errorf("type, moid and method are required")
		}
		obj := simulator.Map.Get(ref)
		e, ok := obj.(mo.Entity)
		if !ok {
			return fmt.Errorf("%s is not a managed entity here", ref)
		}
		simulator.Map.WithLock(obj, func() {
			ent := e.Entity()
			var kept []string // a new slice: model objects may share the old one
			for _, m := range ent.DisabledMethod {
				if m != method {
					kept = append(kept, m)
				}
			}
			if disable {
				kept = append(kept, method)
			}
			ent.DisabledMethod = kept
		})
		return nil
	}
	post("/vcsim/disable-method", func(q url.Values) error { return setDisabled(q, true) })
	post("/vcsim/enable-method", func(q url.Values) error { return setDisabled(q, false) })

	post("/vcsim/terminate-session", func(q url.Values) error {
		key := q.Get("key")
		if key == "" {
			return fmt.Errorf("key is required")
		}
		sm := simulator.Map.SessionManager()
		// TerminateSession refuses the caller's own session: give it an unrelated one.
		ctx := &simulator.Context{Session: &simulator.Session{UserSession: types.UserSession{Key: "vcsim-control"}}}
		body := sm.TerminateSession(ctx, &types.TerminateSession{SessionId: []string{key}})
		if f := body.Fault(); f != nil {
			return fmt.Errorf("no such session")
		}
		return nil
	})
}
