"""The attacks of bench/abuse.sh, beside a steady boot storm of real phones.

Usage: abuse.py HTTP_ADDR TFTP_ADDR TOKEN PID SECONDS DEVICES

Legitimate phones (from 127.0.0.1, registered) fetch their own files at a
steady rate; their latency and failures are what the run is judged by.
Beside them, from other loopback networks, attackers:
  - fill the render cache: unique valid Hosts and noisy User-Agents;
  - send oversized headers;
  - import hostile spreadsheets (a far cell, a huge shared-string count);
  - log in as unknown users, 100 at once;
  - trickle headers on hundreds of connections and hold 2,000 idle ones;
  - flood TFTP read requests with the longest timeout, never acknowledged;
  - sweep MACs from one network and from 60;
  - upload many small parts in one request;
  - fill the login-lock table: made-up names from 1,000 IPv4 /24s and from
    IPv6 /64s, each network paced under its login gate, while the
    administrator logs in from a fresh network and from an attacker's;
  - flood the phone throttle with unknown MACs from 100,000 IPv6 /64s,
    timing each miss as the table grows;
  - fetch a template that loops away in a data-dir pack, while /healthz is
    timed;
  - write all-phone changes into the database from another process, 20 a
    second.
Each of these four prints its own figures at the end.
ONLY=<text> runs only the attacks whose names contain it. Every 5 s it
prints sipprov's RSS; at the end, the legitimate fetches'
p50/p99 and failures, and the peak RSS.
"""

import asyncio
import io
import json
import multiprocessing
import os
import random
import socket
import statistics
import sys
import time
import zipfile

HTTP, TFTP, TOKEN, PID = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
# Set by bench/abuse.sh: the admin password, the data dir, the database
# (empty for SQLite in the data dir), and the IPv6 prefix routed to lo.
ADMIN_PASSWORD = os.environ.get("SIPPROV_ADMIN_PASSWORD", "")
DATA_DIR = os.environ.get("BENCH_DATA_DIR", "")
DB_URL = os.environ.get("BENCH_DB_URL", "")
V6_PREFIX = os.environ.get("BENCH_V6_PREFIX", "")
SECONDS, DEVICES = int(sys.argv[5]), int(sys.argv[6])
HOST, PORT = HTTP.split(":")[0], int(HTTP.split(":")[1])
LEGIT_RATE = 200  # phone fetches a second
END = time.monotonic() + SECONDS

latencies, failures, rss = [], [], []
attack_counts = {}


