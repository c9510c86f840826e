#!/usr/bin/env python3
"""Drive a real ZeroTier 1.8 client (libzt 1.8.4) from Python 3.11 via ctypes.

ztcd's Rust integration tests run this file as a subprocess.  Every
subcommand prints exactly one JSON object on stdout and leaves through
os._exit() (unloading libzt during interpreter teardown can crash).  libzt's
own chatter, if any, goes to stderr.

Library location: $LIBZT_SO and $LIBZT_STUB, or else the files that
tests/libzt/setup.sh puts in $LIBZT_CACHE (default /var/cache/ztcd-test/libzt).
The stub must be loaded with RTLD_GLOBAL before the wheel's shared object
(see stub.c).

Subcommands (run `zt.py <cmd> --help` for the options):
  id-new                         {"identity", "public", "address"}
  id-valid IDENTITY              {"valid", "rc"}
  planet-info PLANET             pure-Python parse of a planet/world file
  roots-check PLANET STORAGE     start a node with PLANET as roots, wait for
                                 libzt to cache it as STORAGE/roots, compare
  client --planet P --storage D  start a node, wait online, optionally join
                                 networks, wait for config/IP, optionally
                                 run a one-shot TCP echo over the network
  mkplanet ...                   sign a planet with libzt's own signer (a
                                 reference to cross-check ztcd's planets)
  addr NWID NODEID               6plane / rfc4193 addresses libzt computes
  adhoc-id START END             controller-less network id for a port range

Exit codes: 0 success (for client: every requested wait was satisfied),
1 a requested condition was not reached before its timeout, 2 usage or
setup error (the JSON then has an "error" key).

Safety: before starting a node, the planet is parsed here and every stable
endpoint must be loopback, private (RFC 1918 / ULA), link-local, CGNAT or a
documentation range (TEST-NET-1/2/3, 2001:db8::/32).  This matters because
libzt silently falls back to the built-in public ZeroTier planet when it
cannot parse the supplied one, and would then contact the public roots.
--unsafe-skip-planet-check disables the guard; use it only inside a network
namespace that has no route out (e.g. only `lo` up).
"""

import argparse
import ctypes
import faulthandler
import ipaddress
import json
import os
import random
import socket
import struct
import sys
import tempfile
import threading
import time

# ---------------------------------------------------------------------------
# Constants (values from libzt 1.8.4 include/ZeroTierSockets.h and the
# ZeroTier 1.8 core it embeds)
# ---------------------------------------------------------------------------

ID_STR_BUF_LEN = 384          # ZTS_ID_STR_BUF_LEN / ZT_IDENTITY_STRING_BUFFER_LENGTH
IP_STR_LEN = 46               # ZTS_IP_MAX_STR_LEN (== ZTS_INET6_ADDRSTRLEN)
ROOTS_MAX_LEN = 4096          # ZTS_STORE_DATA_LEN: zts_init_set_roots() limit
AF_INET = 2                   # ZTS_AF_INET
AF_INET6 = 10                 # ZTS_AF_INET6
SOCK_STREAM = 1               # ZTS_SOCK_STREAM
MAX_ROOTS = 16                # ZTS_MAX_NUM_ROOTS (zts_root_set_t)
MAX_ENDPOINTS_PER_ROOT = 32   # ZTS_MAX_ENDPOINTS_PER_ROOT

# The core rejects worlds with more roots / endpoints than these.
WORLD_MAX_ROOTS = 4
WORLD_MAX_ENDPOINTS = 32
WORLD_TYPE_PLANET = 1
WORLD_TYPE_MOON = 127
WORLD_ID_EARTH = 149604618    # id of the built-in public planet

ERR_NAMES = {0: "OK", -1: "ERR_SOCKET", -2: "ERR_SERVICE", -3: "ERR_ARG",
             -4: "ERR_NO_RESULT", -5: "ERR_GENERAL"}
NET_STATUS_NAMES = {0: "REQUESTING_CONFIGURATION", 1: "OK", 2: "ACCESS_DENIED",
                    3: "NOT_FOUND", 4: "PORT_ERROR", 5: "CLIENT_TOO_OLD"}

SO_NAME = "_libzt.cpython-39-x86_64-linux-gnu.so"
STUB_NAME = "libztstub.so"
DEFAULT_CACHE = "/var/cache/ztcd-test/libzt"


# ---------------------------------------------------------------------------
# Output helpers
# ---------------------------------------------------------------------------

_out_lock = threading.Lock()
_out_done = False


def emit(obj, code):
    """Print one JSON object and leave immediately (once per process)."""
    global _out_done
    with _out_lock:
        if not _out_done:
            _out_done = True
            sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def fail(msg, code=2, **extra):
    extra["error"] = msg
    emit(extra, code)


class Watchdog:
    """Emit a timeout result if the process is still running at the deadline.

    ctypes releases the GIL during foreign calls, so this fires even while
    the main thread is blocked inside libzt (accept, connect, recv...).
    `state` is a dict that the main thread keeps up to date.
    """

    def __init__(self, seconds, state):
        self.state = state
        self.timer = threading.Timer(seconds, self._fire)
        self.timer.daemon = True
        self.timer.start()

    def _fire(self):
        snap = dict(self.state)
        snap["error"] = "overall deadline reached"
        emit(snap, 1)


