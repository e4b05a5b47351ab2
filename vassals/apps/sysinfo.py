"""The sysinfo demo vassal: this host's load, memory and uptime as JSON (standard library only)."""
import json
import os
import platform


def _meminfo():
    out = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("MemTotal", "MemAvailable"):
                    out[key] = int(rest.split()[0]) * 1024
    except OSError:
        pass
    return out


def _uptime():
    try:
        with open("/proc/uptime") as f:
            return float(f.read().split()[0])
    except OSError:
        return None


def application(environ, start_response):
    info = {
        "host": platform.node(),
        "python": platform.python_version(),
        "loadavg": os.getloadavg(),
        "cpus": os.cpu_count(),
        "uptime_seconds": _uptime(),
        "memory_bytes": _meminfo(),
        "worker_pid": os.getpid(),
    }
    body = (json.dumps(info, indent=2) + "\n").encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
