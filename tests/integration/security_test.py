#!/usr/bin/env python3
"""Security end to end (docs/SECURITY.md, issue 19): protected mode, AUTH and users, TLS.

Starts its own sierradb servers (127.0.0.1 only, stopped by PID) with a throw-away CA from
tests/server/tls/make_test_ca.sh, and drives them with redis-cli, redis-py, node-redis and
ioredis (tests/integration/clients/node_modules; installed by clients/run.sh), plus raw sockets
for the hostile cases. Every wait is bounded. Usage: security_test.py --server BIN
"""
import argparse
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
CLIENTS = os.path.join(HERE, "clients")
FAILURES = []
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
NOAUTH = "NOAUTH Authentication required."


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


USERS = """
requirepass = "secret"
[[users]]
name = "admin"
password = "adminpw"
commands = ["all"]
[[users]]
name = "reader"
password = "#%s"
commands = ["read"]
[[users]]
name = "orders"
password = "orderspw"
commands = ["read", "write"]
streams = ["orders-*"]
""" % __import__("hashlib").sha256(b"readpw").hexdigest()


class Server:
    def __init__(self, binary, tmp, name, toml, host="127.0.0.1", tls=False):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        self.port = free_port()
        self.tls_port = free_port() if tls else 0
        self.config = os.path.join(self.dir, "sierra.toml")
        self.write(toml)
        self.log_path = os.path.join(self.dir, "server.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [binary, "--config", self.config, "-d", os.path.join(self.dir, "data"),
             "--client-address", "%s:%d" % (host, self.port)],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server %s exited: %s" % (name, open(self.log_path).read()))
            if "ready to receive" in open(self.log_path).read():
                return
            time.sleep(0.05)
        raise RuntimeError("server %s did not start" % name)

    def write(self, toml):
        text = toml
        if self.tls_port:
            text = text.replace("[tls]\n", "[tls]\nport = %d\n" % self.tls_port, 1)
        with open(self.config, "w") as f:
            f.write(text)

    def logtext(self):
        return open(self.log_path).read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def cli(port, *args, tls=None, user=None, password=None, timeout=10):
    cmd = ["redis-cli", "-p", str(port), "--no-auth-warning"]
    if tls:
        cmd += ["--tls", "--cacert", tls["ca"]]
        if tls.get("cert"):
            cmd += ["--cert", tls["cert"], "--key", tls["key"]]
    if user:
        cmd += ["--user", user]
    if password:
        cmd += ["--pass", password]
    r = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout)
    return (r.stdout + r.stderr).strip()


def connected_clients(port):
    out = cli(port, "INFO", "clients", user="admin", password="adminpw")
    for line in out.splitlines():
        if line.startswith("connected_clients:"):
            # Not counting the redis-cli connection that asked.
            return int(line.split(":")[1]) - 1
    raise RuntimeError("no connected_clients in INFO: " + out)


def test_redis_cli(s, certs):
    for name, tls, port in (("plain", None, s.port), ("tls", {"ca": certs + "/ca.crt"}, s.tls_port)):
        p = "redis-cli %s: " % name
        check(cli(port, "PING", tls=tls) == "PONG", p + "PING before AUTH")
        check(cli(port, "ESVER", "s", tls=tls) == NOAUTH, p + "NOAUTH before AUTH")
        check(cli(port, "ESVER", "s", tls=tls, password="wrong").startswith("AUTH failed") or
              WRONGPASS in cli(port, "AUTH", "wrong", tls=tls), p + "wrong password")
        check(cli(port, "ACL", "WHOAMI", tls=tls, password="secret") == "default", p + "-a password")
        check(cli(port, "ACL", "WHOAMI", tls=tls, user="admin", password="adminpw") == "admin",
              p + "--user")
        out = cli(port, "EAPPEND", "s1", "E", tls=tls, user="reader", password="readpw")
        check(out == "NOPERM User reader has no permissions to run the 'eappend' command",
              p + "NOPERM read-only append: " + out)
        out = cli(port, "EAPPEND", "payments-1", "E", tls=tls, user="orders", password="orderspw")
        check(out == "NOPERM No permissions to access a key", p + "NOPERM other prefix: " + out)
        out = cli(port, "EAPPEND", "orders-" + name, "E", "EXPECTED_VERSION", "empty", tls=tls,
                  user="orders", password="orderspw")
        check("stream_version" in out, p + "prefix user appends its stream")
        out = cli(port, "ACL", "LIST", tls=tls, user="admin", password="adminpw")
        check("user orders on #" in out and "orderspw" not in out, p + "ACL LIST hashes only")


