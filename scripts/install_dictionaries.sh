#!/usr/bin/env bash
# Install FreeDict X→English dictionaries from Debian's packages (jobsim.glossary reads them from
# /usr/share/dictd to gloss non-English texts). Best effort: without apt-get or root, jobsim runs
# without glosses and says so in `jobsim status`.
set -uo pipefail
languages="pol deu fra spa ita nld por ces slk slv hrv srp hun fin swe dan lit tur ell"
packages=()
for code in $languages; do
  package="dict-freedict-$code-eng"
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    packages+=("$package")
done
[ ${#packages[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null || [ "$(id -u)" -ne 0 ]; then
  echo "note: not installing ${packages[*]} (needs apt-get as root); texts stay unglossed" >&2
  exit 0
fi
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "${packages[@]}" >/dev/null; then
  echo "note: could not install the FreeDict dictionaries; texts stay unglossed" >&2
fi
exit 0
