#!/usr/bin/env bash
# Regenerates the vim25 SOAP golden samples in tests/Vic.Vsphere.Tests/Golden/ by talking to a
# fresh tools/vcsim (default model) with curl. Bodies are kept byte for byte as on the wire, except
# for the dynamic values listed in Golden/README.md, which are replaced by fixed ones.
#
#   tools/vcsim/capture-golden.sh [VCSIM_BINARY]   default: what scripts/build-vcsim.sh builds
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${1:-$("$repo/scripts/build-vcsim.sh")}"
gold="$repo/tests/Vic.Vsphere.Tests/Golden"
work="$(mktemp -d)"
mkdir -p "$gold"

"$bin" -control >"$work/ready" 2>"$work/log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/ready" ] && break; sleep 0.1; done
base="$(sed -n 's#^VCSIM_URL=https://[^@]*@\([^/ ]*\)/sdk.*#https://\1#p' "$work/ready")"
[ -n "$base" ] || { cat "$work/log" >&2; exit 1; }

head='<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
tail='</soapenv:Body></soapenv:Envelope>'

# call NAME BODY: POSTs the envelope to /sdk with the session cookie, keeps request, response and headers.
call() {
  printf '%s%s%s\n' "$head" "$2" "$tail" >"$work/$1.request.xml"
  curl -sk -A 'Vic.Vsphere.Tests/golden' -b "$work/cookies" -c "$work/cookies" \
    -H 'Content-Type: text/xml; charset=utf-8' -H 'SOAPAction: "urn:vim25/6.5"' \
    -D "$work/$1.response.headers.txt" -o "$work/$1.response.xml" \
    --data-binary @"$work/$1.request.xml" "$base/sdk"
}
value() { sed -n "s#.*$1\([^<]*\)<.*#\1#p" "$work/$2.response.xml"; }

call RetrieveServiceContent '<RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent>'
call NotAuthenticated '<CreateContainerView xmlns="urn:vim25"><_this type="ViewManager">ViewManager</_this><container type="Folder">group-d1</container><type>VirtualMachine</type><recursive>true</recursive></CreateContainerView>'
call LoginFault '<Login xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this><userName>user</userName><password>wrong</password></Login>'
call Login '<Login xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this><userName>user</userName><password>pass</password></Login>'
key="$(value '<key>' Login)"
call SessionIsActive "<SessionIsActive xmlns=\"urn:vim25\"><_this type=\"SessionManager\">SessionManager</_this><sessionID>$key</sessionID><userName>user</userName></SessionIsActive>"
call CreateContainerView '<CreateContainerView xmlns="urn:vim25"><_this type="ViewManager">ViewManager</_this><container type="Folder">group-d1</container><type>VirtualMachine</type><recursive>true</recursive></CreateContainerView>'
view="$(value '<returnval type="ContainerView">' CreateContainerView)"
call RetrievePropertiesEx "<RetrievePropertiesEx xmlns=\"urn:vim25\"><_this type=\"PropertyCollector\">propertyCollector</_this><specSet><propSet><type>VirtualMachine</type><all>false</all><pathSet>name</pathSet><pathSet>runtime.powerState</pathSet><pathSet>config.uuid</pathSet></propSet><objectSet><obj type=\"ContainerView\">$view</obj><skip>true</skip><selectSet xsi:type=\"TraversalSpec\"><name>traverseEntities</name><type>ContainerView</type><path>view</path><skip>false</skip></selectSet></objectSet></specSet><options></options></RetrievePropertiesEx>"
call CreateFilter '<CreateFilter xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this><spec><propSet><type>VirtualMachine</type><all>false</all><pathSet>runtime.powerState</pathSet></propSet><objectSet><obj type="VirtualMachine">vm-63</obj><skip>false</skip></objectSet></spec><partialUpdates>false</partialUpdates></CreateFilter>'
filter="$(value '<returnval type="PropertyFilter">' CreateFilter)"
call WaitForUpdatesEx '<WaitForUpdatesEx xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this><version></version><options><maxWaitSeconds>5</maxWaitSeconds></options></WaitForUpdatesEx>'
version="$(value '<version>' WaitForUpdatesEx)"
( sleep 1
  call PowerOffVM_Task '<PowerOffVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">vm-63</_this></PowerOffVM_Task>' ) &
call WaitForUpdatesEx.modify "<WaitForUpdatesEx xmlns=\"urn:vim25\"><_this type=\"PropertyCollector\">propertyCollector</_this><version>$version</version><options><maxWaitSeconds>10</maxWaitSeconds></options></WaitForUpdatesEx>"
wait $!
task="$(value '<returnval type="Task">' PowerOffVM_Task)"
call TaskInfo "<RetrievePropertiesEx xmlns=\"urn:vim25\"><_this type=\"PropertyCollector\">propertyCollector</_this><specSet><propSet><type>Task</type><all>false</all><pathSet>info</pathSet></propSet><objectSet><obj type=\"Task\">$task</obj><skip>false</skip></objectSet></specSet><options></options></RetrievePropertiesEx>"
call WaitForUpdatesEx.timeout "<WaitForUpdatesEx xmlns=\"urn:vim25\"><_this type=\"PropertyCollector\">propertyCollector</_this><version>$version</version><options><maxWaitSeconds>1</maxWaitSeconds></options></WaitForUpdatesEx>"
curl -sk -X POST "$base/vcsim/disable-method?type=VirtualMachine&moid=vm-63&method=PowerOnVM_Task"
call MethodDisabled '<PowerOnVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">vm-63</_this></PowerOnVM_Task>'
call InstantCloneNotImplemented '<InstantClone_Task xmlns="urn:vim25"><_this type="VirtualMachine">vm-63</_this><spec><location></location><name>ic</name></spec></InstantClone_Task>'
call Logout '<Logout xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this></Logout>'

# Replace the dynamic values (see Golden/README.md) and copy into place.
fixed_key=11111111-2222-4333-8444-555555555555
fixed_view=22222222-3333-4444-8555-666666666666
fixed_filter=33333333-4444-4555-8666-777777777777
for f in "$work"/*.xml "$work"/*.headers.txt; do
  sed -e "s#${view#session\[$key\]}#$fixed_view#g" \
      -e "s#${filter#session\[$key\]}#$fixed_filter#g" \
      -e "s#$key#$fixed_key#g" \
      -e 's#<\(loginTime\|lastActiveTime\|queueTime\|startTime\|completeTime\)>[^<]*<#<\1>2024-01-02T03:04:05.123456789Z<#g' \
      -e 's#^Date: .*#Date: Tue, 02 Jan 2024 03:04:05 GMT\r#' -e '/^Content-Length: /d' \
      "$f" >"$gold/$(basename "$f")"
done
# Headers are only interesting where they carry the session cookie.
find "$gold" -name '*.headers.txt' ! -name 'Login.response.headers.txt' ! -name 'Logout.response.headers.txt' -delete
echo "golden samples written to $gold" >&2
