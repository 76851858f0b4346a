# py_deflate.py: Python's websockets library (compression on by default:
# permessage-deflate with context takeover), for TestTraceInflatesPython.
# "server" prints its port and echoes "echo " + each message; "client URL N"
# sends N JSON messages and prints each echo.
import asyncio, json, sys
import websockets

async def echo(ws, path=None):
    async for msg in ws:
        await ws.send("echo " + msg)

async def server():
    async with websockets.serve(echo, "127.0.0.1", 0) as s:
        print(s.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()

async def client(url, n):
    async with websockets.connect(url) as ws:
        for i in range(n):
            await ws.send(json.dumps({"seq": i, "user": "user%d" % (i % 3), "text": "hello " * (1 + i * 7)}))
            print(await ws.recv(), flush=True)

if sys.argv[1] == "server":
    asyncio.run(server())
else:
    asyncio.run(client(sys.argv[2], int(sys.argv[3])))
