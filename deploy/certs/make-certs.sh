#!/usr/bin/env bash
# make-certs.sh: the certificates of one edgehub site, made with openssl.
#
#   make-certs.sh [-o DIR] [-d DAYS] ca                      site CA: DIR/ca.crt, DIR/ca.key (kept if present)
#   make-certs.sh [-o DIR] [-d DAYS] hub NAME [SAN ...]      hub server cert: DIR/hub.crt, DIR/hub.key
#   make-certs.sh [-o DIR] [-d DAYS] broker NAME [SAN ...]   MQTT broker server cert: DIR/broker.crt, DIR/broker.key
#   make-certs.sh [-o DIR] [-d DAYS] edge EDGE_ID            edge client cert, CN=EDGE_ID: DIR/edges/EDGE_ID.{crt,key}
#   make-certs.sh [-o DIR] expired-edge EDGE_ID              the same, valid only in 2020 (for tests):
#                                                            DIR/edges/EDGE_ID-expired.{crt,key}
#
# NAME goes into the common name and the subjectAltName. Each extra SAN is DNS:host or IP:address
# (a bare name is taken as DNS, a bare address as IP). gRPC and mosquitto clients check that the
# address they dial is among the SANs, so list every name and address edges and devices use.
# Keys are EC P-256 (small enough for ESP32 mbedTLS) and written with mode 600.
# DIR defaults to ./certs; DAYS to 825 for leaf certificates and 3650 for the CA.
set -euo pipefail

out=certs
days=""
usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit "${1:-2}"; }

while getopts "o:d:h" opt; do
  case $opt in
    o) out=$OPTARG ;;
    d) days=$OPTARG ;;
    h) usage 0 ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage
cmd=$1; shift

command -v openssl >/dev/null || { echo "make-certs.sh: openssl is not installed" >&2; exit 1; }
mkdir -p "$out"
umask 077

die() { echo "make-certs.sh: $*" >&2; exit 1; }

# openssl ca with a throw-away database, so that re-issuing a certificate never trips over old state.
sign() {  # sign CSR CRT EXTENSIONS [ -days N | -startdate A -enddate B ]
  local csr=$1 crt=$2 ext=$3; shift 3
  [ -f "$out/ca.crt" ] && [ -f "$out/ca.key" ] || die "no CA in $out; run: $0 -o $out ca"
  local db; db=$(mktemp -d)
  : > "$db/index.txt"
  echo 01 > "$db/serial"
  echo "unique_subject = no" > "$db/index.txt.attr"
  cat > "$db/ca.cnf" <<EOF
[ca]
default_ca = site
[site]
database = $db/index.txt
serial = $db/serial
new_certs_dir = $db
certificate = $out/ca.crt
private_key = $out/ca.key
default_md = sha256
policy = anything
email_in_dn = no
copy_extensions = none
[anything]
commonName = supplied
organizationName = optional
[ext]
$ext
EOF
  openssl ca -batch -notext -rand_serial -config "$db/ca.cnf" -extensions ext -in "$csr" -out "$crt" "$@" \
    2> "$db/err" || { cat "$db/err" >&2; rm -rf "$db"; die "signing $crt failed"; }
  rm -rf "$db"
}

newkey() {  # newkey KEY CSR SUBJECT
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1" -out "$2" \
    -subj "$3" 2>/dev/null
  chmod 600 "$1"
}

san_list() {  # san_list NAME [SAN ...] -> "DNS:a,IP:1.2.3.4"
  local item list=""
  for item in "$@"; do
    case $item in
      DNS:*|IP:*) ;;
      *[!0-9.]*) case $item in *:*) item="IP:$item" ;; *) item="DNS:$item" ;; esac ;;  # IPv6 has colons
      *) item="IP:$item" ;;
    esac
    list="${list:+$list,}$item"
  done
  echo "$list"
}

server_cert() {  # server_cert BASENAME NAME [SAN ...]
  local base=$1 name=$2
  [ -n "$name" ] || die "$base needs a NAME (the host name clients dial)"
  newkey "$out/$base.key" "$out/$base.csr" "/O=edgehub/CN=$name"
  sign "$out/$base.csr" "$out/$base.crt" "basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = $(san_list "$name" "${@:3}")" -days "${days:-825}"
  rm -f "$out/$base.csr"
  chmod 644 "$out/$base.crt"
  echo "$out/$base.crt (CN=$name, SAN $(san_list "$name" "${@:3}"))"
}

edge_cert() {  # edge_cert EDGE_ID FILE_BASENAME [openssl ca validity options]
  local id=$1 base=$2; shift 2
  case $id in ""|*/*|*[[:space:]]*) die "edge id must be non-empty, without slashes or spaces: '$id'" ;; esac
  mkdir -p "$out/edges"
  newkey "$out/edges/$base.key" "$out/edges/$base.csr" "/O=edgehub/CN=$id"
  sign "$out/edges/$base.csr" "$out/edges/$base.crt" "basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth" "$@"
  rm -f "$out/edges/$base.csr"
  chmod 644 "$out/edges/$base.crt"
  echo "$out/edges/$base.crt (CN=$id)"
}

case $cmd in
  ca)
    if [ -f "$out/ca.crt" ]; then
      echo "$out/ca.crt exists; kept (delete it to start a new site CA)"
      exit 0
    fi
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 \
      -keyout "$out/ca.key" -out "$out/ca.crt" -days "${days:-3650}" -subj "/O=edgehub/CN=edgehub site CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    chmod 600 "$out/ca.key"
    chmod 644 "$out/ca.crt"
    echo "$out/ca.crt (keep $out/ca.key offline once the certificates are made)"
    ;;
  hub) server_cert hub "${1:-}" "${@:2}" ;;
  broker) server_cert broker "${1:-}" "${@:2}" ;;
  edge) edge_cert "${1:-}" "${1:-}" -days "${days:-825}" ;;
  expired-edge) edge_cert "${1:-}" "${1:-}-expired" -startdate 20200101000000Z -enddate 20200102000000Z ;;
  *) usage ;;
esac
