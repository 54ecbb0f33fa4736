"""The benchmark's receiver: a minimal aiohttp server answering 200 to POST /hook."""

from __future__ import annotations

import sys

from aiohttp import web


async def hook(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=200)


def main(port: int) -> None:
    app = web.Application()
    app.router.add_post("/hook", hook)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, backlog=1024)


if __name__ == "__main__":
    main(int(sys.argv[1]))
