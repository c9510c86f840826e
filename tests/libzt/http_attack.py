#!/usr/bin/env python3
"""Hostile HTTP clients against ztcd's admin API (Python 3 standard library only).

tests/admin_attacks.rs runs this file inside the clients' network namespace
(`ip netns exec NS python3 tests/libzt/http_attack.py CMD ...`).  Every
subcommand is bounded in connections, bytes and seconds, binds each
connection to one of the `--source` addresses (round robin) before it
connects, and prints exactly one JSON line on stdout when it is done.

Subcommands (`http_attack.py CMD --help` for the options):
  huge-length    GET /status with Content-Length 2^64-1 and GET / with
                 Content-Length 99999999999, REPEAT times each, reading
                 whatever comes back: {"outcomes": {first line or error: n}}
  stall-headers  COUNT connections that send an unfinished POST head and
                 then nothing
  pipeline       one connection writing REQUESTS pipelined GETs, never reading
  big-header     one connection sending a header value of up to MIB MiB
  idle           COUNT connections that send nothing
  trickle        COUNT authenticated POSTs announcing a 1000-byte body, sent
                 one byte per second

stall-headers, idle and trickle report, over the connections made, how many
the server closed (end of stream or reset) and after how many seconds
(counted from each connection's connect); pipeline and big-header report the
bytes the kernel accepted before the server cut the connection, and when.

Safety: the target must be a loopback or private (RFC 1918) address.
"""

import argparse
import errno
import ipaddress
import json
import resource
import select
import selectors
import socket
import statistics
import sys
import time

CONNECT_TIMEOUT = 3.0
CONNECTS_IN_FLIGHT = 256
READ_CHUNK = 65536
START = time.monotonic()


def now():
    return time.monotonic() - START


def parse_target(text):
    host, _, port = text.rpartition(":")
    addr = ipaddress.ip_address(host)
    if not (addr.is_loopback or addr.is_private):
        raise SystemExit(f"refusing to attack {host}: not loopback or private")
    return host, int(port)


