"""fcgi.py - a minimal FastCGI client (responder role, kept-alive connection),
enough to drive one worker directly, the way nginx does, for the callgrind
counts. Standard library only."""
import socket
import struct

BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR = 1, 3, 4, 5, 6, 7
RESPONDER, KEEP_CONN = 1, 1


def _len(n):
    return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)


def _pair(name, value):
    n, v = name.encode(), value.encode()
    return _len(len(n)) + _len(len(v)) + n + v


def _record(rtype, content, rid=1):
    pad = (-len(content)) % 8
    return struct.pack(">BBHHBx", 1, rtype, rid, len(content), pad) + content + b"\0" * pad


def params(method, uri, cookie=None, body=b"", headers=None, port=80):
    """The parameters nginx sends (deploy/nginx/local.conf.in and fastcgi_params)."""
    path, _, query = uri.partition("?")
    p = {
        "QUERY_STRING": query, "REQUEST_METHOD": method,
        "CONTENT_TYPE": "application/x-www-form-urlencoded" if body else "",
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "SCRIPT_NAME": path, "REQUEST_URI": uri, "DOCUMENT_URI": path,
        "DOCUMENT_ROOT": "/", "REQUEST_SCHEME": "http", "SERVER_PROTOCOL": "HTTP/1.1",
        "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_SOFTWARE": "nginx",
        "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "40000", "SERVER_ADDR": "127.0.0.1",
        "SERVER_PORT": str(port), "SERVER_NAME": "localhost", "HTTP_PROXY": "",
        "HTTP_HOST": "127.0.0.1:%d" % port, "HTTP_USER_AGENT": "bench",
        "HTTP_ACCEPT": "*/*",
    }
    if cookie:
        p["HTTP_COOKIE"] = cookie
    for k, v in (headers or {}).items():
        p["HTTP_" + k.upper().replace("-", "_")] = v
    return p


class Client:
    def __init__(self, host, port, timeout=60):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _fill(self, n):
        while len(self.buf) < n:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError("FastCGI connection closed")
            self.buf += d

    def request(self, prm, body=b""):
        """Sends one request on the kept connection; returns the stdout bytes
        (CGI headers + body)."""
        out = [_record(BEGIN_REQUEST, struct.pack(">HB5x", RESPONDER, KEEP_CONN))]
        p = b"".join(_pair(k, v) for k, v in prm.items())
        for i in range(0, len(p), 65535):
            out.append(_record(PARAMS, p[i:i + 65535]))
        out.append(_record(PARAMS, b""))
        for i in range(0, len(body), 65535):
            out.append(_record(STDIN, body[i:i + 65535]))
        out.append(_record(STDIN, b""))
        self.sock.sendall(b"".join(out))
        stdout = []
        while True:
            self._fill(8)
            _, rtype, _, clen, plen = struct.unpack(">BBHHB", self.buf[:7])
            self._fill(8 + clen + plen)
            content = self.buf[8:8 + clen]
            self.buf = self.buf[8 + clen + plen:]
            if rtype == STDOUT:
                stdout.append(content)
            elif rtype == END_REQUEST:
                return b"".join(stdout)


def status_of(stdout):
    """The status of a CGI response: the Status header, else 200."""
    head = stdout.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"status:"):
            return int(line.split()[1])
    return 200
