#!/usr/bin/env python3
"""A stand-in for systemd's notification socket (tests/e2e/transfer/notify*.sh).

notify_listener.py SOCKET LOG PORT: bind an AF_UNIX datagram socket at SOCKET
(a path), write "LISTENING" to LOG, then one line per datagram received:
"<CLOCK_MONOTONIC seconds> <message, newlines shown as |>". On every message
holding READY=1 it connects at once to 127.0.0.1:PORT and writes
"CONNECT ok" or "CONNECT failed <error>": READY=1 must mean the port accepts.
"""
import socket
import sys
import time


def main():
    path, out, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    with open(out, "a", buffering=1) as f:
        f.write("LISTENING\n")
        while True:
            msg = s.recv(65536).decode("utf-8", "replace")
            f.write("%.3f %s\n" % (time.monotonic(), msg.replace("\n", "|")))
            if "READY=1" in msg.split("\n"):
                c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                c.settimeout(10)
                try:
                    c.connect(("127.0.0.1", port))
                    f.write("CONNECT ok\n")
                except OSError as e:
                    f.write("CONNECT failed %s\n" % e)
                finally:
                    c.close()


if __name__ == "__main__":
    main()