# ---------------------------------------------------------------------------
# Loading libzt
# ---------------------------------------------------------------------------

def _lib_paths():
    cache = os.environ.get("LIBZT_CACHE") or DEFAULT_CACHE
    so = os.environ.get("LIBZT_SO") or os.path.join(cache, SO_NAME)
    stub = os.environ.get("LIBZT_STUB") or os.path.join(cache, STUB_NAME)
    return so, stub


class Libzt:
    def __init__(self):
        so, stub = _lib_paths()
        for p in (stub, so):
            if not os.path.isfile(p):
                raise OSError("%s not found (run tests/libzt/setup.sh, or set LIBZT_SO/LIBZT_STUB)" % p)
        # The stub must be global so the wheel's undefined symbols bind to it.
        self.stub = ctypes.CDLL(stub, mode=ctypes.RTLD_GLOBAL)
        self.lib = ctypes.CDLL(so)
        # Hand the stub the wheel's own lwIP input functions (see stub.c:
        # it serialises libzt's IPv6 receive path with the lwIP core lock).
        # dlsym on the wheel's handle finds the wheel's definitions, not the
        # stub's interposed ones.
        real_eth = ctypes.cast(self.lib.ethernet_input, ctypes.c_void_p).value
        real_inpkt = ctypes.cast(self.lib.tcpip_inpkt, ctypes.c_void_p).value
        core_lock = ctypes.addressof(ctypes.c_void_p.in_dll(self.lib, "lock_tcpip_core"))
        init = self.stub.ztcd_stub_init
        init.restype = ctypes.c_int
        init.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        if init(real_eth, real_inpkt, core_lock) != 0:
            raise OSError("stub %s rejected the wheel's lwIP symbols (rebuild it with setup.sh)" % stub)
        self._declare()

    def _declare(self):
        L = self.lib
        c_int, c_uint, c_u64, c_ushort = ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_ushort
        c_char_p, c_void_p, c_size_t, c_ssize_t = ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_ssize_t
        P = ctypes.POINTER

        def sig(name, res, *args):
            f = getattr(L, name)
            f.restype = res
            f.argtypes = list(args)

        # identities
        sig("zts_id_new", c_int, c_char_p, P(c_uint))
        sig("zts_id_pair_is_valid", c_int, c_char_p, c_uint)
        # initialization (only before zts_node_start)
        sig("zts_init_from_storage", c_int, c_char_p)
        sig("zts_init_from_memory", c_int, c_char_p, c_uint)
        sig("zts_init_set_roots", c_int, c_void_p, c_uint)
        sig("zts_init_set_port", c_int, c_ushort)
        sig("zts_init_allow_secondary_port", c_int, c_uint)
        sig("zts_init_allow_port_mapping", c_int, c_uint)
        # node
        sig("zts_node_start", c_int)
        sig("zts_node_is_online", c_int)
        sig("zts_node_get_id", c_u64)
        sig("zts_node_get_port", c_int)
        sig("zts_node_stop", c_int)
        # networks and addresses
        sig("zts_net_join", c_int, c_u64)
        sig("zts_net_leave", c_int, c_u64)
        sig("zts_net_get_status", c_int, c_u64)
        sig("zts_net_transport_is_ready", c_int, c_u64)
        sig("zts_addr_is_assigned", c_int, c_u64, c_uint)
        sig("zts_addr_get_str", c_int, c_u64, c_uint, c_char_p, c_uint)
        # sockets over the virtual network
        sig("zts_bsd_socket", c_int, c_int, c_int, c_int)
        sig("zts_bsd_listen", c_int, c_int, c_int)
        sig("zts_bsd_close", c_int, c_int)
        sig("zts_bsd_connect", c_int, c_int, c_void_p, ctypes.c_uint32)
        sig("zts_util_ipstr_to_saddr", c_int, c_char_p, c_ushort, c_void_p, P(ctypes.c_uint32))
        sig("zts_bsd_send", c_ssize_t, c_int, c_void_p, c_size_t, c_int)
        sig("zts_bsd_recv", c_ssize_t, c_int, c_void_p, c_size_t, c_int)
        sig("zts_bind", c_int, c_int, c_char_p, c_ushort)
        sig("zts_connect", c_int, c_int, c_char_p, c_ushort, c_int)
        sig("zts_accept", c_int, c_int, c_char_p, c_int, P(c_ushort))
        sig("zts_set_recv_timeout", c_int, c_int, c_int, c_int)
        sig("zts_tcp_client", c_int, c_char_p, c_ushort)
        sig("zts_tcp_server", c_int, c_char_p, c_ushort, c_char_p, c_int, P(c_ushort))
        # utilities
        sig("zts_addr_compute_6plane_str", c_int, c_u64, c_u64, c_char_p, c_uint)
        sig("zts_addr_compute_rfc4193_str", c_int, c_u64, c_u64, c_char_p, c_uint)
        sig("zts_net_compute_adhoc_id", c_u64, ctypes.c_uint16, ctypes.c_uint16)
        sig("zts_util_sign_root_set", c_int, c_char_p, P(c_uint), c_char_p, P(c_uint),
            c_char_p, P(c_uint), c_u64, c_u64, c_void_p)
        self.errno_var = ctypes.c_int.in_dll(L, "zts_errno")

    @property
    def errno(self):
        return self.errno_var.value

    # -- identities ---------------------------------------------------------

    def id_new(self):
        buf = ctypes.create_string_buffer(ID_STR_BUF_LEN)
        # libzt insists that the in/out length equals the buffer size exactly.
        n = ctypes.c_uint(ID_STR_BUF_LEN)
        rc = self.lib.zts_id_new(buf, ctypes.byref(n))
        if rc != 0:
            raise RuntimeError("zts_id_new returned %d" % rc)
        return buf.raw[:n.value].decode("ascii")

    def id_pair_is_valid(self, ident):
        # zts_id_pair_is_valid(key, len):
        #  * `len` is the size of the buffer and must be exactly 384
        #    (ZTS_ID_STR_BUF_LEN); any other value returns 0 without looking.
        #    The string itself is NUL-terminated inside that buffer.
        #  * the string must be longer than 32 chars with ':' at index 10,
        #    i.e. "<10 hex addr>:0:<128 hex public>" optionally followed by
        #    ":<128 hex secret>".  Both the public-only form and the full
        #    pair are accepted.
        #  * it returns 1 iff the text parses and the address is the one
        #    derived from the public key (ZeroTier's memory-hard hash check,
        #    ~27 ms).  The secret half is only checked for hex length; it is
        #    NOT checked to match the public key.
        raw = ident.encode("ascii", "replace")
        if len(raw) >= ID_STR_BUF_LEN:
            return None
        buf = ctypes.create_string_buffer(raw, ID_STR_BUF_LEN)
        return self.lib.zts_id_pair_is_valid(buf, ID_STR_BUF_LEN)

    # -- node ---------------------------------------------------------------

    def node_id(self):
        v = self.lib.zts_node_get_id()
        # ZTS_ERR_SERVICE comes back as a huge unsigned number; a real
        # address always fits in 40 bits.
        return v if 0 < v < (1 << 40) else 0

    def addr_str(self, nwid, family):
        buf = ctypes.create_string_buffer(IP_STR_LEN)
        rc = self.lib.zts_addr_get_str(nwid, family, buf, IP_STR_LEN)
        if rc != 0:
            return None
        s = buf.value.decode("ascii", "replace")
        return s or None

    def start_node(self, planet_bytes, storage, port, identity=None):
        """Run the init sequence and zts_node_start(); return the rc dict."""
        L = self.lib
        rcs = {}
        if storage is not None:
            rcs["init_from_storage"] = L.zts_init_from_storage(storage.encode())
        if identity is not None:
            raw = identity.encode("ascii")
            buf = ctypes.create_string_buffer(raw, ID_STR_BUF_LEN)
            rcs["init_from_memory"] = L.zts_init_from_memory(buf, ID_STR_BUF_LEN)
        if planet_bytes is not None:
            pb = ctypes.create_string_buffer(planet_bytes, len(planet_bytes))
            self._planet_buf = pb  # keep alive
            rcs["init_set_roots"] = L.zts_init_set_roots(pb, len(planet_bytes))
        rcs["init_set_port"] = L.zts_init_set_port(port)
        rcs["init_allow_secondary_port"] = L.zts_init_allow_secondary_port(0)
        rcs["init_allow_port_mapping"] = L.zts_init_allow_port_mapping(0)
        rcs["node_start"] = L.zts_node_start()
        return rcs

    # -- TCP over the virtual network ---------------------------------------
    # Note: libzt 1.8.4's zts_tcp_client()/zts_tcp_server() convenience
    # helpers overwrite the socket fd with the 0 that zts_connect()/zts_bind()
    # return on success, so they only work by accident when the socket is
    # fd 0.  The functions below do the same steps without that flaw.

    def tcp_listen_accept(self, local_ip, port):
        fam = AF_INET6 if ":" in local_ip else AF_INET
        lfd = self.lib.zts_bsd_socket(fam, SOCK_STREAM, 0)
        if lfd < 0:
            raise RuntimeError("zts_bsd_socket: %d errno %d" % (lfd, self.errno))
        rc = self.lib.zts_bind(lfd, local_ip.encode(), port)
        if rc < 0:
            raise RuntimeError("zts_bind: %d errno %d" % (rc, self.errno))
        rc = self.lib.zts_bsd_listen(lfd, 1)
        if rc < 0:
            raise RuntimeError("zts_bsd_listen: %d errno %d" % (rc, self.errno))
        rbuf = ctypes.create_string_buffer(IP_STR_LEN)
        rport = ctypes.c_ushort(0)
        fd = self.lib.zts_accept(lfd, rbuf, IP_STR_LEN, ctypes.byref(rport))
        self.lib.zts_bsd_close(lfd)
        if fd < 0:
            raise RuntimeError("zts_accept: %d errno %d" % (fd, self.errno))
        return fd, rbuf.value.decode(), rport.value

    def tcp_connect(self, ip, port, timeout_s):
        """Connect, retrying with a fresh socket every 250 ms until timeout_s.

        The first attempts usually fail for a second or two while ZeroTier
        learns the path to the peer.  libzt's zts_connect() retries on the
        same socket instead; this does one blocking connect per new socket.
        Returns (fd, attempts).
        """
        fam = AF_INET6 if ":" in ip else AF_INET
        sa = ctypes.create_string_buffer(28)  # sizeof(struct zts_sockaddr_storage)
        salen = ctypes.c_uint32(len(sa))
        rc = self.lib.zts_util_ipstr_to_saddr(ip.encode(), port, sa, ctypes.byref(salen))
        if rc != 0:
            raise RuntimeError("bad address %r (rc %d)" % (ip, rc))
        deadline = time.monotonic() + timeout_s
        attempts = 0
        while True:
            fd = self.lib.zts_bsd_socket(fam, SOCK_STREAM, 0)
            if fd < 0:
                raise RuntimeError("zts_bsd_socket: %d errno %d" % (fd, self.errno))
            attempts += 1
            rc = self.lib.zts_bsd_connect(fd, sa, salen.value)
            if rc == 0:
                return fd, attempts
            err = self.errno
            self.lib.zts_bsd_close(fd)
            if time.monotonic() >= deadline:
                raise RuntimeError("connect failed after %d attempts: rc %d errno %d" % (attempts, rc, err))
            time.sleep(0.25)

    def send_all(self, fd, data):
        off = 0
        while off < len(data):
            chunk = data[off:]
            n = self.lib.zts_bsd_send(fd, chunk, len(chunk), 0)
            if n <= 0:
                raise RuntimeError("zts_bsd_send: %d errno %d" % (n, self.errno))
            off += n

    def recv_line(self, fd, limit=1 << 16):
        """Bytes up to and including the first newline (or EOF / limit)."""
        out = bytearray()
        buf = ctypes.create_string_buffer(1)
        while len(out) < limit:
            n = self.lib.zts_bsd_recv(fd, buf, 1, 0)
            if n == 0:
                break
            if n < 0:
                raise RuntimeError("zts_bsd_recv: %d errno %d" % (n, self.errno))
            out += buf.raw[:1]
            if out.endswith(b"\n"):
                break
        return bytes(out)

    def recv_until_eof(self, fd, limit=1 << 20):
        out = bytearray()
        buf = ctypes.create_string_buffer(16384)
        while len(out) < limit:
            n = self.lib.zts_bsd_recv(fd, buf, len(buf), 0)
            if n == 0:
                break
            if n < 0:
                raise RuntimeError("zts_bsd_recv: %d errno %d" % (n, self.errno))
            out += buf.raw[:n]
        return bytes(out)


