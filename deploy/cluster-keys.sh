# cluster-keys.sh: the keys of a cluster launched by deploy/local-cluster or
# deploy/netns-cluster (sourced by both; not a program).
#
# Expects: $dir (the cluster directory), $BIN (binaries), $WORKERS,
# $INSECURE (1: no keys), and the functions say and die.
# Layout: DIR/keys/NAME.key (secret, 0600) and DIR/keys/NAME.pub for
# coordinator, operator (the coordinator's --operator-key), admin (a person
# with the roles operator, manager, lead and gateway, whom the CLI acts as)
# and worker-I; DIR/tally.env holds the shell settings for the CLI.

key_file() { echo "$dir/keys/$1.key"; }
pub_file() { echo "$dir/keys/$1.pub"; }

# Makes key pair NAME unless it exists.
make_key() {
  [[ -f "$(key_file "$1")" ]] && return 0
  "$BIN/tally" keys generate "$1" --dir "$dir/keys" >/dev/null 2>&1 ||
    die "cannot make the key pair $(key_file "$1")"
}

make_keys() {
  local i
  mkdir -p "$dir/keys" && chmod 700 "$dir/keys"
  make_key coordinator
  make_key operator
  make_key admin
  make_key gateway
  for ((i = 1; i <= WORKERS; i++)); do make_key "worker-$i"; done
}

coordinator_security() {
  if [[ "${INSECURE:-0}" == 1 ]]; then
    echo --insecure
  else
    echo --key "$(key_file coordinator)" --operator-key "$(pub_file operator)"
  fi
}

worker_security() {
  if [[ "${INSECURE:-0}" == 1 ]]; then
    echo --insecure
  else
    echo --key "$(key_file "worker-$1")" --coordinator-key "$(pub_file coordinator)"
  fi
}

# The operator adds "admin" and admits every worker's key (both idempotent).
register_keys() {
  local ep=$1 i out
  [[ "${INSECURE:-0}" == 1 ]] && return 0
  out=$(as_operator "$ep" labeler add admin --roles operator,manager,lead,gateway \
          --public-key "$(pub_file admin)" 2>&1) ||
    [[ "$out" == *ALREADY_EXISTS* ]] || { say "cannot add the admin identity: $out"; return 1; }
  # The web gateway's own identity: the gateway role only (it acts for the
  # people it signs in; deploy/local-cluster start --gateway runs it).
  out=$(as_operator "$ep" labeler add gateway --roles gateway \
          --public-key "$(pub_file gateway)" 2>&1) ||
    [[ "$out" == *ALREADY_EXISTS* ]] || { say "cannot add the gateway identity: $out"; return 1; }
  for ((i = 1; i <= WORKERS; i++)); do
    as_operator "$ep" cluster admit "$(pub_file "worker-$i")" >/dev/null ||
      { say "cannot admit worker-$i's key"; return 1; }
  done
}

as_operator() {
  "$BIN/tally" --coordinator "$1" --key "$(key_file operator)" \
    --coordinator-key "$(pub_file coordinator)" "${@:2}"
}

# The settings `env` prints (also written to DIR/tally.env).
write_tally_env() {
  local ep=$1
  {
    printf 'export TALLY_COORDINATOR=%q\n' "$ep"
    if [[ "${INSECURE:-0}" == 1 ]]; then
      printf 'unset TALLY_KEY TALLY_COORDINATOR_KEY  # insecure cluster: use tally --insecure\n'
    else
      printf 'export TALLY_KEY=%q\n' "$(key_file admin)"
      printf 'export TALLY_COORDINATOR_KEY=%q\n' "$(pub_file coordinator)"
    fi
  } >"$dir/tally.env"
}