def test_redis_py(s, certs):
    for name, kw in (("plain", {"port": s.port}),
                     ("tls", {"port": s.tls_port, "ssl": True, "ssl_ca_certs": certs + "/ca.crt"})):
        p = "redis-py %s: " % name
        # redis-py 4 speaks RESP2 and sends AUTH [user] password.
        r = redis.Redis(password="secret", socket_timeout=5, **kw)
        check(r.execute_command("ACL", "WHOAMI") == b"default", p + "password")
        r.close()
        r = redis.Redis(username="admin", password="adminpw", socket_timeout=5, **kw)
        check(r.execute_command("ACL", "WHOAMI") == b"admin", p + "user")
        r.close()
        try:
            redis.Redis(username="admin", password="no", socket_timeout=5, **kw).ping()
            check(False, p + "wrong password")
        except (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError) as e:
            check("WRONGPASS" in str(e) or "invalid username-password" in str(e),
                  p + "wrong password: " + str(e)[:40])
        r = redis.Redis(socket_timeout=5, **kw)
        try:
            r.execute_command("ESVER", "s")
            check(False, p + "NOAUTH")
        except redis.exceptions.AuthenticationError as e:
            check("Authentication required" in str(e), p + "NOAUTH")
        except redis.exceptions.ResponseError as e:
            check("NOAUTH" in str(e) or "Authentication required" in str(e), p + "NOAUTH " + str(e))
        r.close()
        for user, pw, stream, want in (("reader", "readpw", "s1", "has no permissions"),
                                        ("orders", "orderspw", "pay-1", "No permissions")):
            r = redis.Redis(username=user, password=pw, socket_timeout=5, **kw)
            try:
                r.execute_command("EAPPEND", stream, "E")
                check(False, p + "NOPERM " + user)
            except redis.exceptions.ResponseError as e:
                check(want in str(e), p + "NOPERM " + user + ": " + str(e))
            r.close()


def test_node(s, certs):
    if not os.path.isdir(os.path.join(CLIENTS, "node_modules")):
        print("SKIP node-redis/ioredis: tests/integration/clients/node_modules is missing "
              "(run tests/integration/clients/run.sh once to install it)")
        return
    r = subprocess.run(["node", os.path.join(HERE, "security_node.mjs"), str(s.port),
                        str(s.tls_port), certs + "/ca.crt"],
                       capture_output=True, text=True, timeout=120, cwd=CLIENTS)
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    check(r.returncode == 0 and lines, "node script ran: " + r.stderr[-400:])
    for line in lines:
        res = json.loads(line)
        check(res["ok"], "%s: %s" % (res["name"], res.get("detail", "")))


