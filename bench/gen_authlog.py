"""Write a synthetic Debian 12 ``/var/log/auth.log`` for the filter benchmark.

Why synthetic: a real auth.log holds real addresses and user names and cannot
be shipped; Fail2ban's test logs are GPL and too small. This one is seeded
(same ``--lines``/``--seed``/``--start`` give the same bytes), streams to disk,
and writes a million lines in a few seconds.

Format: rsyslog's traditional file format as Debian 12 writes it
(``Nov 16 13:54:01 web1 sshd[1234]: ...``), timestamps never decreasing,
spread over ``--days`` days. Connections run concurrently, so the lines of
different sshd processes interleave as they do on a real host.

Mix, by lines, measured at the default seed and 1,000,000 lines (run with
``--stats`` for any other size):

* 52 % sshd brute force (invalid users 30 %, existing accounts 17 %,
  scanners 5.5 %) from a pool of ``lines / 250`` attacking addresses (4,000
  at 1M lines; 3,965 of them in the failures fail2ban-regex counts): 88 %
  random global IPv4, 4 % RFC 5737 IPv4, 8 % RFC 3849 IPv6 (2001:db8::/32);
  Zipf-like activity (weight 1/rank**0.9), so a few hosts do much of the work. OpenSSH 9.2 message
  sequences per connection:

  - invalid user, one or more passwords (``Invalid user``, ``check pass; user
    unknown``, ``authentication failure``, ``Failed password for invalid
    user``, ``Received disconnect ...:11: Bye Bye [preauth]``,
    ``Disconnected from invalid user``, ``PAM n more authentication
    failures``), including the odd empty user name;
  - root (or another existing account) guessed 1 to 6 times, ending in a
    client disconnect, ``Connection closed by authenticating user``, or
    ``maximum authentication attempts exceeded`` + ``Disconnecting
    authenticating user ...: Too many authentication failures`` + ``PAM 5
    more authentication failures`` + ``PAM service(sshd) ignoring max
    retries``;
  - scanners: ``Connection closed/reset by A port P [preauth]``,
    ``kex_exchange_identification`` errors with ``banner exchange: ...
    invalid format``, ``Unable to negotiate ... no matching key exchange
    method found``, ``Did not receive identification string``,
    ``Failed none for invalid user``.

* 48 % normal noise: CRON sessions 29 %; legitimate SSH logins by three
  admins from fixed RFC 5737/3849 addresses (publickey mostly, 5 % after one
  mistyped password) with their pam_unix, systemd-user and systemd-logind
  lines 8.4 %; sudo 8.2 %; su 1.5 %; polkitd, systemd-logind seat lines,
  sshd restarts, passwd, useradd 0.2 %.

57 % of all lines contain the string ``sshd`` (the attacks plus the sshd and
``pam_unix(sshd:session)`` lines of legitimate logins). The log spans
Nov 16 00:00 to Nov 22 20:35 with the defaults.
No address in the file is ever contacted; it is only text.
"""

from __future__ import annotations

import argparse
import base64
import heapq
import ipaddress
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

HOST = "web1"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# A step is (seconds after the previous line of the same process, text after "host ").
Step = tuple[int, str]
Episode = Iterator[Step]

