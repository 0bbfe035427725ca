#!/bin/sh
# console_python.sh SCRIPT ARGS...: runs a console test with a Python 3 that
# can import selenium (Debian's python3-selenium installs for the system
# interpreter, which a python3 earlier on PATH, e.g. pyenv's, may not see);
# falls back to python3 on PATH, where the script reports what is missing.
for py in python3 /usr/bin/python3; do
  if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import selenium' >/dev/null 2>&1; then
    exec "$py" "$@"
  fi
done
exec python3 "$@"
