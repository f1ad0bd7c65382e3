package main

import (
	"bytes"
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"html"
	"io/ioutil"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// InstantCloneParentKey is the extraConfig key an instant clone carries with its parent's moref, so
// that whatever plays the guests (the tests' SimulatedGuests) can fork the parent's guest for it.
const InstantCloneParentKey = "vcsim.instantClone.parent"

type moref struct {
	Type  string `xml:"type,attr"`
	Value string `xml:",chardata"`
}

// instantCloneRequest is the part of an InstantClone_Task request (vSphere 6.7) the simulator uses.
type instantCloneRequest struct {
	Body struct {
		Call struct {
			This struct {
				Value string `xml:",chardata"`
			} `xml:"_this"`
			Spec struct {
				Name     string `xml:"name"`
				Location struct {
					Folder       *moref `xml:"folder"`
					Pool         *moref `xml:"pool"`
					DeviceChange []struct {
						Inner string `xml:",innerxml"`
					} `xml:"deviceChange"`
				} `xml:"location"`
				Config []struct {
					Key   string `xml:"key"`
					Value string `xml:"value"`
				} `xml:"config"`
			} `xml:"spec"`
		} `xml:"InstantClone_Task"`
	} `xml:"Body"`
}

var (
	returnedTask     = regexp.MustCompile(`<returnval type="Task">([^<]+)</returnval>`)
	instantCloneCall = regexp.MustCompile(`<([A-Za-z0-9_]+:)?InstantClone_Task[\s>]`)
	powerStateValue  = regexp.MustCompile(`<val[^>]*>(poweredOn|poweredOff|suspended)</val>`)
	missingFault     = regexp.MustCompile(`<missingSet>.*?:type="([A-Za-z]+)"`)
	deviceKey        = regexp.MustCompile(`<key>-?[0-9]+</key>`)
)

// withInstantClone serves InstantClone_Task, which govmomi 0.24's simulator does not have, in front
// of the simulator's own /sdk handler: the source must be powered on (InvalidPowerState otherwise,
// as vSphere answers; its power state is read through the API in the caller's session, so a session
// that is gone answers NotAuthenticated); the clone is made by the simulator's CloneVM_Task into the spec's folder and
// pool with the spec's config as its extraConfig plus its parent's moref, and powered on before the
// task is handed back, so a client that waits for the task finds the clone running, as it would
// find an instant clone. Every other request goes to the simulator untouched. The -control hooks
// (disable-method, method delays) do not reach InstantClone_Task.
func withInstantClone(sdk http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/sdk" {
			sdk.ServeHTTP(w, r)
			return
		}
		body, err := ioutil.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if !instantCloneCall.Match(body) {
			r.Body = ioutil.NopCloser(bytes.NewReader(body))
			sdk.ServeHTTP(w, r)
			return
		}
		var req instantCloneRequest
		if err := xml.Unmarshal(body, &req); err != nil || req.Body.Call.This.Value == "" {
			writeFault(w, "InvalidRequest", "", "the InstantClone_Task request cannot be read")
			return
		}
		instantClone(sdk, w, r, req)
	})
}

