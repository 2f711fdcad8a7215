#!/bin/sh
# Install Debian packages when missing: by default the ones the tests use;
# `make bench` names the benchmarks' anchors instead through RAMPART_DEBIAN_PACKAGES
# (aide for bench_fim.py, chkrootkit for bench_rootcheck.py; no test needs them).
#   fail2ban: its filters and annotated sample logs are the conformance corpus
#             (GPL, so read from the package at test time, never copied).
#   nftables, iptables, ipset, iproute2: the firewall backends are tested on
#             the real kernel, in network namespaces (ip netns).
#   openssh-server: the audit reads the real `sshd -T` (sshd is never started).
#   restic, git: the backup and git-credential audits read real repositories.
#   nginx: the audit reads the real `nginx -T` of test configurations.
#   gnupg: the vault's import-blackbox tests decrypt real blackbox .gpg files.
#   postgresql: the audit tests start their own PostgreSQL 15 cluster in a
#             temporary folder (initdb, pg_ctl); the package's cluster is not used.
set -eu
packages="${RAMPART_DEBIAN_PACKAGES:-fail2ban nftables iptables ipset iproute2 openssh-server nginx postgresql restic git gnupg}"
missing=""
for package in $packages; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $package"
    fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "rampart: tests need:$missing (run 'make test' as root, or apt-get install them); tests that need them will be skipped" >&2
    exit 0
fi
# Installing a package must not start its daemon (fail2ban would start banning
# on the test machine, sshd would listen on port 22, nginx on port 80): a
# policy-rc.d that refuses starts, for this install only.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    own_policy=1
fi
trap 'if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi' EXIT
# The tests only read `sshd -T`; a policy-rc.d stops the start now, and Debian's
# own switch keeps ssh.service and ssh.socket from starting at the next boot.
# Delete /etc/ssh/sshd_not_to_be_run to use this sshd for real.
case " $missing " in
*" openssh-server "*)
    mkdir -p /etc/ssh
    [ -e /etc/ssh/sshd_not_to_be_run ] || echo "rampart tests: sshd installed for 'sshd -T' only" > /etc/ssh/sshd_not_to_be_run
    ;;
esac
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
