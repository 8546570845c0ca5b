"""Serves a test server's handler on 127.0.0.1 at a free port, written to a file."""
import os
from http.server import ThreadingHTTPServer


class Server(ThreadingHTTPServer):
    """A threading HTTP server whose listen queue holds a client's parallel
    connections: socketserver's default of 5 drops SYNs beyond it, and the
    client's retransmission then adds a whole second to a request."""

    request_queue_size = 128
    daemon_threads = True


def serve(handler, port_file):
    """Binds port 0, renames the port number into `port_file`, serves forever."""
    server = Server(("127.0.0.1", 0), handler)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()