INVALID_USERS = (
    "admin",
    "test",
    "user",
    "ubuntu",
    "oracle",
    "postgres",
    "git",
    "ftpuser",
    "guest",
    "pi",
    "support",
    "test1",
    "user1",
    "administrator",
    "mysql",
    "dev",
    "deployer",
    "jenkins",
    "hadoop",
    "minecraft",
    "teamspeak",
    "ts3",
    "steam",
    "es",
    "elastic",
    "kafka",
    "zabbix",
    "nagios",
    "apache",
    "nginx",
    "tomcat",
    "odoo",
    "centos",
    "debian",
    "vagrant",
    "ansible",
    "docker",
    "k8s",
    "sftp",
    "ftp",
    "backup",
    "www",
    "web",
    "sysadmin",
    "server",
    "demo",
    "student",
    "teste",
    "usuario",
    "admin1",
    "a",
    "info",
    "sales",
    "office",
    "hp",
    "ubnt",
    "default",
    "service",
    "operator",
    "1234",
    "root1",
    "Admin",
    "ADMIN",
    "bot",
    "sol",
    "solana",
    "validator",
    "node",
    "ethereum",
    "trader",
)
EXISTING_TARGETS = ("root",) * 12 + ("www-data", "backup", "nobody", "deploy")
ADMINS = (("deploy", 1000), ("alice", 1001), ("bob", 1002))
ADMIN_ADDRS = ("198.51.100.7", "198.51.100.23", "203.0.113.42", "2001:db8:100::17")
SUDO_COMMANDS = (
    "/usr/bin/apt update",
    "/usr/bin/apt upgrade -y",
    "/usr/bin/systemctl restart nginx",
    "/usr/bin/systemctl status rampart",
    "/usr/bin/journalctl -u ssh -n 50",
    "/usr/bin/tail -f /var/log/auth.log",
    "/usr/sbin/nft list ruleset",
    "/usr/bin/docker ps",
    "/bin/bash",
    "/usr/bin/vim /etc/nginx/sites-available/default",
)
CRON_USERS = (("root", 0),) * 6 + (("www-data", 33), ("backup", 34))
KEX_OFFERS = (
    "diffie-hellman-group1-sha1,diffie-hellman-group14-sha1",
    "diffie-hellman-group14-sha1,diffie-hellman-group-exchange-sha1,diffie-hellman-group1-sha1",
    "diffie-hellman-group1-sha1",
)
HOSTKEY_OFFERS = ("ssh-rsa,ssh-dss", "ssh-dss")
BYE = ("Bye Bye", "Bye Bye", "Bye Bye", "Normal Shutdown, Thank you for playing", "")


class PidCounter:
    """Process ids that grow and wrap, so concurrent processes differ."""

    def __init__(self, rng: random.Random, start: int) -> None:
        self.rng = rng
        self.value = start

    def next(self) -> int:
        self.value += self.rng.randint(1, 9)
        if self.value > 4_194_000:
            self.value = 1000
        return self.value


def _public_ipv4(rng: random.Random) -> str:
    """A random address that is global unicast (never contacted: text only)."""
    while True:
        value = rng.getrandbits(32)
        addr = ipaddress.IPv4Address(value)
        if addr.is_global and not addr.is_multicast and 1 <= value >> 24 < 224:
            return str(addr)


def _attacker_pool(rng: random.Random, size: int) -> list[str]:
    """Mostly random public-looking IPv4, some RFC 5737, some RFC 3849 IPv6."""
    docs4 = [f"{net}.{i}" for net in ("192.0.2", "198.51.100", "203.0.113") for i in range(1, 255)]
    docs4 = [a for a in docs4 if a not in ADMIN_ADDRS]
    pool: set[str] = set()
    while len(pool) < size:
        r = rng.random()
        if r < 0.08:
            # 2001:db8:XXXX:XXXX:: /64 prefix; interface id small (::2a) or random.
            prefix = (0x20010DB8 << 96) | (rng.getrandbits(32) << 64)
            iid = rng.getrandbits(64) if rng.random() < 0.6 else rng.randint(1, 0xFFFF)
            pool.add(str(ipaddress.IPv6Address(prefix | iid)))
        elif r < 0.12:
            pool.add(rng.choice(docs4))
        else:
            pool.add(_public_ipv4(rng))
    out = sorted(pool)
    rng.shuffle(out)
    return out