def load_or_fail():
    try:
        return Libzt()
    except Exception as e:  # noqa: BLE001 - any load problem is a setup error
        fail("cannot load libzt: %s" % e)


# ---------------------------------------------------------------------------
# Planet (World) parsing, independent of libzt
# ---------------------------------------------------------------------------

class PlanetError(ValueError):
    pass


class _Reader:
    def __init__(self, data):
        self.d = data
        self.p = 0

    def take(self, n):
        if self.p + n > len(self.d):
            raise PlanetError("truncated at offset %d (need %d more bytes)" % (self.p, n))
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]

    def u64(self):
        return struct.unpack(">Q", self.take(8))[0]


def parse_planet(data):
    """Parse a serialized ZeroTier World; raise PlanetError if libzt would not."""
    r = _Reader(data)
    wtype = r.u8()
    if wtype not in (0, WORLD_TYPE_PLANET, WORLD_TYPE_MOON):
        raise PlanetError("unknown world type %d" % wtype)
    wid = r.u64()
    ts = r.u64()
    update_key = r.take(64)
    signature = r.take(96)
    nroots = r.u8()
    if nroots > WORLD_MAX_ROOTS:
        raise PlanetError("%d roots (max %d)" % (nroots, WORLD_MAX_ROOTS))
    roots = []
    for _ in range(nroots):
        addr = r.take(5)
        idtype = r.u8()
        if idtype != 0:
            raise PlanetError("root identity type %d (only 0/C25519 exists)" % idtype)
        pub = r.take(64)
        seclen = r.u8()
        if seclen not in (0, 64):
            raise PlanetError("root identity secret length %d" % seclen)
        r.take(seclen)
        nep = r.u8()
        if nep > WORLD_MAX_ENDPOINTS:
            raise PlanetError("%d endpoints (max %d)" % (nep, WORLD_MAX_ENDPOINTS))
        eps = []
        for _ in range(nep):
            t = r.u8()
            if t == 4:
                ip = ipaddress.IPv4Address(r.take(4))
                eps.append({"ip": str(ip), "port": r.u16()})
            elif t == 6:
                ip = ipaddress.IPv6Address(r.take(16))
                eps.append({"ip": str(ip), "port": r.u16()})
            elif t == 0:
                eps.append({"nil": True})
            elif t in (1, 2):
                r.take(6)
                eps.append({"other_type": t})
            elif t == 3:
                r.take(r.u16())
                eps.append({"other_type": t})
            else:
                raise PlanetError("bad endpoint type %d" % t)
        roots.append({
            "address": addr.hex(),
            "identity": "%s:0:%s" % (addr.hex(), pub.hex()),
            "has_secret": seclen != 0,
            "endpoints": eps,
        })
    if wtype == WORLD_TYPE_MOON:
        r.take(r.u16())
    return {
        "type": {0: "null", 1: "planet", 127: "moon"}[wtype],
        "id": wid,
        "ts": ts,
        "update_key": update_key.hex(),
        "signature": signature.hex(),
        "roots": roots,
        "length": r.p,
        "trailing_bytes": len(data) - r.p,
    }


