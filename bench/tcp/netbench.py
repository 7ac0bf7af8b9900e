#!/usr/bin/env python3
"""Connect rate and request/response latency for bench/tcp/compare.sh.

server PORT            echo server on 127.0.0.1 and 0.0.0.0 (threads; 'c' closes first on request)
rate HOST PORT SECS MODE   connect + 32-byte request + reply + close in a loop; MODE server|client = who closes first
rr HOST PORT N         N 1-byte request/response round trips on one connection; prints p50/p99 in microseconds
userver PORT           UDP echo server on 0.0.0.0 (one thread, echoes each datagram to its sender)
urr HOST PORT N        N sequential 32-byte UDP request/response round trips from one socket; prints p50/p99 in
                       microseconds and the number of lost round trips (1 s timeout each, not counted in the latency)
"""
import socket, sys, threading, time


def serve(port):
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("0.0.0.0", port))
    l.listen(4096)

    def handle(c):
        with c:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while True:
                d = c.recv(65536)
                if not d:
                    return
                c.sendall(d)
                if d.startswith(b"S"):  # server closes first
                    return

    while True:
        c, _ = l.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def rate(host, port, secs, mode):
    n = errors = 0
    end = time.time() + secs
    msg = (b"S" if mode == "server" else b"C") * 32
    while time.time() < end:
        try:
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                d = s.recv(64)
                if not d:
                    break
                got += d
            if mode == "server":
                s.recv(1)  # wait for the server's FIN
            s.close()
            n += 1 if got == msg else 0
            errors += 0 if got == msg else 1
        except OSError:
            errors += 1
    print(f"{n / secs:.0f} {errors}")


def rr(host, port, count):
    s = socket.create_connection((host, port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    lat = []
    for _ in range(count):
        t = time.perf_counter_ns()
        s.sendall(b"x")
        s.recv(1)
        lat.append((time.perf_counter_ns() - t) / 1000)
    s.close()
    lat.sort()
    print(f"{lat[len(lat) // 2]:.0f} {lat[int(len(lat) * 0.99)]:.0f}")


def userve(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    while True:
        d, peer = s.recvfrom(65536)
        s.sendto(d, peer)


def urr(host, port, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((host, port))
    s.settimeout(1.0)
    lat, lost = [], 0
    for i in range(count):
        msg = i.to_bytes(4, "big") * 8  # 32 bytes, unique per round trip
        t = time.perf_counter_ns()
        s.send(msg)
        try:
            while s.recv(64) != msg:  # a late reply to an earlier (lost) round trip: skip it
                pass
            lat.append((time.perf_counter_ns() - t) / 1000)
        except socket.timeout:
            lost += 1
    s.close()
    if not lat:
        print(f"err err {lost}")
        return
    lat.sort()
    print(f"{lat[len(lat) // 2]:.0f} {lat[min(len(lat) - 1, int(len(lat) * 0.99))]:.0f} {lost}")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "server":
        serve(int(sys.argv[2]))
    elif cmd == "rate":
        rate(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
    elif cmd == "rr":
        rr(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "userver":
        userve(int(sys.argv[2]))
    elif cmd == "urr":
        urr(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
