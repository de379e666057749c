"""gunicorn settings: `gunicorn -c gunicorn.conf.py app:app`, always behind a buffering reverse proxy.

gunicorn has no timeout for reading a request's headers or body: a client that sends a request line
and one header, then nothing, holds a worker thread for as long as it keeps the connection open.
A few dozen such connections stop every worker. The proxy (deploy/nginx.conf) reads each request
completely, under its own header and body timeouts, before it opens a connection here; what reaches
gunicorn is whole requests from one trusted peer. The limits below are the second line.

Each setting may be overridden from the environment (GUNICORN_<NAME>) without editing this file.
"""
import multiprocessing
import os


def _env(name: str, default):
    value = os.environ.get(f"GUNICORN_{name.upper()}")
    return default if value in (None, "") else type(default)(value)


bind = _env("bind", "127.0.0.1:8000")  # the proxy's upstream; never exposed directly
# Threads: a request waiting on the database, an identity provider or Redis leaves the worker
# serving others (PostgreSQL in production; the sandbox's SQLite works too).
worker_class = "gthread"
# The app reads the same count (erhc_h5/config.py server_workers): production refuses a per-process
# rate-limit store (memory://) when more than one worker would each keep their own counts.
workers = _env("workers", int(os.environ.get("WEB_CONCURRENCY") or 2 * multiprocessing.cpu_count()))
threads = _env("threads", 4)
# Connections a worker holds at once (keep-alive included); past it the kernel backlog queues them.
# A worker serves every request of a connection it accepted, so the proxy's kept-alive connections
# decide how load splits between workers: deploy/nginx.conf closes each after 20 requests
# (keepalive_requests), so the workers draw for connections again (an even split is not assured).
worker_connections = _env("worker_connections", 200)
backlog = _env("backlog", 2048)

# A request still running after this is stuck: the worker is killed and replaced. Outbound calls
# carry their own shorter deadlines, so a healthy request never gets near it.
timeout = _env("timeout", 30)
graceful_timeout = _env("graceful_timeout", 30)
# Idle keep-alive from the proxy's upstream pool; shorter than nginx's upstream keepalive_timeout
# would make nginx reuse closed connections, so nginx is configured to time out first (see deploy/).
keepalive = _env("keepalive", 75)

# No legitimate request here needs more: H5 and console URLs are short, headers are a browser's.
limit_request_line = _env("limit_request_line", 4094)
limit_request_fields = _env("limit_request_fields", 64)
limit_request_field_size = _env("limit_request_field_size", 8190)

# Workers are recycled now and then (a slow leak never becomes an outage).
max_requests = _env("max_requests", 20000)
max_requests_jitter = _env("max_requests_jitter", 2000)

# Only the proxy may set X-Forwarded-*; the app trusts ERHC_TRUSTED_PROXIES hops of them.
forwarded_allow_ips = _env("forwarded_allow_ips", "127.0.0.1")
# gunicorn 25.1+ opens a control socket for `gunicornc` by default, at $XDG_RUNTIME_DIR/gunicorn.ctl or
# else $HOME/.gunicorn/gunicorn.ctl: one path shared by every gunicorn of the same user, so a second
# instance (a staging beside production, a test run) takes over or removes the first one's socket.
# Nothing here uses it: reloads are SIGHUP (`systemctl reload erhc-web`), so it stays off.
control_socket_disable = True
accesslog = _env("accesslog", "-") or None
# Query strings may carry launch tickets: log the path only.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'


def on_starting(server):
    """Hand the final worker count (``-w`` on the command line included) to the app in each worker."""
    os.environ["GUNICORN_WORKERS"] = str(server.cfg.workers)