_SAFE_NETS = [ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
    "100.64.0.0/10", "169.254.0.0/16",
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",
    "::1/128", "fc00::/7", "fe80::/10", "2001:db8::/32",
)]


def check_planet_safe(data):
    """Return the parsed planet, or raise PlanetError if it is unsafe to use."""
    if not data:
        raise PlanetError("planet file is empty")
    if len(data) > ROOTS_MAX_LEN:
        raise PlanetError("planet is %d bytes; libzt accepts at most %d" % (len(data), ROOTS_MAX_LEN))
    info = parse_planet(data)
    if info["type"] != "planet":
        raise PlanetError("world type is %s, not planet (libzt would ignore it)" % info["type"])
    for root in info["roots"]:
        for ep in root["endpoints"]:
            if "ip" in ep:
                ip = ipaddress.ip_address(ep["ip"])
                if not any(ip in n for n in _SAFE_NETS):
                    raise PlanetError("root %s lists non-test endpoint %s" % (root["address"], ep["ip"]))
    return info


def read_planet(path, skip_check):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        fail("cannot read planet %s: %s" % (path, e))
    if skip_check:
        return data
    try:
        check_planet_safe(data)
    except (PlanetError, ValueError) as e:
        fail("planet rejected by harness safety check: %s" % e)
    return data