class Generator:
    """Builds the episodes (one process's lines each) and their mix."""

    def __init__(self, rng: random.Random, lines: int) -> None:
        self.rng = rng
        self.pids = PidCounter(rng, rng.randint(2000, 9000))
        self.attackers = _attacker_pool(rng, max(20, lines // 250))
        # Zipf-like weights: rank k gets 1/k**0.9, so a few hosts dominate.
        self.attacker_cum: list[float] = []
        total = 0.0
        for k in range(1, len(self.attackers) + 1):
            total += 1.0 / k**0.9
            self.attacker_cum.append(total)
        self.session_no = rng.randint(100, 900)
        fp = [base64.b64encode(rng.randbytes(32)).decode().rstrip("=") for _ in ADMINS]
        self.fingerprints = {name: fp[i] for i, (name, _) in enumerate(ADMINS)}

    # -- helpers -------------------------------------------------------------------------

    def attacker(self) -> str:
        rng = self.rng
        return rng.choices(self.attackers, cum_weights=self.attacker_cum)[0]

    def port(self) -> int:
        return self.rng.randint(1024, 65535)

    # -- sshd brute force ----------------------------------------------------------------

    def ssh_invalid_user(self) -> Episode:
        rng = self.rng
        pid, a, p = self.pids.next(), self.attacker(), self.port()
        user = "" if rng.random() < 0.01 else rng.choice(INVALID_USERS)
        s = f"sshd[{pid}]: "
        tries = 1 if rng.random() < 0.75 else rng.randint(2, 6)
        yield 0, f"{s}Invalid user {user} from {a} port {p}"
        yield rng.randint(0, 2), f"{s}pam_unix(sshd:auth): check pass; user unknown"
        yield (
            0,
            (
                f"{s}pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
                f"tty=ssh ruser= rhost={a} "
            ),
        )
        for i in range(tries):
            yield (
                rng.randint(1, 3) if i == 0 else rng.randint(2, 4),
                (f"{s}Failed password for invalid user {user} from {a} port {p} ssh2"),
            )
        if tries == 6:
            yield (
                0,
                (
                    f"{s}error: maximum authentication attempts exceeded for invalid user "
                    f"{user} from {a} port {p} ssh2 [preauth]"
                ),
            )
            yield (
                0,
                (
                    f"{s}Disconnecting invalid user {user} {a} port {p}: "
                    "Too many authentication failures [preauth]"
                ),
            )
        elif rng.random() < 0.8:
            yield (
                rng.randint(0, 1),
                (f"{s}Received disconnect from {a} port {p}:11: {rng.choice(BYE)} [preauth]"),
            )
            yield 0, f"{s}Disconnected from invalid user {user} {a} port {p} [preauth]"
        else:
            yield (
                rng.randint(0, 5),
                (f"{s}Connection closed by invalid user {user} {a} port {p} [preauth]"),
            )
        if tries > 1:
            yield (
                0,
                (
                    f"{s}PAM {tries - 1} more authentication failures; logname= uid=0 euid=0 "
                    f"tty=ssh ruser= rhost={a} "
                ),
            )
        if tries == 6:
            yield 0, f"{s}PAM service(sshd) ignoring max retries; 6 > 3"

    def ssh_existing_user(self) -> Episode:
        rng = self.rng
        pid, a, p = self.pids.next(), self.attacker(), self.port()
        user = rng.choice(EXISTING_TARGETS)
        s = f"sshd[{pid}]: "
        tries = rng.choice((1, 1, 1, 2, 3, 6, 6))
        yield (
            rng.randint(0, 1),
            (
                f"{s}pam_unix(sshd:auth): authentication failure; logname= uid=0 "
                f"euid=0 tty=ssh ruser= rhost={a}  user={user}"
            ),
        )
        for i in range(tries):
            yield (
                rng.randint(1, 3) if i == 0 else rng.randint(2, 4),
                (f"{s}Failed password for {user} from {a} port {p} ssh2"),
            )
        if tries == 6:
            yield (
                0,
                (
                    f"{s}error: maximum authentication attempts exceeded for {user} from {a} "
                    f"port {p} ssh2 [preauth]"
                ),
            )
            yield (
                0,
                (
                    f"{s}Disconnecting authenticating user {user} {a} port {p}: "
                    "Too many authentication failures [preauth]"
                ),
            )
        else:
            r = rng.random()
            if r < 0.6:
                yield (
                    rng.randint(0, 1),
                    (f"{s}Received disconnect from {a} port {p}:11: {rng.choice(BYE)} [preauth]"),
                )
                yield 0, f"{s}Disconnected from authenticating user {user} {a} port {p} [preauth]"
            elif r < 0.9:
                yield (
                    rng.randint(0, 20),
                    (f"{s}Connection closed by authenticating user {user} {a} port {p} [preauth]"),
                )
            else:
                yield (
                    rng.randint(0, 20),
                    (f"{s}Connection reset by authenticating user {user} {a} port {p} [preauth]"),
                )
        if tries > 1:
            yield (
                0,
                (
                    f"{s}PAM {tries - 1} more authentication failures; logname= uid=0 euid=0 "
                    f"tty=ssh ruser= rhost={a}  user={user}"
                ),
            )
        if tries == 6:
            yield 0, f"{s}PAM service(sshd) ignoring max retries; 6 > 3"

    def ssh_scanner(self) -> Episode:
        rng = self.rng
        pid, a, p = self.pids.next(), self.attacker(), self.port()
        s = f"sshd[{pid}]: "
        r = rng.random()
        if r < 0.22:
            yield 0, f"{s}Connection closed by {a} port {p} [preauth]"
        elif r < 0.32:
            yield 0, f"{s}Connection reset by {a} port {p} [preauth]"
        elif r < 0.50:
            yield 0, f"{s}error: kex_exchange_identification: Connection closed by remote host"
            yield 0, f"{s}Connection closed by {a} port {p}"
        elif r < 0.58:
            yield 0, f"{s}error: kex_exchange_identification: read: Connection reset by peer"
            yield 0, f"{s}Connection reset by {a} port {p}"
        elif r < 0.70:
            ident = rng.choice(('"GET / HTTP/1.1"', '"\\026\\003\\001"', '"MGLNDD_1.2.3.4_22"'))
            yield (
                0,
                (
                    f"{s}error: kex_exchange_identification: client sent invalid protocol "
                    f"identifier {ident}"
                ),
            )
            yield 0, f"{s}banner exchange: Connection from {a} port {p}: invalid format"
        elif r < 0.74:
            yield (
                0,
                (f"{s}error: kex_exchange_identification: banner line contains invalid characters"),
            )
            yield 0, f"{s}banner exchange: Connection from {a} port {p}: invalid format"
        elif r < 0.86:
            yield (
                rng.randint(0, 1),
                (
                    f"{s}Unable to negotiate with {a} port {p}: no matching "
                    "key exchange method found. Their offer: "
                    f"{rng.choice(KEX_OFFERS)} [preauth]"
                ),
            )
        elif r < 0.90:
            yield (
                rng.randint(0, 1),
                (
                    f"{s}Unable to negotiate with {a} port {p}: no matching host "
                    f"key type found. Their offer: {rng.choice(HOSTKEY_OFFERS)} "
                    "[preauth]"
                ),
            )
        elif r < 0.95:
            yield rng.randint(0, 10), f"{s}Did not receive identification string from {a} port {p}"
        else:
            user = rng.choice(INVALID_USERS)
            yield 0, f"{s}Invalid user {user} from {a} port {p}"
            yield (
                rng.randint(0, 1),
                (f"{s}Failed none for invalid user {user} from {a} port {p} ssh2"),
            )
            yield (
                rng.randint(0, 2),
                (f"{s}Connection closed by invalid user {user} {a} port {p} [preauth]"),
            )

    # -- normal noise --------------------------------------------------------------------

    def cron(self) -> Episode:
        rng = self.rng
        pid = self.pids.next()
        user, uid = rng.choice(CRON_USERS)
        s = f"CRON[{pid}]: pam_unix(cron:session): session"
        yield 0, f"{s} opened for user {user}(uid={uid}) by (uid=0)"
        yield rng.choice((0, 0, 0, 1, 2, 5, 30)), f"{s} closed for user {user}"

    def sudo(self) -> Episode:
        rng = self.rng
        user, uid = rng.choice(ADMINS)
        pts = rng.randint(0, 3)
        cmd = rng.choice(SUDO_COMMANDS)
        yield 0, f"sudo:   {user} : TTY=pts/{pts} ; PWD=/home/{user} ; USER=root ; COMMAND={cmd}"
        yield (
            0,
            (
                f"sudo: pam_unix(sudo:session): session opened for user root(uid=0) "
                f"by {user}(uid={uid})"
            ),
        )
        yield rng.randint(0, 90), "sudo: pam_unix(sudo:session): session closed for user root"

    def su(self) -> Episode:
        rng = self.rng
        pid = self.pids.next()
        user, uid = rng.choice(ADMINS)
        yield 0, f"su[{pid}]: (to postgres) {user} on pts/{rng.randint(0, 3)}"
        yield (
            0,
            (
                f"su[{pid}]: pam_unix(su-l:session): session opened for user postgres(uid=105) "
                f"by {user}(uid={uid})"
            ),
        )
        yield (
            rng.randint(5, 300),
            (f"su[{pid}]: pam_unix(su-l:session): session closed for user postgres"),
        )

    def login(self) -> Episode:
        """A legitimate SSH session, sometimes after a mistyped password."""
        rng = self.rng
        pid, a, p = self.pids.next(), rng.choice(ADMIN_ADDRS), self.port()
        user, uid = rng.choice(ADMINS)
        s = f"sshd[{pid}]: "
        self.session_no += 1
        n = self.session_no
        if rng.random() < 0.05:
            yield (
                0,
                (
                    f"{s}pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
                    f"tty=ssh ruser= rhost={a}  user={user}"
                ),
            )
            yield 2, f"{s}Failed password for {user} from {a} port {p} ssh2"
            yield rng.randint(3, 8), f"{s}Accepted password for {user} from {a} port {p} ssh2"
        else:
            yield (
                0,
                (
                    f"{s}Accepted publickey for {user} from {a} port {p} ssh2: ED25519 "
                    f"SHA256:{self.fingerprints[user]}"
                ),
            )
        yield 0, f"{s}pam_unix(sshd:session): session opened for user {user}(uid={uid}) by (uid=0)"
        yield 0, f"systemd-logind[512]: New session {n} of user {user}."
        if rng.random() < 0.3:
            upid = self.pids.next()
            yield (
                0,
                (
                    f"(systemd)[{upid}]: pam_unix(systemd-user:session): session opened for "
                    f"user {user}(uid={uid}) by (uid=0)"
                ),
            )
        yield (
            rng.randint(30, 5400),
            (f"{s}Received disconnect from {a} port {p}:11: disconnected by user"),
        )
        yield 0, f"{s}Disconnected from user {user} {a} port {p}"
        yield 0, f"{s}pam_unix(sshd:session): session closed for user {user}"
        yield 0, f"systemd-logind[512]: Session {n} logged out. Waiting for processes to exit."
        yield 0, f"systemd-logind[512]: Removed session {n}."

    def misc(self) -> Episode:
        rng = self.rng
        r = rng.random()
        pid = self.pids.next()
        if r < 0.3:
            agent = (
                f"Authentication Agent for unix-process:{pid}:{rng.randint(10**6, 10**8)} "
                f"(system bus name :1.{rng.randint(10, 999)}, object path "
                "/org/freedesktop/PolicyKit1/AuthenticationAgent, locale en_US.UTF-8)"
            )
            yield 0, f"polkitd[498]: Registered {agent}"
            yield rng.randint(0, 3), f"polkitd[498]: Unregistered {agent} (disconnected from bus)"
        elif r < 0.5:
            yield (
                0,
                (
                    "systemd-logind[512]: Watching system buttons on /dev/input/event0 "
                    "(Power Button)"
                ),
            )
            yield 0, "systemd-logind[512]: New seat seat0."
        elif r < 0.7:
            yield 0, "sshd[611]: Received signal 15; terminating."
            yield 1, f"sshd[{pid}]: Server listening on 0.0.0.0 port 22."
            yield 0, f"sshd[{pid}]: Server listening on :: port 22."
        elif r < 0.85:
            who = rng.choice(ADMINS)[0]
            yield 0, f"passwd[{pid}]: pam_unix(passwd:chauthtok): password changed for {who}"
        else:
            name = f"svc{rng.randint(1, 99)}"
            gid = 9000 + pid % 1000
            yield 0, f"groupadd[{pid}]: group added to /etc/group: name={name}, GID={gid}"
            yield (
                0,
                (
                    f"useradd[{pid}]: new user: name={name}, UID={gid}, GID={gid}, "
                    f"home=/home/{name}, shell=/bin/bash, from=/dev/pts/0"
                ),
            )

    def kinds(self) -> tuple[list[Callable[[], Episode]], list[float]]:
        """Episode makers and their start weights (tuned for ~50 % attack lines)."""
        return (
            [
                self.ssh_invalid_user,
                self.ssh_existing_user,
                self.ssh_scanner,
                self.cron,
                self.sudo,
                self.su,
                self.login,
                self.misc,
            ],
            [24.0, 14.0, 20.0, 80.0, 15.0, 2.7, 5.6, 0.6],
        )


def _stamp_maker(start: float) -> Callable[[int], str]:
    """Formats syslog timestamps fast: one strftime per day, not per line."""
    day_cache: dict[int, str] = {}

    def stamp(t: int) -> str:
        day, sec = divmod(t, 86400)
        prefix = day_cache.get(day)
        if prefix is None:
            d = datetime.fromtimestamp(day * 86400, UTC)
            prefix = day_cache[day] = f"{MONTHS[d.month - 1]} {d.day:2d}"
        h, rem = divmod(sec, 3600)
        m, s = divmod(rem, 60)
        return f"{prefix} {h:02d}:{m:02d}:{s:02d}"

    return stamp


def generate(path: Path, lines: int, seed: int, days: float, start: datetime) -> Counter[str]:
    """Write ``lines`` lines to ``path`` (atomically); return line counts per episode kind."""
    rng = random.Random(seed)
    gen = Generator(rng, lines)
    makers, weights = gen.kinds()
    cum: list[float] = []
    acc = 0.0
    for w in weights:
        acc += w
        cum.append(acc)
    # Mean lines per episode is ~3.3; space episode starts so the log spans `days`.
    mean_gap = days * 86400 / (lines / 3.3)
    t0 = int(start.replace(tzinfo=UTC).timestamp())
    stamp = _stamp_maker(t0)
    heap: list[tuple[int, int, str, Episode, str]] = []
    seq = 0
    next_start = float(t0)
    written = 0
    kinds: Counter[str] = Counter()
    tmp = path.with_name(path.name + ".tmp")
    prefix_host = f" {HOST} "
    with tmp.open("w", encoding="utf-8", buffering=1 << 20) as fh:
        out: list[str] = []
        while written < lines:
            # Start every episode whose time has come before emitting later lines.
            while not heap or next_start <= heap[0][0]:
                maker = rng.choices(makers, cum_weights=cum)[0]
                ep = maker()
                first = next(ep)
                t = int(next_start) + first[0]
                heapq.heappush(heap, (t, seq, first[1], ep, maker.__name__))
                seq += 1
                next_start += rng.expovariate(1.0 / mean_gap)
            t, _, text, ep, kind = heap[0]
            out.append(stamp(t) + prefix_host + text + "\n")
            kinds[kind] += 1
            written += 1
            step = next(ep, None)
            if step is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (t + step[0], seq, step[1], ep, kind))
                seq += 1
            if len(out) >= 8192:
                fh.write("".join(out))
                out.clear()
        fh.write("".join(out))
    tmp.replace(path)
    return kinds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="file to write (replaced atomically)")
    parser.add_argument("--lines", type=int, default=1_000_000, help="number of lines")
    parser.add_argument("--seed", type=int, default=1, help="RNG seed (same seed, same file)")
    parser.add_argument("--days", type=float, default=7.0, help="days the log spans")
    parser.add_argument(
        "--start",
        default="2026-11-16T00:00:00",
        help="first timestamp, ISO 8601, UTC (only month/day/time are written)",
    )
    parser.add_argument("--stats", action="store_true", help="print the line mix to stderr")
    args = parser.parse_args(argv)
    if args.lines < 1:
        parser.error("--lines must be at least 1")
    try:
        start = datetime.fromisoformat(args.start)
    except ValueError:
        parser.error(f"--start {args.start!r} is not an ISO 8601 date, e.g. 2026-11-16T00:00:00")
    began = time.perf_counter()
    kinds = generate(args.output, args.lines, args.seed, args.days, start)
    if args.stats:
        took = time.perf_counter() - began
        print(f"{args.lines} lines in {took:.2f} s -> {args.output}", file=sys.stderr)
        for kind, n in kinds.most_common():
            print(f"  {kind:<18} {n:>9} {100 * n / args.lines:5.1f} %", file=sys.stderr)
        attack = sum(n for k, n in kinds.items() if k.startswith("ssh_"))
        print(
            f"  {'sshd brute force':<18} {attack:>9} {100 * attack / args.lines:5.1f} %",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
