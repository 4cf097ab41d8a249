#!/bin/sh
# Build a test PKI in OUTDIR with the openssl command line: a root CA, an
# intermediate CA, Ed25519 signer leaves (good, expired, revoked, wrong
# usage), CRLs of both CAs, and another root that signed nothing here.
# Every leaf X has X.key (PEM), X.pem, X.seed (its 32-byte Ed25519 seed,
# base64) and X.x5c (the JSON array leaf, intermediate).
set -eu
out=$1
mkdir -p "$out"
cd "$out"

conf() {	# conf NAME: an `openssl ca` configuration for the CA NAME
	mkdir -p "$1.db"
	: > "$1.db/index"
	echo 1000 > "$1.db/serial"
	echo 1000 > "$1.db/crlnumber"
	cat > "$1.cnf" <<CNF
[ca]
default_ca = this
[this]
dir = $1.db
database = \$dir/index
serial = \$dir/serial
crlnumber = \$dir/crlnumber
new_certs_dir = \$dir
certificate = $1.pem
private_key = $1.key
default_md = default
default_days = 30
default_crl_days = 30
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
[v3_ca]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_signer]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = codeSigning
[v3_tls]
basicConstraints = critical, CA:false
keyUsage = critical, keyEncipherment
extendedKeyUsage = serverAuth
[req]
distinguished_name = dn
prompt = no
[dn]
CN = x
CNF
}

selfsigned() {	# selfsigned NAME CN
	openssl genpkey -algorithm ed25519 -out "$1.key" 2>/dev/null
	conf "$1"
	openssl req -new -x509 -key "$1.key" -subj "/CN=$2" -days 30 -config "$1.cnf" \
		-extensions v3_ca -out "$1.pem" 2>/dev/null
}

issue() {	# issue CA NAME CN EXT [ca-args...]
	ca=$1 name=$2 cn=$3 ext=$4
	shift 4
	openssl genpkey -algorithm ed25519 -out "$name.key" 2>/dev/null
	openssl req -new -key "$name.key" -subj "/CN=$cn" -config "$ca.cnf" -out "$name.csr" 2>/dev/null
	openssl ca -batch -config "$ca.cnf" -extensions "$ext" -in "$name.csr" -out "$name.pem" \
		-notext "$@" 2>/dev/null
	openssl pkey -in "$name.key" -outform DER | tail -c 32 | base64 -w0 > "$name.seed"
}

b64der() { openssl x509 -in "$1" -outform DER | base64 -w0; }

x5c() {		# x5c LEAF: ["leaf","int"]
	printf '["%s","%s"]' "$(b64der "$1.pem")" "$(b64der int.pem)" > "$1.x5c"
}

selfsigned root "ctfs test root"
selfsigned other "ctfs other root"
issue root int "ctfs test intermediate" v3_ca
conf int
issue int leaf "vendor-a signer" v3_signer
issue int renewed "vendor-a signer" v3_signer
issue int expired "vendor-a old signer" v3_signer -startdate 20200101000000Z -enddate 20200201000000Z
issue int revoked "vendor-a leaked signer" v3_signer
issue int tls "a web server" v3_tls
for l in leaf renewed expired revoked tls; do x5c $l; done
openssl ca -batch -config int.cnf -revoke revoked.pem 2>/dev/null
openssl ca -batch -config int.cnf -gencrl -out int.crl 2>/dev/null
openssl ca -batch -config root.cnf -gencrl -out root.crl 2>/dev/null
openssl x509 -in revoked.pem -noout -serial | cut -d= -f2 > revoked.serial

mkdir -p anchors anchors-crl anchors-partial anchors-other
cp root.pem anchors/
cp root.pem root.crl int.crl anchors-crl/
cp root.pem int.crl anchors-partial/
cp other.pem anchors-other/
