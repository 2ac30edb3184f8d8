#!/usr/bin/env bash
# A private Postfix instance for the SMTP intake benchmark: loopback only, on its own port and spool, every
# message for any domain accepted from 127.0.0.0/8 and handed to the discard transport once safely queued.
#   bash tests/bench/postfix.sh start DIR PORT
#   bash tests/bench/postfix.sh stop DIR
set -euo pipefail
cmd="${1:?start|stop}"
dir="$(realpath -m "${2:?directory}")"

case "$cmd" in
start)
  port="${3:?port}"
  command -v postfix >/dev/null || { echo "postfix is not installed (bash tests/services/deps.sh bench)"; exit 1; }
  mkdir -p "$dir/etc" "$dir/spool" "$dir/data"
  cat > "$dir/etc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $dir/spool
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.localhost
mydomain = localhost
myorigin = \$myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
relay_domains = static:all
default_transport = discard:bench
relay_transport = discard:bench
local_transport = discard:bench
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = permit_mynetworks, reject
message_size_limit = 10485670
alias_maps =
alias_database =
local_recipient_maps =
default_process_limit = 200
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
maillog_file_prefixes = $dir
maillog_file = $dir/maillog
CF
  # The stock master.cf with its SMTP service moved to our loopback port.
  sed -e "s/^smtp      inet.*/127.0.0.1:$port inet n - n - - smtpd/" /etc/postfix/master.cf > "$dir/etc/master.cf"
  chown -R root:root "$dir/etc"
  chown postfix:postfix "$dir/data"
  rm -f "$dir/spool/pid/master.pid"
  # Postfix only runs instances whose config directory the default instance lists (the Debian package installed
  # with "No configuration" leaves no main.cf at all; the default instance itself is never started here).
  [ -f /etc/postfix/main.cf ] || echo "compatibility_level = 3.6" > /etc/postfix/main.cf
  current="$(postconf -h alternate_config_directories 2>/dev/null || true)"
  case " $current " in *" $dir/etc "*) ;; *) postconf -e "alternate_config_directories = $current $dir/etc" ;; esac
  postfix -c "$dir/etc" check
  postfix -c "$dir/etc" start
  for _ in $(seq 1 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "postfix: listening on 127.0.0.1:$port"; exit 0; fi
    sleep 0.1
  done
  echo "postfix: did not start listening on 127.0.0.1:$port"; exit 1
  ;;
stop)
  postfix -c "$dir/etc" stop >/dev/null 2>&1 || true
  ;;
*)
  echo "usage: $0 start DIR PORT | stop DIR"; exit 2
  ;;
esac
