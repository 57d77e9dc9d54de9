"""
fcgi.py - a FastCGI client (responder role) that talks to a worker the way
nginx does: the same parameters, optionally a kept-alive connection. Used
to drive a worker directly, past the front.
"""

import socket
import struct
import urllib.parse

from .core import TestFailure, excerpt
from .web import Headers

BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT = 1, 3, 4, 5, 6
RESPONDER, KEEP_CONN = 1, 1
MAX_CONTENT = 65535


def record(rtype, content, req_id=1):
    pad = -len(content) % 8
    return (struct.pack("!BBHHBx", 1, rtype, req_id, len(content), pad)
            + content + b"\0" * pad)


def stream(rtype, data):
    """data as records of rtype, then the empty record that ends the stream."""
    return b"".join(record(rtype, data[i:i + MAX_CONTENT])
                    for i in range(0, len(data), MAX_CONTENT)) + record(rtype, b"")


def begin(keep=False):
    return record(BEGIN_REQUEST, struct.pack("!HB5x", RESPONDER, KEEP_CONN if keep else 0))


def _length(n):
    return bytes([n]) if n < 128 else struct.pack("!I", n | 0x80000000)


def encode_params(p):
    pairs = b""
    for k, v in p.items():
        k, v = k.encode(), v.encode()
        pairs += _length(len(k)) + _length(len(v)) + k + v
    return stream(PARAMS, pairs)


def params(method, uri, port=80, cookie=None, body=b"", headers=None, extra=None):
    """The parameters nginx sends for a request (deploy/nginx/local.conf.in):
    cookie is a Cookie header value, headers become HTTP_* parameters, extra
    are set as they are (REMOTE_ADDR, HTTPS, ...)."""
    path, _, query = uri.partition("?")
    p = {
        "QUERY_STRING": query, "REQUEST_METHOD": method,
        "CONTENT_TYPE": "application/x-www-form-urlencoded" if body else "",
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "SCRIPT_NAME": path, "REQUEST_URI": uri, "DOCUMENT_URI": path,
        "REQUEST_SCHEME": "http", "SERVER_PROTOCOL": "HTTP/1.1",
        "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_SOFTWARE": "nginx",
        "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "40000", "SERVER_ADDR": "127.0.0.1",
        "SERVER_PORT": str(port), "SERVER_NAME": "localhost", "HTTP_PROXY": "",
        "HTTP_HOST": f"127.0.0.1:{port}",
    }
    if cookie:
        p["HTTP_COOKIE"] = cookie
    for k, v in (headers or {}).items():
        p["HTTP_" + k.upper().replace("-", "_")] = v
    p.update(extra or {})
    return p


class Response(Headers):
    """A worker's answer: the CGI headers (Status, else 200) and the body."""

    def __init__(self, stdout):
        head, _, body = stdout.partition(b"\r\n\r\n")
        self.header_list = []
        for line in head.decode("latin-1").split("\r\n"):
            n, colon, v = line.partition(":")
            if colon:
                self.header_list.append((n.strip(), v.strip()))
        st = self.header("Status")
        self.status = int(st.split()[0]) if st else 200
        self.raw = body
        self.body = body.decode("utf-8", "replace")

    def get_all(self, name):
        return [v for n, v in self.header_list if n.lower() == name.lower()]

    def describe(self):
        return f"{self.status} headers={self.header_list} body={excerpt(self.body, 200)!r}"


def status_of(stdout):
    """The HTTP status of a worker's raw answer."""
    return Response(stdout).status


class Connection:
    """One connection to a worker. With keep=True each request asks the
    worker to keep the connection open for the next one (as nginx's
    fastcgi_keep_conn does)."""

    def __init__(self, port, timeout=15.0, keep=True, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.keep = keep
        self.buf = b""
        self.begun = False

    def send(self, data):
        self.sock.sendall(data)

    def begin(self):
        """Sends only the BEGIN_REQUEST of the next request: the thread that
        takes the connection waits for the rest and serves nothing else."""
        self.send(begin(self.keep))
        self.begun = True

    def send_request(self, prm, body=b""):
        """Sends one request (the rest of it, after begin()) without
        reading the answer."""
        msg = b"" if self.begun else begin(self.keep)
        self.begun = False
        self.send(msg + encode_params(prm) + stream(STDIN, body))

    def request(self, prm, body=b""):
        """Sends one request (the rest of it, after begin()) and reads the
        answer."""
        self.send_request(prm, body)
        return Response(self.read())

    def read(self):
        """Reads records until END_REQUEST; returns the stdout bytes. Raises
        TestFailure when the connection closes first."""
        out = b""
        while True:
            self._fill(8)
            _, rtype, _, clen, plen = struct.unpack("!BBHHBx", self.buf[:8])
            self._fill(8 + clen + plen, out)
            content = self.buf[8:8 + clen]
            self.buf = self.buf[8 + clen + plen:]
            if rtype == STDOUT:
                out += content
            elif rtype == END_REQUEST:
                return out

    def _fill(self, n, out=b""):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise TestFailure(f"FastCGI connection closed before END_REQUEST "
                                  f"(stdout so far {excerpt(out)!r})")
            self.buf += chunk

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def request(port, method, uri, cookies=None, form=None, headers=None,
            extra=None, timeout=15.0):
    """One request on a connection of its own: cookies {name: value}, form
    {field: value} as an urlencoded body."""
    body = urllib.parse.urlencode(form).encode() if form is not None else b""
    cookie = "; ".join(f"{k}={v}" for k, v in (cookies or {}).items())
    c = Connection(port, timeout, keep=False)
    try:
        return c.request(params(method, uri, port, cookie, body, headers, extra), body)
    finally:
        c.close()
