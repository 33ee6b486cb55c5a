"""gunicorn settings shared by `make serve` and the throughput benchmark (``-c python:...``).

Stopping: Ctrl-C sends SIGINT to the whole foreground process group, so each worker gets it
directly *and* as the SIGQUIT the master sends on SIGINT. gunicorn's gthread worker then runs its
``handle_quit`` twice, the second time from inside ``ThreadPoolExecutor.shutdown`` of the first,
whose lock it already holds: the worker hangs until the master's SIGKILL 30 s later, and a worker
killed that way never releases its handle on the embedded PostgreSQL, which then keeps running.
Workers therefore ignore SIGINT and stop on the master's single SIGQUIT (or SIGTERM, gracefully).
"""
import signal

# No control socket: gunicorn's default path ($XDG_RUNTIME_DIR or ~/.gunicorn/gunicorn.ctl) is shared by
# every gunicorn of the user, and the server is controlled by signals only.
control_socket_disable = True


def post_worker_init(worker):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
