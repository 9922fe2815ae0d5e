#!/usr/bin/env python3
"""A TCP proxy to a PostgreSQL unix socket that delays everything by a fixed time each way.

Usage: delay_proxy.py LISTEN_PORT SOCKET_PATH DELAY_MS

Used by bench/run.sh to count sequential round trips: a service connected through it spends
2 x DELAY_MS more per round trip, and statements sent together (pipelined, or concurrently on
several connections) pay the delay once. Bytes are forwarded unchanged and in order; each
chunk is delivered DELAY_MS after it arrived.
"""
import asyncio
import sys


async def pipe(reader, writer, delay):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def deliver():
        while True:
            due, data = await queue.get()
            if data is None:
                break
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()

    task = asyncio.create_task(deliver())
    try:
        while data := await reader.read(65536):
            queue.put_nowait((loop.time() + delay, data))
    except ConnectionError:
        pass
    queue.put_nowait((0, None))
    try:
        await task
    except ConnectionError:
        pass
    writer.close()


async def main(port, socket_path, delay):
    async def serve(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_unix_connection(socket_path)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            pipe(client_reader, server_writer, delay),
            pipe(server_reader, client_writer, delay),
        )

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    listen_port, socket, delay_ms = sys.argv[1], sys.argv[2], sys.argv[3]
    asyncio.run(main(int(listen_port), socket, float(delay_ms) / 1000.0))
