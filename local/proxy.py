"""A TCP proxy that a test can cut: a broker that goes away and comes back, on demand.

    python -m local.proxy --listen 127.0.0.1:19093 --target 127.0.0.1:9092

The reliability tests run it in-process: ``cut()`` closes every connection and refuses
new ones (connection refused, as from a broker that is down), ``restore()`` listens on
the same port again. A Kafka broker tells clients to reconnect to its advertised listener, so a
proxy only stays in the path if the broker behind it advertises the proxy's address
(``python -m local.broker up --advertise HOST:PORT``).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1", port: int = 0):
        self.target = (target_host, target_port)
        self.host, self.port = host, port
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)

    def start(self) -> "TcpProxy":
        self._thread.start()
        self._call(self._listen())
        return self

    def cut(self) -> None:
        self._call(self._cut())

    def restore(self) -> None:
        self._call(self._listen())

    def close(self) -> None:
        self._call(self._cut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def is_cut(self) -> bool:
        return self._server is None

    def _call(self, coroutine) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, self.host, self.port)
            self.port = self._server.sockets[0].getsockname()[1]

    async def _cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._open):
            writer.transport.abort()
        if server is not None:
            await server.wait_closed()

    async def _accept(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        try:
            target_in, target_out = await asyncio.open_connection(*self.target)
        except OSError:
            client_out.transport.abort()
            return
        self.connections += 1
        self._open.update((client_out, target_out))
        await asyncio.gather(
            self._pipe(client_in, target_out, (client_out, target_out)),
            self._pipe(target_in, client_out, (client_out, target_out)),
        )
        self._open.difference_update((client_out, target_out))

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, both: tuple[asyncio.StreamWriter, ...]
    ) -> None:
        """Copy one direction; when either side ends, end both (Kafka never half-closes)."""
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except OSError:
            pass
        finally:
            for writer in both:
                writer.transport.abort()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, type=_address, help="HOST:PORT to listen on")
    parser.add_argument("--target", required=True, type=_address, help="HOST:PORT to forward to")
    args = parser.parse_args(argv)
    proxy = TcpProxy(*args.target, *args.listen).start()
    signal.signal(signal.SIGUSR1, lambda *_: proxy.cut())
    signal.signal(signal.SIGUSR2, lambda *_: proxy.restore())
    print(
        f"proxy {proxy.host}:{proxy.port} -> {args.target[0]}:{args.target[1]}; "
        "SIGUSR1 cuts it, SIGUSR2 restores it, Ctrl-C stops it",
        flush=True,
    )
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    proxy.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
