#!/usr/bin/env bash
# Installs what building, running and testing Faxbox needs on a fresh Debian 12 machine, and nothing twice:
#   bash tests/services/deps.sh run    # what `make run` needs (build tools, SQLite)
#   bash tests/services/deps.sh test   # plus RabbitMQ and the CouchDB-compatible test server's npm modules
#   bash tests/services/deps.sh bench  # plus Postfix (the SMTP intake benchmark's peer and its smtp-source)
set -euo pipefail
cd "$(dirname "$0")/../.."

mode="${1:-test}"
missing=()
need() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" || missing+=("$1"); }
need pkg-config
need libsqlite3-dev
# A C compiler: Rust links through it, and the build compiles C and assembly (mimalloc, the md-5 asm core).
need gcc
need libc6-dev
if [ "$mode" = "test" ] || [ "$mode" = "bench" ]; then
  need rabbitmq-server
  # A real SMTP client for the email-to-fax tests (tests/tests/email_to_fax.rs).
  need swaks
  # Python's smtplib and email library build and send the real MIME messages of those tests.
  command -v python3 >/dev/null || missing+=(python3)
  # Document conversion tests (apps/fax_media/tests/convert.rs) write their inputs with real tools (Ghostscript,
  # ImageMagick, LibreOffice), compare pages with Ghostscript's rendering and check every TIFF with tiffinfo.
  need ghostscript
  need imagemagick
  need poppler-utils
  # The TIFF tests (apps/fax_media/tests/tiff_*.rs) make TIFF variants with tiffcp (libtiff-tools) and convert,
  # check written TIFFs with tiffinfo -D and render PDFs with pdftoppm and pdfinfo (poppler-utils).
  need libtiff-tools
  need libreoffice-writer-nogui
  # Node.js may come from outside Debian's packages (as on the build machines): accept it on PATH.
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then missing+=(nodejs npm); fi
fi
if [ "$mode" = "bench" ]; then
  # The SMTP intake benchmark's peer and load generator (smtp-source).
  need postfix
fi

if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Postfix installed unconfigured: the benchmark runs its own private instance (tests/bench/postfix.sh).
  case " ${missing[*]} " in
    *" postfix "*) echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections ;;
  esac
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$mode" = "test" ] || [ "$mode" = "bench" ]; then
  # The CouchDB-compatible test server (express-pouchdb), from the committed lockfile.
  if [ ! -d tests/couchdb/node_modules ] || [ tests/couchdb/package-lock.json -nt tests/couchdb/node_modules/.package-lock.json ]; then
    echo "deps: npm ci in tests/couchdb"
    (cd tests/couchdb && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
echo "deps: ok ($mode)"