func instantClone(sdk http.Handler, w http.ResponseWriter, r *http.Request, req instantCloneRequest) {
	call := req.Body.Call
	source := types.ManagedObjectReference{Type: "VirtualMachine", Value: call.This.Value}

	// Asked through the API in the caller's session first: a session that is gone answers
	// NotAuthenticated and a source that is not there ManagedObjectNotFound, as the simulator's own methods do.
	status, answer := callSDK(sdk, r, fmt.Sprintf(`<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this><specSet><propSet><type>VirtualMachine</type><pathSet>runtime.powerState</pathSet></propSet><objectSet><obj type="VirtualMachine">%s</obj></objectSet></specSet><options></options></RetrievePropertiesEx>`, html.EscapeString(source.Value)))
	if status != http.StatusOK {
		passOn(w, status, answer)
		return
	}
	if m := missingFault.FindStringSubmatch(answer); m != nil {
		// The property could not be read for the caller (a session that is gone: NotAuthenticated).
		writeFault(w, m[1], `<object type="VirtualMachine">`+html.EscapeString(source.Value)+`</object>`, "the source VM cannot be read: "+m[1])
		return
	}
	power := "poweredOff"
	if m := powerStateValue.FindStringSubmatch(answer); m != nil {
		power = m[1]
	}
	if power != string(types.VirtualMachinePowerStatePoweredOn) {
		writeFault(w, "InvalidPowerState", "<requestedState>poweredOn</requestedState><existingState>"+html.EscapeString(power)+"</existingState>", "The attempted operation cannot be performed in the current state ("+power+").")
		return
	}

	folder, pool := moref{Type: "Folder"}, moref{Type: "ResourcePool"}
	if vm, ok := simulator.Map.Get(source).(*simulator.VirtualMachine); ok {
		simulator.Map.WithLock(vm, func() {
			folder.Value = vm.Parent.Value
			if vm.ResourcePool != nil {
				pool = moref{Type: vm.ResourcePool.Type, Value: vm.ResourcePool.Value}
			}
		})
	}
	if f := call.Spec.Location.Folder; f != nil {
		folder = moref{Type: orDefault(f.Type, "Folder"), Value: f.Value}
	}
	if p := call.Spec.Location.Pool; p != nil {
		pool = moref{Type: orDefault(p.Type, "ResourcePool"), Value: p.Value}
	}

	var extra bytes.Buffer
	for _, o := range call.Spec.Config {
		fmt.Fprintf(&extra, `<extraConfig><key>%s</key><value xsi:type="xsd:string">%s</value></extraConfig>`, html.EscapeString(o.Key), html.EscapeString(o.Value))
	}
	fmt.Fprintf(&extra, `<extraConfig><key>%s</key><value xsi:type="xsd:string">%s</value></extraConfig>`, InstantCloneParentKey, html.EscapeString(source.Value))
	// The spec's device edits (a NIC's MAC, its port group) go to the clone as the relocation's, which the simulator applies.
	var edits bytes.Buffer
	for _, d := range call.Spec.Location.DeviceChange {
		// The simulator's edit clears the device's description, which vSphere does not ask a client for: one is given.
		inner := d.Inner
		if !strings.Contains(inner, "<deviceInfo>") {
			inner = deviceKey.ReplaceAllString(inner, `$0<deviceInfo><label>edited</label><summary>edited</summary></deviceInfo>`)
		}
		fmt.Fprintf(&edits, `<deviceChange>%s</deviceChange>`, inner)
	}
	// vSphere gives every VM an instance UUID of its own; the simulator would derive the clone's from
	// its path, so a clone made again under a name used before would get the old one's.
	clone := fmt.Sprintf(`<CloneVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">%s</_this><folder type="%s">%s</folder><name>%s</name><spec><location><pool type="%s">%s</pool>%s</location><template>false</template><config><instanceUuid>%s</instanceUuid>%s</config><powerOn>true</powerOn></spec></CloneVM_Task>`,
		html.EscapeString(source.Value), html.EscapeString(folder.Type), html.EscapeString(folder.Value), html.EscapeString(call.Spec.Name), html.EscapeString(pool.Type), html.EscapeString(pool.Value), edits.String(), randomUUID(), extra.String())
	status, answer = callSDK(sdk, r, clone)
	match := returnedTask.FindStringSubmatch(answer)
	if status != http.StatusOK || match == nil {
		// The simulator's own fault (a name taken, a pool that is not one): passed on as it is.
		passOn(w, status, answer)
		return
	}
	task := types.ManagedObjectReference{Type: "Task", Value: match[1]}
	if info := waitTask(task); info.State == types.TaskInfoStateSuccess {
		// vcsim ignores powerOn in a clone spec: an instant clone runs at once, or the call fails as the power-on did.
		made := info.Result.(types.ManagedObjectReference)
		status, on := callSDK(sdk, r, fmt.Sprintf(`<PowerOnVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">%s</_this></PowerOnVM_Task>`, made.Value))
		powered := returnedTask.FindStringSubmatch(on)
		if status != http.StatusOK || powered == nil {
			passOn(w, status, on)
			return
		}
		if result := waitTask(types.ManagedObjectReference{Type: "Task", Value: powered[1]}); result.State != types.TaskInfoStateSuccess {
			writeFault(w, "InvalidState", "", "the instant clone "+made.Value+" was made but did not power on")
			return
		}
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = w.Write([]byte(envelope(fmt.Sprintf(`<InstantClone_TaskResponse xmlns="urn:vim25"><returnval type="Task">%s</returnval></InstantClone_TaskResponse>`, task.Value))))
}

// randomUUID is a version 4 UUID.
func randomUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func orDefault(value, fallback string) string {
	if value == "" {
		return fallback
	}
	return value
}

// passOn answers with what the simulator answered.
func passOn(w http.ResponseWriter, status int, answer string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(answer))
}

// callSDK makes a SOAP call to the simulator in the caller's session (its cookie); returns the HTTP status and the answer.
func callSDK(sdk http.Handler, r *http.Request, call string) (int, string) {
	inner := r.Clone(r.Context())
	payload := []byte(envelope(call))
	inner.Body = ioutil.NopCloser(bytes.NewReader(payload))
	inner.ContentLength = int64(len(payload))
	recorder := httptest.NewRecorder()
	sdk.ServeHTTP(recorder, inner)
	return recorder.Code, recorder.Body.String()
}

// waitTask waits (up to a minute) for a simulator task to end and returns its info.
func waitTask(ref types.ManagedObjectReference) types.TaskInfo {
	var info types.TaskInfo
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		task, ok := simulator.Map.Get(ref).(*simulator.Task)
		if !ok {
			return info
		}
		simulator.Map.WithLock(task, func() { info = task.Info })
		if info.State == types.TaskInfoStateSuccess || info.State == types.TaskInfoStateError {
			return info
		}
	}
	return info
}

func envelope(body string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>` + body + `</soapenv:Body></soapenv:Envelope>`
}

// writeFault answers with a SOAP fault whose detail names the vim25 fault, as vSphere does.
func writeFault(w http.ResponseWriter, name, fields, message string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte(envelope(fmt.Sprintf(`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>%s</faultstring><detail><%sFault xmlns="urn:vim25" xsi:type="%s">%s</%sFault></detail></soapenv:Fault>`,
		html.EscapeString(message), name, name, fields, name))))
}
