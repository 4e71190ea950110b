# Request/response round trip on one open connection (python sockets): COUNT exchanges of a 64-byte
# message with an echo server at HOST:PORT. Prints JSON: p50/p99 in ms and the count.
import json
import socket
import sys
import time

host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
s = socket.socket(family)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.settimeout(10)
s.connect(address)
message = b"x" * 64
times = []
for i in range(count + 50):
    t = time.perf_counter()
    s.sendall(message)
    got = 0
    while got < len(message):
        data = s.recv(len(message) - got)
        if not data:
            raise SystemExit("the echo server closed the connection")
        got += len(data)
    if i >= 50:  # warm-up
        times.append((time.perf_counter() - t) * 1000)
s.close()
times.sort()
print(json.dumps({"count": len(times), "p50": round(times[len(times) // 2], 4), "p99": round(times[int(len(times) * 0.99)], 4)}))
