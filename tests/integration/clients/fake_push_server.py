#!/usr/bin/env python3
"""A tiny Redis-like server that sends push frames of a kind no client library knows.

It exists to find out (and keep checking) what each client library does with an unknown RESP3
push kind, before SierraDB picks a push kind of its own (issue #18). It is not SierraDB: it
answers just enough for the libraries' connect handshakes.

  fake_push_server.py            listens on 127.0.0.1:<free port>, prints the port on stdout,
                                 serves until stdin closes or SIGTERM.

Commands:
  HELLO [2|3 ...]   switches the connection to RESP2 or RESP3 and answers Redis-style. Like
                    SierraDB (PROTOCOL §1.4), a connection that never sent HELLO gets RESP3 pushes.
  PING, ECHO, SELECT, CLIENT ..., INFO, COMMAND ...   handshake answers (INFO as a bulk string).
  PUSHME <kind> <n> replies +OK, then sends <n> push frames `>3 $<kind> $chan-<i> $payload-<i>`
                    (under RESP2, `*3 ...` arrays: what an out-of-band frame looks like there).
  PUSHFIRST <kind>  sends one push frame first, then the reply +OK.
  PUSHMAP <kind> <channel>   replies +OK, then sends `>3 $<kind> $<channel> %2 +a :1 +b $1 x`
                    (a structured payload, as an event map would be).
  SUBSCRIBE <channel>...     Redis-style: a `>3 $subscribe $<channel> :<count>` push each.
Anything else gets `-ERR unknown command`.
"""
import os
import signal
import socket
import sys
import threading


def bulk(b):
    if isinstance(b, str):
        b = b.encode()
    return b"$%d\r\n%s\r\n" % (len(b), b)


def read_command(f):
    """One RESP array of bulk strings from the buffered socket file, or None at EOF."""
    line = f.readline()
    if not line:
        return None
    if not line.startswith(b"*"):
        return [w for w in line.strip().split()]  # inline command
    n = int(line[1:])
    args = []
    for _ in range(n):
        hdr = f.readline()
        if not hdr.startswith(b"$"):
            return None
        size = int(hdr[1:])
        data = f.read(size + 2)
        args.append(data[:size])
    return args


def push_frame(resp, kind, i):
    head = b">3\r\n" if resp == 3 else b"*3\r\n"
    return head + bulk(kind) + bulk(f"chan-{i}") + bulk(f"payload-{i}")


def hello_reply(resp):
    fields = [(b"server", bulk("redis")), (b"version", bulk("7.2.0")), (b"proto", b":%d\r\n" % resp),
              (b"id", b":1\r\n"), (b"mode", bulk("standalone")), (b"role", bulk("master")),
              (b"modules", b"*0\r\n")]
    out = (b"%%%d\r\n" if resp == 3 else b"*%d\r\n") % (len(fields) if resp == 3 else 2 * len(fields))
    for k, v in fields:
        out += bulk(k) + v
    return out


def serve(conn):
    resp = 3
    subscribed = set()
    f = conn.makefile("rb")
    try:
        while True:
            args = read_command(f)
            if args is None:
                return
            if not args:
                continue
            name = args[0].upper()
            if name == b"HELLO":
                if len(args) > 1 and args[1] not in (b"2", b"3"):
                    conn.sendall(b"-NOPROTO unsupported protocol version\r\n")
                    continue
                if len(args) > 1:
                    resp = int(args[1])
                conn.sendall(hello_reply(resp))
            elif name == b"PING":
                conn.sendall(b"+PONG\r\n")
            elif name == b"ECHO" and len(args) == 2:
                conn.sendall(bulk(args[1]))
            elif name in (b"SELECT", b"CLIENT"):
                conn.sendall(b"+OK\r\n")
            elif name == b"INFO":
                conn.sendall(bulk("# Server\r\nredis_version:7.2.0\r\nloading:0\r\n"))
            elif name == b"COMMAND":
                conn.sendall(b"*0\r\n")
            elif name == b"PUSHME" and len(args) == 3:
                n = int(args[2])
                conn.sendall(b"+OK\r\n" + b"".join(push_frame(resp, args[1], i) for i in range(n)))
            elif name == b"PUSHMAP" and len(args) == 3:
                head = b">3\r\n" if resp == 3 else b"*3\r\n"
                body = (b"%2\r\n+a\r\n:1\r\n+b\r\n$1\r\nx\r\n" if resp == 3 else
                        b"*4\r\n+a\r\n:1\r\n+b\r\n$1\r\nx\r\n")
                conn.sendall(b"+OK\r\n" + head + bulk(args[1]) + bulk(args[2]) + body)
            elif name == b"SUBSCRIBE" and len(args) >= 2:
                head = b">3\r\n" if resp == 3 else b"*3\r\n"
                for ch in args[1:]:
                    subscribed.add(ch)
                    conn.sendall(head + bulk("subscribe") + bulk(ch) + b":%d\r\n" % len(subscribed))
            elif name == b"PUSHFIRST" and len(args) == 2:
                conn.sendall(push_frame(resp, args[1], 0) + b"+OK\r\n")
            else:
                conn.sendall(b"-ERR unknown command '%s'\r\n" % name)
    except (ConnectionError, ValueError, OSError):
        return
    finally:
        conn.close()


def main():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    print(srv.getsockname()[1], flush=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    # Ends when the parent closes our stdin (so a crashed test never leaves it behind).
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
