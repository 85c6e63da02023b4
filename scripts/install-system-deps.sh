#!/usr/bin/env bash
# Install the system packages the test suite needs: Dovecot's IMAP and LMTP servers
# (Debian packages dovecot-imapd, dovecot-lmtpd), which tests/mailstack.py runs as a
# private instance with its own config, PostgreSQL's server binaries (Debian package
# postgresql), which tests/pgserver.py runs as a private cluster in a temporary folder,
# and for the owner's report Chromium and the CJK and Thai fonts its charts use.
# The system-wide Dovecot and PostgreSQL are never started.
#
# Idempotent and silent when everything is present. Needs root, or sudo.
set -euo pipefail

packages=()
# The binaries the private instance runs: the master (dovecot-core) and two services.
if [[ ! -x /usr/sbin/dovecot || ! -x /usr/lib/dovecot/imap ]]; then
    packages+=(dovecot-imapd)
fi
if [[ ! -x /usr/sbin/dovecot || ! -x /usr/lib/dovecot/lmtp ]]; then
    packages+=(dovecot-lmtpd)
fi
# initdb and pg_ctl of any version, where Debian puts them (tests/pgserver.py looks there).
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    packages+=(postgresql)
fi
# The owner's report: headless Chromium draws its HTML in a test, and its charts need
# fonts for Korean and Japanese (Noto CJK) and Thai (TLWG) category names.
if ! command -v chromium >/dev/null; then
    packages+=(chromium)
fi
if ! compgen -G '/usr/share/fonts/opentype/noto/NotoSansCJK*' >/dev/null; then
    packages+=(fonts-noto-cjk)
fi
if ! compgen -G '/usr/share/fonts/truetype/tlwg/*' >/dev/null; then
    packages+=(fonts-thai-tlwg)
fi
# Debian splits venv/ensurepip off Python; scripts/test.sh creates a virtualenv.
if command -v python3 >/dev/null && ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    packages+=(python3-venv)
fi
[[ ${#packages[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -eq 0 ]]; then
    sudo=()
elif command -v sudo >/dev/null; then
    sudo=(sudo)
else
    echo "install-system-deps: need root or sudo to install: ${packages[*]}" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null; then
    echo "install-system-deps: no apt-get here; install these yourself: ${packages[*]}" >&2
    exit 1
fi

# The packages' maintainer scripts would start the system Dovecot on ports 143/993
# with /etc/dovecot, and the system PostgreSQL cluster on 5432. A policy-rc.d that
# answers 101 ("action forbidden") stops that.
policy=/usr/sbin/policy-rc.d
created_policy=false
remove_policy() {
    if [[ $created_policy == true ]]; then
        "${sudo[@]}" rm -f "$policy"
    fi
}
trap remove_policy EXIT
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    created_policy=true
fi

echo "install-system-deps: installing ${packages[*]}" >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "${packages[@]}" >/dev/null

# Belt and braces: should a system Dovecot be running anyway, stop it and keep it off.
if command -v systemctl >/dev/null && systemctl is-active --quiet dovecot 2>/dev/null; then
    "${sudo[@]}" systemctl disable --now --quiet dovecot || true
fi
if command -v systemctl >/dev/null && systemctl is-active --quiet postgresql 2>/dev/null; then
    "${sudo[@]}" systemctl disable --now --quiet postgresql || true
fi
if [[ -f /run/dovecot/master.pid ]] && "${sudo[@]}" kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null; then
    "${sudo[@]}" /usr/sbin/dovecot -c /etc/dovecot/dovecot.conf stop || true
fi
