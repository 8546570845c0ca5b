#!/usr/bin/env python3
"""A TCP proxy that adds a round-trip time (and optionally a bandwidth limit).

For machines whose kernel has no `sch_netem`: every byte that crosses the
proxy, in either direction, is delivered `--rtt-ms / 2` after it arrived, and
a new connection waits one round trip before its bytes move, so a connection
and a request cost what they cost over a real link. With
`--rate-mbit`, each direction is one link shared by all connections: bytes
leave it no faster than the rate, then travel the one-way delay. TCP itself
runs on loopback on both sides, so its slow start over the long path is not
modelled; what is measured is round trips and transfer time.

    delay_proxy.py --to HOST:PORT --rtt-ms 20 [--rate-mbit 100]
                   [--listen 127.0.0.1:0] [--port-file FILE]

Python 3 standard library only. Stops on SIGTERM.
"""
import argparse
import asyncio
import os
import signal


class Link:
    """One direction of the emulated line: serialization at `rate`, then `delay`."""

    def __init__(self, delay, rate):
        self.delay = delay
        self.rate = rate  # bytes per second, 0 for unlimited
        self.free_at = 0.0

    def arrival(self, now, size):
        depart = now
        if self.rate:
            depart = max(now, self.free_at) + size / self.rate
            self.free_at = depart
        return depart + self.delay


async def pump(reader, writer, link):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def receive():
        while True:
            data = await reader.read(1 << 16)
            await queue.put((link.arrival(loop.time(), len(data)), data))
            if not data:
                return

    async def deliver():
        while True:
            at, data = await queue.get()
            wait = at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    try:
        await asyncio.gather(receive(), deliver())
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--to", required=True, help="HOST:PORT of the server")
    p.add_argument("--rtt-ms", type=float, required=True)
    p.add_argument("--rate-mbit", type=float, default=0)
    p.add_argument("--listen", default="127.0.0.1:0")
    p.add_argument("--port-file")
    args = p.parse_args()
    to_host, to_port = args.to.rsplit(":", 1)
    rate = args.rate_mbit * 1e6 / 8
    upstream = Link(args.rtt_ms / 2000, rate)
    downstream = Link(args.rtt_ms / 2000, rate)

    async def serve(client_reader, client_writer):
        # A connection costs one round trip (SYN, SYN-ACK) before its first byte.
        await asyncio.sleep(args.rtt_ms / 1000)
        try:
            server_reader, server_writer = await asyncio.open_connection(to_host, int(to_port))
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pump(client_reader, server_writer, upstream),
                             pump(server_reader, client_writer, downstream))

    host, port = args.listen.rsplit(":", 1)
    server = await asyncio.start_server(serve, host, int(port))
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(server.sockets[0].getsockname()[1]))
        os.rename(args.port_file + ".tmp", args.port_file)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
