#!/usr/bin/env bash
# Creates (or reuses) a Python virtualenv with OpenStack Ironic (run as one all-in-one
# `ironic` process on loopback by the tests) and sushy-tools (`sushy-emulator`, a second Redfish
# BMC to compare our simulator with). Cached outside the clone, keyed by version; every other
# Python package is pinned below to the set these versions were verified with (refresh the pins,
# from `pip freeze` of a fresh unconstrained install, whenever IRONIC_VERSION changes).
# Also installs Debian's genisoimage when missing: Ironic runs `mkisofs`/`genisoimage` to pack a
# configdrive given as JSON into an ISO (ramdisk/live-ISO deploys with a configdrive fail without).
# Prints the venv's bin directory (ironic, ironic-dbsync, sushy-emulator, python) as its last line.
set -euo pipefail
IRONIC_VERSION="${IRONIC_VERSION:-39.0.0}"
SUSHY_TOOLS_VERSION="${SUSHY_TOOLS_VERSION:-2.2.0}"
CACHE="${METAL3_CACHE_DIR:-$HOME/.cache/metal3-dev}"
VENV="$CACHE/venv/ironic-$IRONIC_VERSION-sushy-tools-$SUSHY_TOOLS_VERSION"
log() { echo "ironic: $*" >&2; }

venv_ok() {
  [[ -x "$VENV/bin/ironic" && -x "$VENV/bin/ironic-dbsync" && -x "$VENV/bin/sushy-emulator" ]] &&
    "$VENV/bin/python" -c "import ironic, sushy_tools, bcrypt, sqlite3" 2>/dev/null
}

# Debian packages: genisoimage (configdrive ISOs; also provides mkisofs), python3-venv (only
# where python3 lacks ensurepip). No package is needed to build wheels: all install as binaries.
missing=()
command -v genisoimage >/dev/null 2>&1 || command -v mkisofs >/dev/null 2>&1 ||
  command -v xorrisofs >/dev/null 2>&1 || missing+=(genisoimage)
if ! venv_ok && command -v python3 >/dev/null 2>&1 && ! python3 -c "import ensurepip, venv" 2>/dev/null; then
  missing+=(python3-venv)
fi
if ((${#missing[@]})); then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    log "installing ${missing[*]} (apt-get)"
    { $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}"; } >&2 ||
      log "could not install ${missing[*]}; configdrive ISOs will fail without genisoimage"
  else
    log "install ${missing[*]} (configdrive ISOs need genisoimage or mkisofs)"
  fi
fi

if venv_ok; then
  echo "$VENV/bin"
  exit 0
fi
command -v python3 >/dev/null 2>&1 || {
  log "python3 (>= 3.11) is required to run Ironic in tests (apt-get install python3 python3-venv)"
  exit 1
}
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  log "Ironic $IRONIC_VERSION needs python3 >= 3.11, found $(python3 --version 2>&1)"
  exit 1
}
mkdir -p "$CACHE/venv"
exec 9>"$CACHE/venv/.lock"
flock 9
if ! venv_ok; then
  rm -rf "$VENV"
  log "creating $VENV (about a minute)"
  python3 -m venv "$VENV" || {
    log "cannot create a virtualenv (apt-get install python3-venv)"
    exit 1
  }
  constraints="$VENV/constraints.txt"
  cat >"$constraints" <<'PINS'
alembic==1.20.1
amqp==5.4.2
attrs==26.1.0
automaton==3.5.0
bcrypt==5.0.0
blinker==1.9.0
cachetools==8.0.2
certifi==2026.10.19.post1
cffi==2.1.1
charset-normalizer==3.5.3
cheroot==11.1.2
click==8.5.1
construct==2.10.70
cotyledon==2.2.0
cryptography==50.0.2
debtcollector==3.1.0
decorator==5.3.1
dnspython==2.9.2
dogpile.cache==1.5.0
eventlet==0.41.3
fasteners==0.20
Flask==3.1.3
futurist==3.5.0
greenlet==3.5.6
idna==3.20
ifaddr==0.2.0
iso8601==2.1.0
itsdangerous==2.2.0
jaraco.functools==4.6.0
Jinja2==3.1.6
jmespath==1.1.0
jsonpatch==1.48
jsonpointer==3.12
jsonschema==4.26.0
jsonschema-specifications==2025.9.1
jwcrypto==1.6.1
keystoneauth1==5.18.1
keystonemiddleware==13.0.1
kombu==5.7.0
lark==1.3.1
Mako==1.4.3
MarkupSafe==3.0.4
microversion_parse==2.1.0
more-itertools==11.2.1
msgpack==1.2.4
netaddr==1.3.0
numpy==2.4.6
openstacksdk==4.22.0
os-service-types==1.9.0
os-traits==3.9.0
oslo.cache==4.3.0
oslo.concurrency==7.6.1
oslo.config==10.7.0
oslo.context==6.5.0
oslo.db==18.1.1
oslo.i18n==6.9.0
oslo.log==8.3.2
oslo.messaging==18.3.1
oslo.metrics==0.17.0
oslo.middleware==8.2.0
oslo.policy==6.0.1
oslo.serialization==5.11.0
oslo.service==4.8.0
oslo.upgradecheck==2.8.0
oslo.utils==10.2.0
oslo.versionedobjects==3.12.0
osprofiler==4.4.0
packaging==26.4
Paste==3.10.1
PasteDeploy==3.1.0
pbr==7.1.3
pecan==1.8.0
platformdirs==4.14.8
prettytable==3.18.0
prometheus_client==0.26.0
psutil==7.2.2
pycadf==4.1.0
pycdlib==1.22.0
pycparser==3.12
PyJWT==2.15.1
pyparsing==3.3.3
python-dateutil==4.0.0
python-keystoneclient==6.0.0
PyYAML==6.0.4
redis==8.1.0
referencing==0.37.0
repoze-lru==0.8
requests==2.34.2
rfc3986==2.0.0
Routes==2.5.1
rpds-py==2026.9.1
setproctitle==1.3.8
six==1.17.0
SQLAlchemy==2.1.9
statsd==4.0.1
stevedore==5.10.0
sushy==5.14.0
tenacity==9.2.1
testresources==2.1.2
testscenarios==0.7.0
tooz==9.1.0
typing_extensions==4.16.0
tzdata==2026.6
urllib3==2.8.0
vine==5.1.0
voluptuous==0.16.0
wcwidth==0.9.4
WebOb==1.8.11
websockify==0.13.0
Werkzeug==3.1.9
wrapt==2.5.2
yappi==1.7.6
zeroconf==0.154.0
PINS
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --constraint "$constraints" \
    "ironic==$IRONIC_VERSION" "sushy-tools==$SUSHY_TOOLS_VERSION" || {
    rm -rf "$VENV"
    log "cannot install ironic==$IRONIC_VERSION sushy-tools==$SUSHY_TOOLS_VERSION from PyPI: is the package index reachable?"
    exit 1
  }
  venv_ok || {
    log "$VENV is incomplete after installing (is python3's sqlite3 module missing?)"
    exit 1
  }
fi
echo "$VENV/bin"