# ---------------------------------------------------------------------------
# Misc helpers
# ---------------------------------------------------------------------------

def free_port(lo=20000, hi=60000, tries=200):
    """A port that is currently free for both UDP and TCP on all addresses."""
    for _ in range(tries):
        p = random.randint(lo, hi)
        ok = True
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            s = socket.socket(socket.AF_INET, kind)
            try:
                s.bind(("0.0.0.0", p))
            except OSError:
                ok = False
            finally:
                s.close()
            if not ok:
                break
        if ok:
            return p
    fail("no free port found in %d-%d" % (lo, hi))


def parse_nwid(s):
    try:
        v = int(s, 16)
    except ValueError:
        v = -1
    if len(s) != 16 or not 0 < v < (1 << 64):
        fail("bad network id %r (want 16 hex digits)" % s)
    return v


def fmt_node_id(v):
    return "%010x" % v if v else None


def read_identity_arg(args):
    if getattr(args, "identity_file", None):
        with open(args.identity_file) as f:
            return f.read().strip()
    return getattr(args, "identity", None)


# ---------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------

def cmd_id_new(args):
    z = load_or_fail()
    ident = z.id_new()
    parts = ident.split(":")
    emit({"identity": ident, "public": ":".join(parts[:3]), "address": parts[0]}, 0)


def cmd_id_valid(args):
    z = load_or_fail()
    rc = z.id_pair_is_valid(args.identity)
    if rc is None:
        emit({"valid": False, "rc": -3, "error": "identity string too long"}, 0)
    emit({"valid": rc == 1, "rc": rc}, 0)


def cmd_planet_info(args):
    with open(args.planet, "rb") as f:
        data = f.read()
    try:
        info = parse_planet(data)
    except (PlanetError, ValueError) as e:
        fail("cannot parse planet: %s" % e, code=1)
    try:
        check_planet_safe(data)
        info["safe_for_tests"] = True
    except (PlanetError, ValueError) as e:
        info["safe_for_tests"] = False
        info["unsafe_reason"] = str(e)
    emit(info, 0)


def cmd_roots_check(args):
    planet = read_planet(args.planet, args.unsafe_skip_planet_check)
    storage = os.path.abspath(args.storage)
    port = args.port or free_port()
    roots_path = os.path.join(storage, "roots")
    result = {"started": None, "roots_file": None, "roots_equal": False,
              "node_id": None, "port": port}
    Watchdog(args.timeout + 20, result)
    z = load_or_fail()
    t0 = time.monotonic()
    rcs = z.start_node(planet, storage, port, read_identity_arg(args))
    result["started"] = rcs["node_start"]
    result["init_rcs"] = rcs
    deadline = t0 + args.timeout
    # libzt writes the planet it adopted to <storage>/roots (its handler for
    # ZT_STATE_OBJECT_PLANET); wait until that file holds our bytes.
    while True:
        nid = z.node_id()
        if nid:
            result["node_id"] = fmt_node_id(nid)
        if os.path.isfile(roots_path):
            result["roots_file"] = roots_path
            try:
                with open(roots_path, "rb") as f:
                    cached = f.read()
            except OSError:
                cached = None
            result["roots_equal"] = cached == planet
            result["roots_file_len"] = len(cached) if cached is not None else None
            try:
                result["roots_file_world_id"] = parse_planet(cached)["id"] if cached else None
            except (PlanetError, ValueError):
                result["roots_file_world_id"] = None
            if result["roots_equal"] and result["node_id"]:
                break
            # libzt replaced an unusable planet by its built-in one: no point waiting.
            if result["roots_file_world_id"] == WORLD_ID_EARTH and result["node_id"]:
                break
        if time.monotonic() >= deadline or rcs["node_start"] != 0:
            break
        time.sleep(0.05)
    result["elapsed_s"] = round(time.monotonic() - t0, 3)
    if rcs["node_start"] == 0:
        result["stop"] = z.lib.zts_node_stop()
    emit(result, 0)


