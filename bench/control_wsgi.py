"""The soak's control: a bare WSGI answer in a process of its own, beside the app under test.

Its latency, measured by the same client in the same minutes, moves with what the machine does to
every process (other work on the shared cores, the client's own threads), not with the app."""


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
