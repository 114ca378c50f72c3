"""Prints one tenant's controls and conditions as a table (reads `kubectl get -o json` on stdin)."""

import json
import sys

tenant = json.load(sys.stdin)
status = tenant.get("status") or {}
print("{:<18} {:<8} {}".format("CONTROL", "STATUS", "MESSAGE"))
for control in status.get("controls", []):
    print("{:<18} {:<8} {}".format(control["id"], control["status"], control["message"]))
for cond in status.get("conditions", []):
    print("condition {}={} ({}): {}".format(cond["type"], cond["status"], cond["reason"], cond["message"]))