def _net_snapshot(z, nwid):
    st = z.lib.zts_net_get_status(nwid)
    return {
        "status": st,
        "status_name": NET_STATUS_NAMES.get(st, ERR_NAMES.get(st, str(st))),
        "transport_ready": z.lib.zts_net_transport_is_ready(nwid) == 1,
        "ipv4": z.addr_str(nwid, AF_INET) if z.lib.zts_addr_is_assigned(nwid, AF_INET) == 1 else None,
        "ipv6": z.addr_str(nwid, AF_INET6) if z.lib.zts_addr_is_assigned(nwid, AF_INET6) == 1 else None,
    }


def _net_done(snap, wait):
    if wait == "none":
        return True
    if wait == "status":
        return snap["status"] == 1
    if wait == "ipv4":
        return snap["status"] == 1 and snap["transport_ready"] and snap["ipv4"] is not None
    # "ip": any address
    return snap["status"] == 1 and snap["transport_ready"] and (snap["ipv4"] or snap["ipv6"]) is not None


def cmd_client(args):
    storage = os.path.abspath(args.storage)
    roots_path = os.path.join(storage, "roots")
    if args.cached_roots:
        # Start from the roots libzt cached in an earlier run (checked like --planet), so a
        # root can hand this node a newer planet in-band.
        read_planet(roots_path, args.unsafe_skip_planet_check)
        planet = None
    else:
        planet = read_planet(args.planet, args.unsafe_skip_planet_check)
    port = args.port or free_port()
    nwids = [(s.lower(), parse_nwid(s)) for s in args.join]
    if (args.tcp_listen or args.tcp_connect) and not nwids:
        fail("--tcp-listen/--tcp-connect need --join")
    result = {"started": None, "node_id": None, "port": port, "online": False,
              "online_after_s": None, "networks": {}}
    Watchdog(args.deadline, result)
    z = load_or_fail()
    t0 = time.monotonic()
    el = lambda: round(time.monotonic() - t0, 3)  # noqa: E731
    rcs = z.start_node(planet, storage, port, read_identity_arg(args))
    result["started"] = rcs["node_start"]
    result["init_rcs"] = rcs
    if rcs["node_start"] != 0:
        fail("zts_node_start failed", **result)

    ok = True
    # 1. online
    deadline = t0 + args.online_timeout
    while True:
        nid = z.node_id()
        if nid and not result["node_id"]:
            result["node_id"] = fmt_node_id(nid)
        if z.lib.zts_node_is_online() == 1:
            result["online"] = True
            result["online_after_s"] = el()
            break
        if time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    result["node_id"] = fmt_node_id(z.node_id()) or result["node_id"]
    if not result["online"]:
        ok = False

    # 2. join and wait for config / addresses
    if result["online"] or args.join_even_if_offline:
        jt = time.monotonic()
        for name, nwid in nwids:
            rc = z.lib.zts_net_join(nwid)
            result["networks"][name] = {"join_rc": rc, "ready_after_s": None}
        deadline = jt + args.net_timeout
        pending = {name for name, _ in nwids}
        while True:
            for name, nwid in nwids:
                snap = _net_snapshot(z, nwid)
                result["networks"][name].update(snap)
                if name in pending and _net_done(snap, args.wait):
                    pending.discard(name)
                    result["networks"][name]["ready_after_s"] = round(time.monotonic() - jt, 3)
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        if pending:
            ok = False

    # 3. optional one-shot TCP echo over the (first) joined network
    if ok and (args.tcp_listen or args.tcp_connect) and args.tcp_delay > 0:
        time.sleep(args.tcp_delay)
    if ok and (args.tcp_listen or args.tcp_connect):
        tcp = {}
        result["tcp"] = tcp
        try:
            if args.tcp_listen:
                bind_ip = args.tcp_bind
                if bind_ip == "auto":
                    # An AF_INET socket never sees IPv6 peers (and vice
                    # versa), so listen on the address the network gave us.
                    first = result["networks"][nwids[0][0]]
                    bind_ip = first.get("ipv4") or first.get("ipv6")
                tcp["listen"] = "%s/%d" % (bind_ip, args.tcp_listen)
                fd, rip, rport = z.tcp_listen_accept(bind_ip, args.tcp_listen)
                tcp["peer"] = "%s/%d" % (rip, rport)
                # One line in, the same line back.  No shutdown(): libzt
                # 1.8.4 segfaulted now and then in zts_bsd_shutdown() on a
                # connection the peer had already half-closed (an IPv6
                # locking bug, see stub.c).
                data = z.recv_line(fd)
                tcp["received"] = data.rstrip(b"\n").decode("utf-8", "replace")
                z.send_all(fd, data)
                # Give the peer up to 2 s to read the echo and close first
                # (it may also just exit without closing).
                z.lib.zts_set_recv_timeout(fd, 2, 0)
                try:
                    z.recv_until_eof(fd)
                except RuntimeError:
                    pass  # timed out, or ENOTCONN instead of EOF
                z.lib.zts_bsd_close(fd)
                tcp["ok"] = data.endswith(b"\n")
            else:
                ip, _, p = args.tcp_connect.rpartition(":")
                ip = ip.strip("[]")
                msg = args.tcp_message.encode()
                if b"\n" in msg:
                    fail("--tcp-message must be a single line")
                ct = time.monotonic()
                fd, attempts = z.tcp_connect(ip, int(p), args.tcp_timeout)
                tcp["connected_after_s"] = round(time.monotonic() - ct, 3)
                tcp["connect_attempts"] = attempts
                z.send_all(fd, msg + b"\n")
                echo = z.recv_line(fd)
                # No zts_bsd_close here: libzt 1.8.4 has been seen to crash closing a socket
                # the peer already closed; the process exits right after anyway.
                tcp["sent"] = args.tcp_message
                tcp["echo"] = echo.rstrip(b"\n").decode("utf-8", "replace")
                tcp["ok"] = echo == msg + b"\n"
        except RuntimeError as e:
            tcp["ok"] = False
            tcp["error"] = str(e)
        if not tcp.get("ok"):
            ok = False

    if args.hold > 0:
        for name, _ in nwids:
            before = {k: v for k, v in result["networks"][name].items() if k != "before_hold"}
            result["networks"][name]["before_hold"] = before
        time.sleep(args.hold)
        for name, nwid in nwids:
            result["networks"][name].update(_net_snapshot(z, nwid))
        result["online"] = z.lib.zts_node_is_online() == 1

    result["elapsed_s"] = el()
    try:
        with open(roots_path, "rb") as f:
            result["roots_hex"] = f.read().hex()
    except OSError:
        result["roots_hex"] = None
    result["stop"] = z.lib.zts_node_stop()
    emit(result, 0 if ok else 1)