def test_hostile(s):
    # 10 000 wrong passwords on 500 connections (20 pipelined each: the 20th closes it), while
    # an authenticated client keeps getting answers.
    stop = threading.Event()
    worst = [0.0]

    def prober():
        r = redis.Redis(port=s.port, username="admin", password="adminpw", socket_timeout=10)
        while not stop.is_set():
            t = time.time()
            r.ping()
            worst[0] = max(worst[0], time.time() - t)
            time.sleep(0.01)
        r.close()

    th = threading.Thread(target=prober)
    th.start()
    started = time.time()
    answered = [0]
    lock = threading.Lock()

    def attacker(k):
        for _ in range(k):
            try:
                sock = socket.create_connection(("127.0.0.1", s.port), timeout=30)
                sock.sendall(b"AUTH admin wrong\r\n" * 20)
                buf = b""
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
                sock.close()
                with lock:
                    answered[0] += buf.count(b"-WRONGPASS")
            except OSError:
                pass

    workers = [threading.Thread(target=attacker, args=(4,)) for _ in range(125)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    elapsed = time.time() - started
    stop.set()
    th.join(30)
    check(answered[0] == 10000, "10 000 wrong passwords answered WRONGPASS (%d)" % answered[0])
    check(elapsed < 90, "10 000 wrong passwords in bounded time (%.1f s)" % elapsed)
    check(worst[0] < 1.0, "other clients stay responsive (worst PING %.3f s)" % worst[0])
    check("more failures not logged" in s.logtext() or s.logtext().count("failed AUTH") < 10000,
          "failed AUTH log lines are rate-limited")
    check("wrong" not in [l.split("'")[-1] for l in s.logtext().splitlines()
                          if "failed AUTH" in l][:1] and "adminpw" not in s.logtext(),
          "passwords never logged")


def wait_clients(port, want, seconds):
    deadline = time.time() + seconds
    n = connected_clients(port)
    while n > want and time.time() < deadline:
        time.sleep(0.1)
        n = connected_clients(port)
    return n


def test_tls_hostile(s):
    base = connected_clients(s.port) - 0  # the INFO connection itself is counted and gone after
    base = wait_clients(s.port, base, 1)
    # Garbage instead of a ClientHello.
    socks = []
    for _ in range(20):
        g = socket.create_connection(("127.0.0.1", s.tls_port), timeout=5)
        g.sendall(os.urandom(512))
        socks.append(g)
    closed = 0
    for g in socks:
        try:
            while g.recv(4096):
                pass
            closed += 1
        except OSError:
            closed += 1
        g.close()
    check(closed == 20, "garbage TLS handshakes are closed")
    # Clients that stop mid-handshake: half a ClientHello, then silence.
    ctx = ssl.create_default_context()
    hello = ssl.MemoryBIO()
    obj = ctx.wrap_bio(ssl.MemoryBIO(), hello, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    client_hello = hello.read()
    stalled = []
    for _ in range(20):
        st = socket.create_connection(("127.0.0.1", s.tls_port), timeout=10)
        st.sendall(client_hello[: len(client_hello) // 2])
        stalled.append(st)
    time.sleep(0.3)
    during = connected_clients(s.port)
    check(during >= base + 20, "stalled handshakes are counted (%d, base %d)" % (during, base))
    t = time.time()
    closed = 0
    for st in stalled:
        try:
            while st.recv(4096):
                pass
        except OSError:
            pass
        closed += 1
        st.close()
    took = time.time() - t
    check(took < 5, "stalled handshakes are closed by the timeout (%.1f s)" % took)
    after = wait_clients(s.port, base, 5)
    check(after <= base, "connection count returns after the handshakes (%d, base %d)" % (after, base))
    check(cli(s.tls_port, "PING", tls={"ca": s.dir + "/../certs/ca.crt"}) == "PONG",
          "TLS still serves after the hostile handshakes")


def test_client_cert(binary, tmp, certs):
    toml = USERS + """
[tls]
cert_file = "{c}/server.crt"
key_file = "{c}/server.key"
ca_file = "{c}/ca.crt"
require_client_cert = true
""".format(c=certs)
    s = Server(binary, tmp, "mtls", toml, tls=True)
    try:
        tls = {"ca": certs + "/ca.crt"}
        out = cli(s.tls_port, "PING", tls=tls, password="secret")
        check(out != "PONG", "client certificate required and missing: refused (" + out[:60] + ")")
        tls.update(cert=certs + "/client.crt", key=certs + "/client.key")
        check(cli(s.tls_port, "PING", tls=tls, password="secret") == "PONG",
              "client certificate required and presented: served")
        tls.update(cert=certs + "/stranger.crt", key=certs + "/stranger.key")
        out = cli(s.tls_port, "PING", tls=tls, password="secret")
        check(out != "PONG", "client certificate of another CA: refused")
        r = redis.Redis(port=s.tls_port, password="secret", ssl=True, ssl_ca_certs=certs + "/ca.crt",
                        ssl_certfile=certs + "/client.crt", ssl_keyfile=certs + "/client.key",
                        socket_timeout=5)
        check(r.ping(), "redis-py with a client certificate")
        r.close()
    finally:
        s.stop()


def test_bad_tls_files(binary, tmp, certs):
    d = os.path.join(tmp, "badtls")
    os.makedirs(d)
    cfg = os.path.join(d, "sierra.toml")
    with open(cfg, "w") as f:
        f.write('tls.port = %d\ntls.cert_file = "%s/server.crt"\ntls.key_file = "%s/missing.key"\n'
                % (free_port(), certs, d))
    r = subprocess.run([binary, "--config", cfg, "-d", d + "/data", "--client-address",
                        "127.0.0.1:%d" % free_port()], capture_output=True, text=True, timeout=30)
    check(r.returncode == 2 and "config error: tls.key_file" in r.stderr,
          "missing key file: exit 2 with a clear line (%d, %s)" % (r.returncode, r.stderr.strip()))


def test_protected_mode(binary, tmp):
    other = None
    for addr in subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split():
        if "." in addr and not addr.startswith("127."):
            other = addr
            break
    s = Server(binary, tmp, "protected", "", host="0.0.0.0")
    try:
        check("protected mode: no password or user configured" in s.logtext(),
              "protected mode logged at start")
        check(cli(s.port, "PING") == "PONG", "protected mode: loopback is served")
        if other is None:
            print("SKIP protected mode from a non-loopback address: hostname -I has no other "
                  "IPv4 address")
        else:
            c = socket.create_connection((other, s.port), timeout=5)
            buf = b""
            while True:
                chunk = c.recv(4096)
                if not chunk:
                    break
                buf += chunk
            c.close()
            check(buf.startswith(b"-DENIED SierraDB is running in protected mode") and
                  b"requirepass" in buf, "protected mode: %s is refused with the message" % other)
    finally:
        s.stop()
    s = Server(binary, tmp, "unprotected", "protected_mode = false\n", host="0.0.0.0")
    try:
        check("protected mode is off" in s.logtext(), "protected_mode = false is logged")
        if other is not None:
            r = redis.Redis(host=other, port=s.port, socket_timeout=5)
            check(r.ping(), "protected_mode = false: %s is served" % other)
            r.close()
    finally:
        s.stop()


def test_reload(s):
    r = redis.Redis(port=s.port, username="reader", password="readpw", socket_timeout=5)
    r.execute_command("HELLO", "2")  # redis-py 4 parses RESP2 only (DECISIONS D6)
    s.write(USERS.replace('commands = ["read"]', 'commands = ["read", "write"]') +
            '[[users]]\nname = "late"\npassword = "latepw"\ncommands = ["read"]\n')
    s.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while "reloaded users" not in s.logtext() and time.time() < deadline:
        time.sleep(0.05)
    check("reloaded users" in s.logtext(), "SIGHUP reloads the users")
    out = r.execute_command("EAPPEND", "reload-1", "E", "EXPECTED_VERSION", "empty")
    check(b"stream_version" in out or "stream_version" in str(out),
          "a reloaded permission applies to an existing connection")
    r.close()
    check(cli(s.port, "ACL", "WHOAMI", user="late", password="latepw") == "late",
          "a user added by SIGHUP can log in")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    args = ap.parse_args()
    binary = os.path.abspath(args.server)
    tmp = tempfile.mkdtemp(prefix="sierradb-security.")
    servers = []
    try:
        certs = os.path.join(tmp, "certs")
        subprocess.run(["bash", os.path.join(SRC, "tests/server/tls/make_test_ca.sh"), certs],
                       check=True, capture_output=True, timeout=60)
        toml = USERS + """
[tls]
cert_file = "{c}/server.crt"
key_file = "{c}/server.key"
handshake_timeout_ms = 1000
""".format(c=certs)
        s = Server(binary, tmp, "main", toml, tls=True)
        servers.append(s)
        test_redis_cli(s, certs)
        test_redis_py(s, certs)
        test_node(s, certs)
        test_hostile(s)
        test_tls_hostile(s)
        test_reload(s)
        s.stop()
        test_client_cert(binary, tmp, certs)
        test_bad_tls_files(binary, tmp, certs)
        test_protected_mode(binary, tmp)
    except Exception as e:  # noqa: BLE001 - report and fail
        FAILURES.append("exception: %r" % e)
        print("FAIL exception: %r" % e)
    finally:
        for s in servers:
            s.stop()
        if FAILURES:
            for s in servers:
                print("---- server log (tail) ----\n" + s.logtext()[-3000:])
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failure(s)" % len(FAILURES))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
