#!/usr/bin/env bash
# The whole test suite. Exits non-zero if any test fails or none ran; ends with one
# "N passed, N failed" line summed over every test project.
set -uo pipefail
config=${1:-Release}
results=out/test-results
rm -rf "$results"
mkdir -p "$results"

dotnet build VIC.sln -c "$config" -warnaserror --nologo -v quiet || exit 1
# One test assembly at a time (-m:1: MSBuild otherwise runs one per core): several of
# them boot ContainerVMs under TCG, and two of those at once on two cores make timeouts.
dotnet test VIC.sln -c "$config" --no-build --nologo -m:1 \
  --logger "trx" --logger "console;verbosity=minimal" --results-directory "$results" \
  -- RunConfiguration.MaxCpuCount=1
status=$?

python3 - "$results" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
passed = failed = skipped = 0
for path in sorted(glob.glob(sys.argv[1] + "/*.trx")):
    root = ET.parse(path).getroot()
    # The failures again at the end, where a CI log's tail shows them.
    for result in root.iter("{%s}UnitTestResult" % ns["t"]):
        if result.get("outcome") not in ("Passed", "NotExecuted"):
            message = result.find("t:Output/t:ErrorInfo/t:Message", ns)
            text = (message.text or "").strip().splitlines() if message is not None else []
            # The first lines carry the command's exit, stdout and stderr; the rest (endpoint logs) is in the trx.
            head = [line[:300] for line in text[:6]]
            print(f"FAILED {result.get('testName')} ({result.get('duration')}): " + "\n    ".join(head))
    counters = root.find("t:ResultSummary/t:Counters", ns)
    passed += int(counters.get("passed", 0))
    failed += int(counters.get("failed", 0)) + int(counters.get("error", 0)) + int(counters.get("timeout", 0))
    skipped += int(counters.get("notExecuted", 0))
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or passed == 0 else 0)
PY
summary=$?
[ $status -eq 0 ] && [ $summary -eq 0 ]