def cmd_addr(args):
    """Addresses ZeroTier derives from (network id, node id), via libzt."""
    nwid = parse_nwid(args.nwid)
    try:
        node = int(args.node_id, 16)
    except ValueError:
        node = 0
    if len(args.node_id) != 10 or not node:
        fail("bad node id %r (want 10 hex digits)" % args.node_id)
    z = load_or_fail()
    out = {}
    for key, fn in (("6plane", z.lib.zts_addr_compute_6plane_str),
                    ("rfc4193", z.lib.zts_addr_compute_rfc4193_str)):
        buf = ctypes.create_string_buffer(IP_STR_LEN)
        rc = fn(nwid, node, buf, IP_STR_LEN)
        out[key] = buf.value.decode() if rc == 0 else None
    emit(out, 0)


def cmd_adhoc_id(args):
    z = load_or_fail()
    emit({"nwid": "%016x" % z.lib.zts_net_compute_adhoc_id(args.start_port, args.end_port)}, 0)


def cmd_mkplanet(args):
    """Sign a planet with libzt's zts_util_sign_root_set (reference output).

    libzt reads previous.c25519/current.c25519 from the current directory if
    present, so this runs in a fresh temporary directory; the generated
    signing key pair is returned in the JSON (hex: 32-byte+32-byte public
    followed by 64-byte private).
    """
    if not args.root:
        fail("need at least one --root IDENTITY@IP/PORT[,IP/PORT...]")
    if len(args.root) > WORLD_MAX_ROOTS:
        fail("at most %d roots" % WORLD_MAX_ROOTS)

    class RootSet(ctypes.Structure):
        _fields_ = [("public_id_str", ctypes.c_char_p * MAX_ROOTS),
                    ("endpoint_ip_str", (ctypes.c_char_p * MAX_ENDPOINTS_PER_ROOT) * MAX_ROOTS)]

    spec = RootSet()
    keep = []
    for i, r in enumerate(args.root):
        ident, _, eps = r.partition("@")
        b = ident.encode()
        keep.append(b)
        spec.public_id_str[i] = b
        for j, ep in enumerate(e for e in eps.split(",") if e):
            if "/" not in ep:
                fail("endpoint %r must be IP/PORT" % ep)
            eb = ep.encode()
            keep.append(eb)
            spec.endpoint_ip_str[i][j] = eb
    z = load_or_fail()
    out = ctypes.create_string_buffer(ROOTS_MAX_LEN * 4)
    out_len = ctypes.c_uint(len(out))
    prev = ctypes.create_string_buffer(256)
    prev_len = ctypes.c_uint(len(prev))
    cur = ctypes.create_string_buffer(256)
    cur_len = ctypes.c_uint(len(cur))
    old_cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as td:
        os.chdir(td)
        rc = z.lib.zts_util_sign_root_set(out, ctypes.byref(out_len), prev, ctypes.byref(prev_len),
                                          cur, ctypes.byref(cur_len), args.id, args.ts,
                                          ctypes.byref(spec))
        os.chdir(old_cwd)
    if rc != 0:
        fail("zts_util_sign_root_set returned %d" % rc)
    data = out.raw[:out_len.value]
    with open(args.out, "wb") as f:
        f.write(data)
    emit({"out": os.path.abspath(args.out), "length": len(data),
          "signing_key": cur.raw[:cur_len.value].hex()}, 0)


