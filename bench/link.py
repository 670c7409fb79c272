"""A slow link on loopback: a TCP proxy that delays and paces what it forwards.

The benchmarks run client and server on one machine, where a round trip costs
microseconds and bandwidth is memory speed; the case users feel is a VPN or a slow
office line, where the round trips and the bytes are what a download costs. This
machine's kernel has no `sch_netem`, so `tc netem` cannot add delay; a proxy in the
bench's own process can, and needs no root. Clients are given the proxy's port instead
of the server's; the server (nginx) still logs every request and byte.

What the proxy models, per direction (client to server, server to client), for all
connections together, as one link does:
- the link's bandwidth is one first-in first-out queue: a chunk read at time `a`
  starts when the link is free, takes `len / rate` to send, and arrives half a round
  trip later: `release = max(a, link free) + len / rate + rtt / 2` (so a request costs
  a round trip and a response's bytes arrive at the rate);
- a new connection's first bytes leave one round trip after it was accepted: the
  TCP handshake a real link charges before the client can send;
- each connection holds at most a window of bytes in the proxy (two round trips'
  worth, at least 256 KiB): one connection's burst cannot hold the link for long, and
  a server sending faster than the link is slowed as over a real link.
Not modelled: loss, TCP's slow start and congestion control, header bytes of the
lower layers. `calibrate` checks the model against a real fetch before a benchmark
trusts it; `python3 bench/link.py` checks more of it (the rate shared by two fetches,
one round trip for a request on an open connection) and fails if it is more than 10% off.
"""

import http.client
import queue
import socket
import threading
import time

# Bytes read at a time: small enough that pacing is smooth at a few Mbit/s.
CHUNK = 16 << 10


class Link:
    """One direction of the link: its rate, its delay and when it is next free."""

    def __init__(self, bytes_per_s: float, rtt_s: float):
        self.bytes_per_s = bytes_per_s
        self.one_way_s = rtt_s / 2
        self.free_at = 0.0
        self.lock = threading.Lock()

    def release_time(self, arrival: float, size: int) -> float:
        """When `size` bytes that reached the link at `arrival` come out of its far end;
        reserves the link for them."""
        with self.lock:
            self.free_at = max(arrival, self.free_at) + size / self.bytes_per_s
            return self.free_at + self.one_way_s