def raise_nofile(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        want = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def new_socket(source, rcvbuf=None, sndbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if sndbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    s.bind((source, 0))
    return s


def first_line(data):
    return data.split(b"\r\n", 1)[0].decode("latin-1")[:80]


def connect_one(target, source, timeout=CONNECT_TIMEOUT, **bufs):
    """A blocking connected socket, or the error's name."""
    s = new_socket(source, **bufs)
    s.settimeout(timeout)
    try:
        s.connect(target)
        return s
    except OSError as e:
        s.close()
        return errno.errorcode.get(e.errno, "timeout") if e.errno else "timeout"


# ---------------------------------------------------------------------------
# Many connections held open: connect, send a payload, watch for the close
# ---------------------------------------------------------------------------


class Conn:
    def __init__(self, sock, source):
        self.sock = sock
        self.source = source
        self.started = now()
        self.connected = None
        self.closed = None
        self.how = None
        self.first = None
        self.received = 0

    def close_by_server(self, how):
        self.closed = now()
        self.how = how


def open_many(target, sources, count, payload, deadline):
    """Connects COUNT sockets (at most CONNECTS_IN_FLIGHT at once, each within
    CONNECT_TIMEOUT), sends PAYLOAD on each; returns (connected, failures)."""
    sel = selectors.DefaultSelector()
    pending, done, failures = {}, [], {}
    made = 0
    while (made < count or pending) and now() < deadline:
        while made < count and len(pending) < CONNECTS_IN_FLIGHT:
            source = sources[made % len(sources)]
            made += 1
            s = new_socket(source)
            s.setblocking(False)
            s.connect_ex(target)
            c = Conn(s, source)
            pending[s.fileno()] = c
            sel.register(s, selectors.EVENT_WRITE, c)
        for key, _ in sel.select(timeout=0.1):
            c = key.data
            sel.unregister(c.sock)
            del pending[c.sock.fileno()]
            err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err == 0:
                try:
                    if payload:
                        c.sock.send(payload)
                    c.connected = now()
                    done.append(c)
                    continue
                except OSError as e:
                    err = e.errno
            name = errno.errorcode.get(err, str(err))
            failures[name] = failures.get(name, 0) + 1
            c.sock.close()
        for c in [c for c in pending.values() if now() - c.started > CONNECT_TIMEOUT]:
            sel.unregister(c.sock)
            del pending[c.sock.fileno()]
            failures["timeout"] = failures.get("timeout", 0) + 1
            c.sock.close()
    for c in pending.values():
        failures["timeout"] = failures.get("timeout", 0) + 1
        c.sock.close()
    sel.close()
    return done, failures


def watch(conns, until, tick=None):
    """Reads every connection until the server closes it or UNTIL passes;
    calls TICK(open connections) about once a second."""
    sel = selectors.DefaultSelector()
    for c in conns:
        sel.register(c.sock, selectors.EVENT_READ, c)
    open_count = len(conns)
    next_tick = now() + 1.0
    while open_count and now() < until:
        for key, _ in sel.select(timeout=0.2):
            c = key.data
            try:
                data = c.sock.recv(READ_CHUNK)
            except OSError as e:
                c.close_by_server(errno.errorcode.get(e.errno, "error"))
            else:
                if data:
                    c.received += len(data)
                    c.first = c.first or first_line(data)
                    continue
                c.close_by_server("eof")
            sel.unregister(c.sock)
            open_count -= 1
        if tick and now() >= next_tick:
            next_tick += 1.0
            tick([c for c in conns if c.closed is None])
    sel.close()
    for c in conns:
        c.sock.close()


def seconds_summary(values):
    if not values:
        return None
    return {
        "min": round(min(values), 2),
        "median": round(statistics.median(values), 2),
        "max": round(max(values), 2),
    }


def conns_report(attack, count, conns, failures):
    closes = [c.closed - c.connected for c in conns if c.closed is not None]
    answers, hows, by_source = {}, {}, {}
    for c in conns:
        if c.first:
            answers[c.first] = answers.get(c.first, 0) + 1
        if c.how:
            hows[c.how] = hows.get(c.how, 0) + 1
        s = by_source.setdefault(c.source, {"connected": 0, "closed": 0, "close_after_s": []})
        s["connected"] += 1
        if c.closed is not None:
            s["closed"] += 1
            s["close_after_s"].append(c.closed - c.connected)
    for s in by_source.values():
        s["close_after_s"] = seconds_summary(s["close_after_s"])
    return {
        "attack": attack,
        "attempted": count,
        "connected": len(conns),
        "connect_failed": failures,
        "closed_by_server": len(closes),
        "closed_how": hows,
        "still_open": len(conns) - len(closes),
        "close_after_s": seconds_summary(closes),
        "answers": answers,
        "by_source": by_source,
        "elapsed_s": round(now(), 2),
    }


# ---------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------


def cmd_huge_length(args, target):
    host = target[0]
    requests = [
        f"GET /status HTTP/1.1\r\nHost: {host}\r\nContent-Length: 18446744073709551615\r\n\r\n",
        f"GET / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 99999999999\r\n\r\n",
    ]
    outcomes, sent = {}, 0
    deadline = now() + args.seconds
    for i in range(args.repeat * len(requests)):
        if now() >= deadline:
            break
        s = connect_one(target, args.source[i % len(args.source)])
        if isinstance(s, str):
            outcome = f"connect: {s}"
        else:
            outcome = exchange(s, requests[i % len(requests)].encode())
            sent += 1
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return {"attack": "huge-length", "sent": sent, "outcomes": outcomes, "elapsed_s": round(now(), 2)}


def exchange(s, request, timeout=CONNECT_TIMEOUT):
    """Sends REQUEST, reads until the end of the stream; the answer's first line
    (or what ended the exchange)."""
    answer = b""
    s.settimeout(timeout)
    try:
        s.sendall(request)
        while len(answer) < READ_CHUNK:
            data = s.recv(READ_CHUNK)
            if not data:
                break
            answer += data
    except socket.timeout:
        answer = answer or b"timeout"
    except OSError as e:
        answer = answer or errno.errorcode.get(e.errno, "error").encode()
    s.close()
    return first_line(answer) if answer else "eof"


def cmd_held(args, target, attack, payload):
    raise_nofile(args.count + 64)
    until = now() + args.seconds
    conns, failures = open_many(target, args.source, args.count, payload, until)
    watch(conns, until)
    return conns_report(attack, args.count, conns, failures)


def cmd_stall_headers(args, target):
    head = f"POST /controller/network HTTP/1.1\r\nHost: {target[0]}\r\nContent-Length: 5000\r\n"
    return cmd_held(args, target, "stall-headers", head.encode())


def cmd_idle(args, target):
    return cmd_held(args, target, "idle", b"")


def cmd_trickle(args, target):
    head = (
        f"POST /controller/network HTTP/1.1\r\nHost: {target[0]}\r\n"
        f"X-ZT1-Auth: {args.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: 1000\r\n\r\n"
    )
    until = now() + args.seconds
    conns, failures = open_many(target, args.source, args.count, head.encode(), until)
    sent = {"body_bytes": 0}

    def one_byte_each(open_conns):
        for c in open_conns:
            try:
                c.sock.send(b" ")
                sent["body_bytes"] += 1
            except OSError:
                pass  # the read side records the close

    watch(conns, until, tick=one_byte_each)
    report = conns_report("trickle", args.count, conns, failures)
    report.update(sent)
    return report


def chunk_of(prefix, total, filler, offset):
    """Bytes OFFSET.. of PREFIX followed by FILLER up to TOTAL bytes, at most
    one READ_CHUNK of them."""
    if offset < len(prefix):
        return prefix[offset : offset + READ_CHUNK]
    return filler[: min(READ_CHUNK, total - offset)]


def stream_until_cut(s, prefix, total, until, filler=b"a" * READ_CHUNK):
    """Writes PREFIX and then FILLER bytes, TOTAL in all, on S until it is all
    sent, the server closes or resets, or UNTIL passes; once all is sent it
    waits (never reading) for the close.  Returns (bytes sent, how it ended or
    None, seconds from the start to the close or None)."""
    s.setblocking(False)
    poll = select.poll()
    poll.register(s, select.POLLOUT | select.POLLRDHUP)
    started, sent = now(), 0
    while now() < until:
        events = poll.poll(200)
        mask = events[0][1] if events else 0
        if mask & (select.POLLRDHUP | select.POLLHUP | select.POLLERR):
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            how = errno.errorcode.get(err, str(err)) if err else "eof"
            return sent, how, now() - started
        if mask & select.POLLOUT and sent < total:
            try:
                sent += s.send(chunk_of(prefix, total, filler, sent))
            except BlockingIOError:
                pass
            except OSError as e:
                return sent, errno.errorcode.get(e.errno, "error"), now() - started
            if sent >= total:
                poll.modify(s, select.POLLRDHUP)
    return sent, None, None


def stream_report(attack, total, sent, how, after):
    return {
        "attack": attack,
        "bytes_total": total,
        "bytes_sent": sent,
        "closed_by_server": how is not None,
        "how": how,
        "close_after_s": None if after is None else round(after, 2),
        "elapsed_s": round(now(), 2),
    }


def cmd_pipeline(args, target):
    request = f"GET /status HTTP/1.1\r\nHost: {target[0]}\r\n\r\n".encode()
    data = request * args.requests
    s = connect_one(target, args.source[0], rcvbuf=args.rcvbuf)
    if isinstance(s, str):
        return {"attack": "pipeline", "connect_failed": s}
    sent, how, after = stream_until_cut(s, data, len(data), now() + args.seconds)
    s.close()
    report = stream_report("pipeline", len(data), sent, how, after)
    report["requests_sent"] = sent // len(request)
    return report


def cmd_big_header(args, target):
    head = f"GET /status HTTP/1.1\r\nHost: {target[0]}\r\nX-A: ".encode()
    total = len(head) + args.mib * 1024 * 1024
    s = connect_one(target, args.source[0], sndbuf=args.sndbuf)
    if isinstance(s, str):
        return {"attack": "big-header", "connect_failed": s}
    sent, how, after = stream_until_cut(s, head, total, now() + args.seconds)
    s.close()
    return stream_report("big-header", total, sent, how, after)


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    def add(name, seconds, count=None):
        q = sub.add_parser(name)
        q.add_argument("--target", required=True, help="IP:PORT of the admin API")
        q.add_argument("--source", action="append", required=True,
                       help="local address to bind, repeatable (used round robin)")
        q.add_argument("--seconds", type=float, default=seconds, help="longest run")
        if count is not None:
            q.add_argument("--count", type=int, default=count, help="connections")
        return q

    add("huge-length", 30).add_argument("--repeat", type=int, default=20)
    add("stall-headers", 40, count=100)
    add("idle", 40, count=2000)
    add("trickle", 50, count=4).add_argument("--token", required=True)
    q = add("pipeline", 40)
    q.add_argument("--requests", type=int, default=3000)
    q.add_argument("--rcvbuf", type=int, default=65536, help="our receive buffer")
    q = add("big-header", 40)
    q.add_argument("--mib", type=int, default=200)
    q.add_argument("--sndbuf", type=int, default=262144, help="our send buffer")
    return p


COMMANDS = {
    "huge-length": cmd_huge_length,
    "stall-headers": cmd_stall_headers,
    "idle": cmd_idle,
    "trickle": cmd_trickle,
    "pipeline": cmd_pipeline,
    "big-header": cmd_big_header,
}


def main():
    args = parser().parse_args()
    args.seconds = min(args.seconds, 300.0)
    for name in ("count", "repeat", "requests", "mib"):
        if getattr(args, name, 0) > 5000:
            raise SystemExit(f"--{name} {getattr(args, name)}: at most 5000")
    target = parse_target(args.target)
    report = COMMANDS[args.cmd](args, target)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    sys.exit(main())
