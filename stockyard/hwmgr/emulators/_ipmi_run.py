"""The helper process behind ``IpmiEmulator``: IPMI endpoints plus a JSON-lines control.

stdin line 1: ``{"address": ..., "nodes": [IpmiNodeSpec fields, password in clear]}``
(a pipe, never argv). stdout line 1: ``{"ports": {name: port}}``. Then one JSON request
per stdin line -> one JSON reply per stdout line: ``{"op": "state", "name": n}``,
``{"op": "set", "name": n, "field": f, "value": v}``. EOF on stdin stops the process.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

from pydantic import SecretStr

from stockyard.hwmgr.emulators.ipmi import EmulatedBmc, IpmiNodeSpec, bind_endpoint, serve

_SETTABLE = {"unresponsive", "power", "bootdev", "boot_persistent"}


def _state(bmc: EmulatedBmc) -> dict[str, Any]:
    return {
        "power": bmc.power,
        "bootdev": bmc.bootdev,
        "boot_persistent": bmc.boot_persistent,
        "last_boot": bmc.last_boot,
        "calls": list(bmc.calls),
        "unresponsive": bmc.unresponsive,
    }


def _handle(bmcs: dict[str, EmulatedBmc], request: dict[str, Any]) -> dict[str, Any]:
    bmc = bmcs.get(str(request.get("name")))
    if bmc is None:
        return {"error": f"no node {request.get('name')!r}"}
    if request.get("op") == "set" and request.get("field") in _SETTABLE:
        setattr(bmc, request["field"], request["value"])
    elif request.get("op") != "state":
        return {"error": f"bad request {request!r}"}
    return _state(bmc)


def main() -> int:
    """Bind the endpoints, report ports, serve until stdin closes."""
    setup = json.loads(sys.stdin.readline())
    bmcs: dict[str, EmulatedBmc] = {}
    for raw in setup["nodes"]:
        raw["password"] = SecretStr(raw["password"])
        spec = IpmiNodeSpec(**raw)
        bmcs[spec.name] = bind_endpoint(spec, setup.get("address", "127.0.0.1"))
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(stop,), daemon=True)
    thread.start()
    print(json.dumps({"ports": {n: b.port for n, b in bmcs.items()}}), flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(_handle(bmcs, json.loads(line))), flush=True)
    stop.set()
    thread.join(2)
    for bmc in bmcs.values():
        bmc.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