class Proxy:
    """Listens on a loopback port and forwards each connection to `server_port` over
    a simulated link of `mbit_per_s` and `rtt_ms` (see the module's doc)."""

    def __init__(self, server_port: int, mbit_per_s: float, rtt_ms: float):
        self.server_port = server_port
        self.bytes_per_s = mbit_per_s * 1e6 / 8
        self.rtt_s = rtt_ms / 1000
        self.up = Link(self.bytes_per_s, self.rtt_s)
        self.down = Link(self.bytes_per_s, self.rtt_s)
        window = max(256 << 10, int(2 * self.bytes_per_s * self.rtt_s))
        self.window_chunks = -(-window // CHUNK)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def close(self) -> None:
        self.listener.close()

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            accepted_at = time.monotonic()
            threading.Thread(target=self._connection, args=(client, accepted_at), daemon=True).start()

    def _connection(self, client: socket.socket, accepted_at: float) -> None:
        try:
            server = socket.create_connection(("127.0.0.1", self.server_port))
        except OSError:
            client.close()
            return
        for sock in (client, server):
            # Our writes are already paced; Nagle and delayed ACKs would add their own waits.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        handshake_done = accepted_at + self.rtt_s
        pumps = [
            threading.Thread(target=self._pump, args=(client, server, self.up, handshake_done), daemon=True),
            threading.Thread(target=self._pump, args=(server, client, self.down, 0.0), daemon=True),
        ]
        for pump in pumps:
            pump.start()
        for pump in pumps:
            pump.join()
        client.close()
        server.close()

    def _pump(self, src: socket.socket, dst: socket.socket, link: Link, not_before: float) -> None:
        """Forwards src to dst over `link`, then src's end of stream; returns when both
        have been delivered or one side is gone."""
        in_flight: queue.Queue = queue.Queue()
        room = threading.Semaphore(self.window_chunks)
        sender = threading.Thread(target=self._deliver, args=(in_flight, room, src, dst), daemon=True)
        sender.start()
        while True:
            room.acquire()
            try:
                data = src.recv(CHUNK)
            except OSError:
                data = b""
            arrival = max(time.monotonic(), not_before)
            in_flight.put((link.release_time(arrival, len(data)), data))
            if not data:
                break
        sender.join()

    @staticmethod
    def _deliver(in_flight: queue.Queue, room: threading.Semaphore, src: socket.socket, dst: socket.socket) -> None:
        """Sends each chunk at its release time; an empty chunk is the end of the stream.
        If dst is gone, src is shut so that its reader stops taking up the link."""
        gone = False
        while True:
            release, data = in_flight.get()
            if not gone:
                time.sleep(max(0.0, release - time.monotonic()))
                try:
                    if data:
                        dst.sendall(data)
                    else:
                        dst.shutdown(socket.SHUT_WR)
                except OSError:
                    gone = True
                    try:
                        src.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            room.release()
            if not data:
                return


def fetch(port: int, path: str) -> tuple[int, bytes]:
    """GET path from a loopback port on a new connection: (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def calibrate(proxy: Proxy, path: str, size: int, tolerance: float = 0.10) -> str:
    """Fetches `path` (`size` bytes) through the proxy and compares the time with what
    the model says: the handshake's and the request's round trips and the bytes at the
    rate. Returns the calibration line; raises SystemExit if off by more than tolerance."""
    expected = size / proxy.bytes_per_s + 2 * proxy.rtt_s
    start = time.monotonic()
    status, body = fetch(proxy.port, path)
    took = time.monotonic() - start
    if status != 200 or len(body) != size:
        raise SystemExit(f"link calibration: {path} came back as {status}, {len(body)} bytes, "
                         f"not 200 and {size} bytes: is the server serving it?")
    off = took / expected - 1
    line = (f"link calibration: {size / (1 << 20):.0f} MiB through the proxy in {took:.2f} s, the model says "
            f"{expected:.2f} s (bytes / rate + 2 RTT: connect and request): {off:+.1%}")
    if abs(off) > tolerance:
        raise SystemExit(f"{line}\nmore than {tolerance:.0%} off: the machine is too busy for the proxy to pace "
                         "the link; try again when it is idle")
    return line


def self_check(mbit_per_s: float = 20, rtt_ms: float = 100, tolerance: float = 0.10) -> None:
    """`python3 bench/link.py`: checks the model's promises against a local HTTP server:
    a fetch costs its round trips and its bytes at the rate, two fetches at once share
    the rate, and a request on an open connection costs one round trip."""
    import functools
    import http.server
    import tempfile
    from pathlib import Path

    size = 2 << 20
    with tempfile.TemporaryDirectory() as root:
        Path(root, "big").write_bytes(bytes(size))
        Path(root, "small").write_bytes(b"x")

        class Handler(http.server.SimpleHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keeps connections open

            def log_message(self, *_):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=root))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        proxy = Proxy(server.server_address[1], mbit_per_s, rtt_ms)

        def fetch_twice(path: str) -> float:
            """Fetches path on a new connection, then again on the same one; the second's time."""
            conn = http.client.HTTPConnection("127.0.0.1", proxy.port)
            for _ in range(2):
                start = time.monotonic()
                conn.request("GET", path)
                conn.getresponse().read()
            conn.close()
            return time.monotonic() - start

        def at_once(count: int) -> float:
            start = time.monotonic()
            fetches = [threading.Thread(target=fetch, args=(proxy.port, "/big")) for _ in range(count)]
            for thread in fetches:
                thread.start()
            for thread in fetches:
                thread.join()
            return time.monotonic() - start

        checks = [
            ("one fetch", at_once(1), size / proxy.bytes_per_s + 2 * proxy.rtt_s),
            ("two fetches at once", at_once(2), 2 * size / proxy.bytes_per_s + 2 * proxy.rtt_s),
            ("a request on an open connection", fetch_twice("/small"), proxy.rtt_s),
        ]
        proxy.close()
        server.shutdown()
    failed = False
    for name, took, expected in checks:
        off = took / expected - 1
        failed |= abs(off) > tolerance
        print(f"{name}: {took:.3f} s, the model says {expected:.3f} s: {off:+.1%}"
              f"{'' if abs(off) <= tolerance else f'  FAILED: more than {tolerance:.0%} off'}")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    self_check()