def rss_mib():
    with open(f"/proc/{PID}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
    return 0


async def request(reader, writer, method, path, headers=(), body=b""):
    """One request on a keep-alive connection: (status, body)."""
    head = f"{method} {path} HTTP/1.1\r\nHost: {HTTP}\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    writer.write(head.encode() + body)
    await writer.drain()
    status_line = await reader.readline()
    status = int(status_line.split()[1]) if status_line else 0
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return status


IP_FREEBIND = 15  # linux/in.h: bind to an address the routes make local


async def connect(source="127.0.0.1"):
    if ":" in source:
        # The /32 routed to lo is local, but binding to one of its addresses
        # needs IP_FREEBIND (or the ip_nonlocal_bind sysctl).
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
        sock.setblocking(False)
        sock.bind((source, 0, 0, 0))
        await asyncio.get_running_loop().sock_connect(sock, ("::1", PORT))
        return await asyncio.open_connection(sock=sock)
    return await asyncio.open_connection(HOST, PORT, local_addr=(source, 0))


def v6(n, host=1):
    """An address in the n-th /64 of the prefix routed to lo."""
    return f"{V6_PREFIX}:{n >> 16:x}:{n & 0xffff:x}::{host:x}"


async def one_request(source, method, path, headers=(), body=b""):
    """A request on a connection of its own: (status, seconds)."""
    started = time.monotonic()
    reader, writer = await connect(source)
    try:
        status = await asyncio.wait_for(request(reader, writer, method, path, headers, body), 30)
    finally:
        writer.close()
    return status, time.monotonic() - started


def login_body(login, password):
    return [("Content-Type", "application/json")], json.dumps({"login": login, "password": password}).encode()


figures = []


def report(line):
    figures.append(line)


def counted(name):
    attack_counts[name] = attack_counts.get(name, 0) + 1


async def legit_phone(worker, workers):
    """Registered phones fetching their configuration at a steady rate."""
    interval = workers / LEGIT_RATE
    reader, writer = await connect()
    while time.monotonic() < END:
        started = time.monotonic()
        mac = "02%010x" % random.randrange(DEVICES)
        try:
            status = await asyncio.wait_for(
                request(reader, writer, "GET", f"/prov/{mac}.cfg", [("User-Agent", "Yealink SIP-T46G 28.86.0.15")]), 10)
        except Exception as err:  # a refused or dropped fetch is a failure
            status = repr(err)
            reader, writer = await connect()
        took = time.monotonic() - started
        if status == 200:
            latencies.append(took * 1000)
        else:
            failures.append(status)
        await asyncio.sleep(max(0, interval - took))


async def attack_loop(name, source, body):
    while time.monotonic() < END:
        try:
            await body(source)
        except Exception:
            pass
        counted(name)


async def cache_filler(source):
    reader, writer = await connect(source)
    for n in range(200):
        host = f"h{random.getrandbits(64):x}.{'y' * 60}.example.com"
        ua = f"Yealink SIP-T46G 28.86.0.15 00:15:65:00:00:01 {'x' * 4000}{n}"
        writer.write(f"GET /prov/cfg.xml HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {ua}\r\n\r\n".encode())
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()


async def oversized_headers(source):
    reader, writer = await connect(source)
    writer.write(f"GET /prov/cfg.xml HTTP/1.1\r\nHost: {'a' * 200_000}\r\n\r\n".encode())
    await writer.drain()
    await reader.read(100)
    writer.close()


def hostile_workbook(kind):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>')
        z.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheets><sheet name="a" sheetId="1"/></sheets></workbook>')
        cell = '<c r="XFD200000" t="s"><v>0</v></c>' if kind == "far" else '<c r="A1" t="s"><v>0</v></c>'
        z.writestr("xl/worksheets/sheet1.xml", f'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1">{cell}</row></sheetData></worksheet>')
        count = "100000000000" if kind == "sst" else "1"
        z.writestr("xl/sharedStrings.xml", f'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="{count}" uniqueCount="{count}"><si><t>mac</t></si></sst>')
    return out.getvalue()


WORKBOOKS = [hostile_workbook("far"), hostile_workbook("sst")]


async def spreadsheets(source):
    reader, writer = await connect(source)
    for book in WORKBOOKS:
        await request(reader, writer, "POST", "/api/device_provisions/import?dry_run=1",
                      [("X-XTRA-AUTH-ID", TOKEN), ("Content-Type", "application/octet-stream")], book)
    writer.close()
    await asyncio.sleep(1)


async def bogus_logins(_):
    async def one(n):
        reader, writer = await connect(f"127.0.{50 + n % 4}.1")
        body = json.dumps({"login": f"nobody-{n}", "password": "wrong-password"}).encode()
        await request(reader, writer, "POST", "/api/sessions", [("Content-Type", "application/json")], body)
        writer.close()
    await asyncio.gather(*(one(n) for n in range(100)), return_exceptions=True)


async def tricklers(source):
    async def one():
        reader, writer = await connect(source)
        writer.write(b"GET /prov/cfg.xml HTTP/1.1\r\n")
        while time.monotonic() < END:
            await asyncio.sleep(5)
            writer.write(b"x-slow: 1\r\n")
            await writer.drain()
    await asyncio.gather(*(one() for _ in range(300)), return_exceptions=True)


async def idle_connections(source):
    held = []
    for _ in range(2000):
        try:
            held.append(await connect(source))
        except OSError:
            break
    await asyncio.sleep(30)
    for _, writer in held:
        writer.close()


async def tftp_flood(source):
    if TFTP == "-":
        await asyncio.sleep(60)
        return
    host, port = TFTP.split(":")
    sockets = []
    for _ in range(200):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((source, 0))
        s.sendto(b"\x00\x01y000000000000.cfg\x00octet\x00timeout\x00255\x00", (host, int(port)))
        sockets.append(s)
    await asyncio.sleep(5)
    for s in sockets:
        s.close()


async def sweeps(_):
    async def sweep(network, count):
        reader, writer = await connect(f"127.1.{network}.1")
        for n in range(count):
            await request(reader, writer, "GET", f"/prov/02ff{network:02x}{random.getrandbits(24):06x}.cfg")
        writer.close()
    await sweep(0, 150)
    await asyncio.gather(*(sweep(n, 99) for n in range(1, 61)), return_exceptions=True)


async def many_parts(source):
    reader, writer = await connect(source)
    boundary = "bench"
    parts = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p{n}.png"\r\n\r\n\x89PNG\r\n\x1a\n\r\n'
                    for n in range(40))
    body = (parts + f"--{boundary}--\r\n").encode("latin-1")
    await request(reader, writer, "POST", "/api/upload",
                  [("X-XTRA-AUTH-ID", TOKEN), ("Content-Type", f"multipart/form-data; boundary={boundary}")], body)
    writer.close()
    await asyncio.sleep(1)