# ---------------------------------------------------------------------------

def main():
    # A crash inside libzt then at least shows the Python stack on stderr.
    faulthandler.enable(all_threads=True)
    ap = argparse.ArgumentParser(prog="zt.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    sub.add_parser("id-new", help="generate an identity (addr:0:public:secret)")

    p = sub.add_parser("id-valid", help="zts_id_pair_is_valid on an identity string")
    p.add_argument("identity", help="addr:0:public or addr:0:public:secret")

    p = sub.add_parser("planet-info", help="parse a planet file (no libzt needed)")
    p.add_argument("planet")

    def node_opts(p):
        p.add_argument("--port", type=int, default=0,
                       help="UDP port for the node (default: a free random port in 20000-60000)")
        g = p.add_mutually_exclusive_group()
        g.add_argument("--identity", help="secret identity string to use instead of generating one")
        g.add_argument("--identity-file", help="file holding a secret identity string")
        p.add_argument("--unsafe-skip-planet-check", action="store_true",
                       help="start even if the planet fails the harness's safety check "
                            "(only inside an isolated network namespace)")

    p = sub.add_parser("roots-check", help="check that libzt adopts and caches a planet")
    p.add_argument("planet")
    p.add_argument("storage")
    p.add_argument("--timeout", type=float, default=15.0,
                   help="seconds to wait for <storage>/roots (default 15)")
    node_opts(p)

    p = sub.add_parser("client", help="run a client node")
    p.add_argument("--planet", required=True)
    p.add_argument("--cached-roots", action="store_true",
                   help="do not pass --planet to libzt: start from STORAGE/roots cached by an "
                        "earlier run (the output's roots_hex shows the roots at exit)")
    p.add_argument("--storage", required=True)
    node_opts(p)
    p.add_argument("--online-timeout", type=float, default=30.0,
                   help="seconds to wait for ONLINE (default 30)")
    p.add_argument("--join", action="append", default=[], metavar="NWID",
                   help="network id to join (16 hex digits); repeatable")
    p.add_argument("--join-even-if-offline", action="store_true",
                   help="join and wait even when the node never came online")
    p.add_argument("--wait", choices=["none", "status", "ip", "ipv4"], default="ip",
                   help="per network, wait for: status OK; OK+transport+any IP (default); "
                        "OK+transport+IPv4; or nothing")
    p.add_argument("--net-timeout", type=float, default=30.0,
                   help="seconds after join to wait for --wait (default 30)")
    p.add_argument("--hold", type=float, default=0.0,
                   help="stay up this many seconds at the end, then re-read status")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--tcp-listen", type=int, metavar="PORT",
                   help="accept one TCP connection on PORT, echo one line back, close")
    g.add_argument("--tcp-connect", metavar="IP:PORT",
                   help="connect to IP:PORT (IPv6 as [addr]:port), send --tcp-message and a "
                        "newline, expect the same line back")
    p.add_argument("--tcp-bind", default="auto",
                   help="address for --tcp-listen (default: the first joined network's IPv4 "
                        "address, else its IPv6 address)")
    p.add_argument("--tcp-delay", type=float, default=0.0,
                   help="seconds to wait after joining before the TCP step")
    p.add_argument("--tcp-message", default="hello from libzt")
    p.add_argument("--tcp-timeout", type=float, default=30.0,
                   help="seconds for the TCP connect to succeed (default 30)")
    p.add_argument("--deadline", type=float, default=180.0,
                   help="hard limit for the whole run; prints what it has and exits 1 (default 180)")

    p = sub.add_parser("addr", help="6plane and rfc4193 IPv6 addresses of a node on a network")
    p.add_argument("nwid")
    p.add_argument("node_id")

    p = sub.add_parser("adhoc-id", help="controller-less (ad-hoc) network id for a port range")
    p.add_argument("start_port", type=int)
    p.add_argument("end_port", type=int)

    p = sub.add_parser("mkplanet", help="sign a planet with libzt's own signer (reference)")
    p.add_argument("--out", required=True)
    p.add_argument("--id", type=int, default=1)
    p.add_argument("--ts", type=int, default=1)
    p.add_argument("--root", action="append", default=[], metavar="IDENTITY@IP/PORT[,IP/PORT]",
                   help="root public identity and stable endpoints; repeatable (max 4)")

    try:
        args = ap.parse_args()
    except SystemExit as e:
        os._exit(2 if e.code else 0)

    handlers = {"id-new": cmd_id_new, "id-valid": cmd_id_valid, "planet-info": cmd_planet_info,
                "roots-check": cmd_roots_check, "client": cmd_client, "mkplanet": cmd_mkplanet,
                "addr": cmd_addr, "adhoc-id": cmd_adhoc_id}
    try:
        handlers[args.cmd](args)
    except Exception as e:  # noqa: BLE001 - always answer with one JSON object
        fail("%s: %s" % (type(e).__name__, e))
    emit({"error": "internal: handler returned without output"}, 2)


if __name__ == "__main__":
    main()
