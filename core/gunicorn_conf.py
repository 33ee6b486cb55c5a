"""gunicorn settings shared by `make serve` and the throughput benchmark (``-c python:...``).

Stopping: Ctrl-C sends SIGINT to the whole foreground process group, so each worker gets it
directly *and* as the SIGQUIT the master sends on SIGINT. gunicorn's gthread worker then runs its
``handle_quit`` twice, the second time from inside ``ThreadPoolExecutor.shutdown`` of the first,
whose lock it already holds: the worker hangs until the master's SIGKILL 30 s later, and a worker
killed that way never releases its handle on the embedded PostgreSQL, which then keeps running.
Workers therefore ignore SIGINT and stop on the master's single SIGQUIT (or SIGTERM, gracefully).
"""
import os
import shutil
import signal
from pathlib import Path

# No control socket: gunicorn's default path ($XDG_RUNTIME_DIR or ~/.gunicorn/gunicorn.ctl) is shared by
# every gunicorn of the user, and the server is controlled by signals only.
control_socket_disable = True


def post_worker_init(worker):
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# Latency histograms (core/latency.py) are kept per process; every worker writes them to files of this
# server's own folder, and /metrics sums them across workers (prometheus_client's multiprocess mode). Set
# here, in the master, before any worker imports prometheus_client; the folder of an earlier run is emptied.
_METRICS_DIR = Path(os.environ.get("TORGHUT_VAR_DIR", Path(__file__).resolve().parent.parent / "var")) / \
    "prometheus" / f"gunicorn-{os.getpid()}"


def _metrics_dir() -> str:
    parent = _METRICS_DIR.parent
    parent.mkdir(parents=True, exist_ok=True)
    for old in parent.glob("gunicorn-*"):  # folders of servers that are gone
        try:
            os.kill(int(old.name.split("-", 1)[1]), 0)
        except (ValueError, ProcessLookupError):
            shutil.rmtree(old, ignore_errors=True)
        except PermissionError:  # alive, another user's
            pass
    shutil.rmtree(_METRICS_DIR, ignore_errors=True)
    _METRICS_DIR.mkdir()
    return str(_METRICS_DIR)


os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir()


def on_exit(server):
    shutil.rmtree(_METRICS_DIR, ignore_errors=True)