async def sample_rss():
    started = time.monotonic()
    while time.monotonic() < END:
        rss.append(rss_mib())
        print(f"t={time.monotonic() - started:5.0f}s rss={rss[-1]} MiB legit={len(latencies)} failed={len(failures)}", flush=True)
        await asyncio.sleep(5)


async def lock_table_fill(_):
    """Made-up names from 1,000 /24s and 1,000 /64s, each network at 4
    attempts a second (its gate allows 5), for the whole run; every 10 s the
    administrator logs in from a fresh network and from an attacker's."""
    networks = [f"127.{100 + n // 256}.{n % 256}.1" for n in range(1000)]
    if V6_PREFIX:
        networks += [v6(0x10000 + n) for n in range(1000)]
    answered = {"wrong": 0, "refused": 0, "other": 0}

    async def attacker(source, seed):
        n = 0
        while time.monotonic() < END:
            n += 1
            headers, body = login_body(f"made-up-{seed}-{n}", "wrong-password")
            try:
                status, _ = await one_request(source, "POST", "/api/sessions", headers, body)
            except Exception:
                status = 0
            answered["wrong" if status == 403 else "refused" if status == 429 else "other"] += 1
            await asyncio.sleep(0.25)

    async def administrator():
        checks = []
        while time.monotonic() < END - 5:
            await asyncio.sleep(10)
            for where, source in [("fresh network", f"127.254.{len(checks) % 250}.1"), ("attacker's network", networks[7])]:
                headers, body = login_body("admin", ADMIN_PASSWORD)
                try:
                    status, took = await one_request(source, "POST", "/api/sessions", headers, body)
                except Exception as err:
                    status, took = repr(err), 0
                checks.append((where, status, took))
        parts = []
        for where in ("fresh network", "attacker's network"):
            mine = [c for c in checks if c[0] == where]
            ok = sorted(c[2] for c in mine if c[1] == 200)
            statuses = sorted({str(c[1]) for c in mine if c[1] != 200})
            slowest = f", slowest {ok[-1] * 1000:.0f} ms" if ok else ""
            parts.append(f"from a {where} {len(ok)}/{len(mine)} ok{slowest}" + (f" (else {statuses})" if statuses else ""))
        report(f"lock-table fill: {len(networks)} networks; answers {answered}; the administrator's logins: " + "; ".join(parts))

    await asyncio.gather(administrator(), *(attacker(s, i) for i, s in enumerate(networks)), return_exceptions=True)


