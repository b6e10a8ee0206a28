#!/usr/bin/env bash
# `make lint`: static checks on runwire's C sources (cppcheck), plus house rules: no file
# over 1000 lines, no JSON built with printf-family calls, no strcpy/sprintf into fixed
# buffers outside tests.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(git ls-files 'common/*.c' 'agent/*.c' 'control/*.c' 'client/*.c')
status=0
cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
  --suppress=missingIncludeSystem -I . $src || status=1
for f in $src $(git ls-files 'common/*.h' 'agent/*.h' 'control/*.h' 'client/*.h'); do
  n=$(wc -l <"$f")
  if ((n > 1000)); then echo "lint: $f has $n lines (split it along a seam)"; status=1; fi
done
if grep -nE 'printf\([^)]*"\{\\"' $src; then echo "lint: JSON built with printf: use jansson"; status=1; fi
if grep -nE '\bsprintf\(|\bstrcpy\(' $src | grep -v 'lint: ok'; then
  echo "lint: sprintf/strcpy: use snprintf or memcpy with a checked length"; status=1
fi
exit $status