async def throttle_flood(_):
    """One unknown MAC from each of 100,000 /64s (or /24s without IPv6),
    timing the misses at each 10,000 networks."""
    count = 100_000 if V6_PREFIX else 60_000
    source = v6 if V6_PREFIX else (lambda n: f"127.{(n >> 8) & 255}.{n & 255}.{10 + (n >> 16)}")
    timings = []

    async def miss(n):
        status, took = await one_request(source(0x20000 + n if V6_PREFIX else n), "GET", f"/prov/03{n:010x}.cfg")
        return took

    for start in range(0, count, 10_000):
        if time.monotonic() > END:
            break
        took = []
        for batch in range(start, start + 10_000, 100):
            took += await asyncio.gather(*(miss(n) for n in range(batch, batch + 100)), return_exceptions=True)
        took = sorted(t for t in took if isinstance(t, float))
        if took:
            timings.append((start + 10_000, took[len(took) // 2] * 1000, took[int(len(took) * 0.99)] * 1000))
    rows = "; ".join(f"{n} networks: p50 {p50:.2f} ms, p99 {p99:.2f} ms" for n, p50, p99 in timings)
    report(f"throttle flood ({'IPv6 /64s' if V6_PREFIX else 'IPv4 /24s'}), one miss per network, on a connection each: {rows}")
    await asyncio.sleep(max(0, END - time.monotonic()))


BOMB = "".join(f'{{% for c{n} in "{"x" * 100}" %}}' for n in range(5)) + "{% endfor %}" * 5


async def template_bomb(_):
    """A data-dir pack (family `bomb`) whose file loops away for one phone,
    fetched every 2 s; /healthz timed meanwhile."""
    if not DATA_DIR:
        return
    pack = os.path.join(DATA_DIR, "templates", "bomb")
    os.makedirs(pack, exist_ok=True)
    with open(os.path.join(pack, "vendor.toml"), "w") as f:
        f.write("[vendor]\nouis = [\"02b0b0\"]\n\n[[user_agents]]\n"
                "pattern = '^BombPhone (?P<model>[A-Z0-9]+)/(?P<fw>[0-9.]+)'\nsamples = [\"BombPhone B1/6.6.6\"]\n\n"
                "[[files]]\nname = \"bomb.cfg\"\ntemplate = \"bomb.cfg\"\nkind = \"common\"\n")
    # The sample phone has no firmware, so the reload takes the pack; a
    # phone with firmware 6.6.6 sets it looping.
    with open(os.path.join(pack, "bomb.cfg"), "w") as f:
        f.write('{% if device.firmware == "6.6.6" %}' + BOMB + "{% endif %}ok\n")
    await asyncio.sleep(3)  # the reload
    health, fetched = [], []
    while time.monotonic() < END:
        try:
            status, took = await one_request("127.0.20.1", "GET", "/prov/bomb.cfg", [("User-Agent", "BombPhone B1/6.6.6")])
            fetched.append(status)
        except Exception as err:
            fetched.append(repr(err))
        for _ in range(4):
            try:
                _, took = await one_request("127.0.20.2", "GET", "/healthz")
                health.append(took * 1000)
            except Exception:
                health.append(float("inf"))
            await asyncio.sleep(0.5)
    health.sort()
    report(f"template bomb: {len(fetched)} fetches answered {sorted(set(map(str, fetched)))}; "
           f"/healthz p50 {health[len(health) // 2]:.1f} ms, max {health[-1]:.1f} ms over {len(health)} checks")


async def change_flood(_):
    """Another process changes a site setting 20 times a second."""
    if not DATA_DIR:
        return
    written = 0
    headers = [("X-XTRA-AUTH-ID", TOKEN), ("Content-Type", "application/json")]
    body = json.dumps({"realm": "PROVISION", "k": "ntp_server", "v": "flood.example.com"}).encode()
    await one_request("127.0.21.1", "POST", "/api/dicts", headers, body)
    while time.monotonic() < END:
        written += 1
        sql = f"UPDATE dicts SET v = 'flood{written}.example.com' WHERE realm = 'PROVISION' AND k = 'ntp_server'"
        if DB_URL:
            cmd = ["psql", "-q", DB_URL, "-c", sql]
        else:
            cmd = ["sqlite3", os.path.join(DATA_DIR, "sipprov.db"), ".timeout 5000", sql]
        proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        await proc.wait()
        await asyncio.sleep(0.05)
    report(f"change flood: {written} all-phone changes written from another process")


ATTACKS = [
    ("cache filler", "127.0.10.1", cache_filler),
    ("oversized headers", "127.0.11.1", oversized_headers),
    ("hostile spreadsheets", "127.0.12.1", spreadsheets),
    ("100 bogus logins", "127.0.50.1", bogus_logins),
    ("300 trickling clients", "127.0.13.1", tricklers),
    ("2,000 idle connections", "127.0.14.1", idle_connections),
    ("TFTP flood", "127.0.15.1", tftp_flood),
    ("MAC sweeps", "127.1.0.1", sweeps),
    ("40-part upload", "127.0.16.1", many_parts),
    ("lock-table fill", "-", lock_table_fill),
    ("throttle flood", "-", throttle_flood),
    ("template bomb", "-", template_bomb),
    ("change flood", "-", change_flood),
]


async def attackers():
    # ONLY=<words> runs just the attacks whose names contain them.
    only = os.environ.get("ONLY", "")
    attacks = [a for a in ATTACKS if only in a[0]]
    await asyncio.gather(*(attack_loop(name, source, body) for name, source, body in attacks))
    print("attack rounds: " + ", ".join(f"{k} {v}" for k, v in attack_counts.items()), flush=True)
    for line in figures:
        print(line, flush=True)


async def phones():
    workers = 20
    await asyncio.gather(sample_rss(), *(legit_phone(n, workers) for n in range(workers)))
    ordered = sorted(latencies)
    p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")
    print()
    print("| | measured | target |")
    print("|---|---|---|")
    print(f"| peak RSS | {max(rss)} MiB | < 200 MiB |")
    print(f"| legitimate fetches | {len(latencies)} | {LEGIT_RATE * SECONDS} |")
    print(f"| legitimate p50 | {p(0.50):.1f} ms | |")
    print(f"| legitimate p99 | {p(0.99):.1f} ms | < 50 ms |")
    print(f"| legitimate failures | {len(failures)} | 0 |")
    if failures:
        print("failures: " + ", ".join(sorted({str(f) for f in failures})[:10]))
    print(flush=True)


if __name__ == "__main__":
    # The phones and the attackers each get a process of their own, so a
    # busy attacker does not slow the phones' own client and skew their
    # latency.
    attacking = multiprocessing.Process(target=lambda: asyncio.run(attackers()))
    attacking.start()
    asyncio.run(phones())
    attacking.join()
