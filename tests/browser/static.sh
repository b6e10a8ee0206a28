#!/usr/bin/env bash
# static.sh: control serves the built page (control/web.c): "/" is index.html, each file
# with its content type and the Content-Security-Policy, and nothing outside the page's
# directory: no "..", no hidden files, no symlink that leads out, nothing over the size cap.
# Uses a copy of the built page (RW_WEB_DIR) given through RUNWIRE_WEB_DIR.
source "$RW_SRC/tests/e2e/lib.sh"
TEST_NAME=browser.static

[[ -f ${RW_WEB_DIR:-}/index.html ]] || { fail "the page is not built in ${RW_WEB_DIR:-?}"; exit 1; }
web=$TMP/web
cp -r "$RW_WEB_DIR" "$web"
echo "secret" >"$TMP/secret.txt"
ln -s "$TMP/secret.txt" "$web/leak.txt"
echo "hidden" >"$web/.hidden.txt"
head -c $((16 * 1024 * 1024 + 1)) /dev/zero >"$web/big.js"
export RUNWIRE_WEB_DIR=$web
start_control

get() { # get PATH [curl flags]: prints "status content-type"
  local path=$1; shift
  curl -sS -o "$TMP/body" -D "$TMP/headers" -w '%{http_code} %{content_type}' "$@" "$SERVER$path"
}
check "/ is index.html" [ "$(get /)" = "200 text/html; charset=utf-8" ]
check "index.html loads app.js as a module" grep -q '<script type="module" src="app.js">' "$TMP/body"
check "no inline script in index.html" [ "$(grep -c '<script>' "$TMP/body")" = 0 ]
check "no inline style attribute in index.html" [ "$(grep -c ' style=' "$TMP/body")" = 0 ]
check "CSP sent" grep -qi "^content-security-policy: default-src 'self'; script-src 'self';" "$TMP/headers"
check "nosniff sent" grep -qi '^x-content-type-options: nosniff' "$TMP/headers"
check "app.js as JavaScript" [ "$(get /app.js)" = "200 text/javascript; charset=utf-8" ]
check "app.js byte-exact" cmp -s "$TMP/body" "$web/app.js"
check "app.css as CSS" [ "$(get /app.css)" = "200 text/css; charset=utf-8" ]
check "favicon as SVG" [ "$(get /favicon.svg)" = "200 image/svg+xml" ]
check "source map as JSON" [ "$(get /app.js.map)" = "200 application/json" ]
chunk=$(cd "$web" && ls chunks/*.js | head -1)
check "a chunk in a subdirectory" [ "$(get "/$chunk")" = "200 text/javascript; charset=utf-8" ]
check "missing file: 404" [ "$(get /nope.js | cut -d' ' -f1)" = 404 ]
check "..: 404" [ "$(get /../secret.txt --path-as-is | cut -d' ' -f1)" = 404 ]
check "encoded ..: 404" [ "$(get /%2e%2e/secret.txt --path-as-is | cut -d' ' -f1)" = 404 ]
check "chunks/../..: 404" [ "$(get /chunks/../../secret.txt --path-as-is | cut -d' ' -f1)" = 404 ]
check "symlink out of the directory: 404" [ "$(get /leak.txt | cut -d' ' -f1)" = 404 ]
check "hidden file: 404" [ "$(get /.hidden.txt | cut -d' ' -f1)" = 404 ]
check "file over WEB_MAX_FILE (16 MiB): 404" [ "$(get /big.js | cut -d' ' -f1)" = 404 ]
check "unknown extension: 404" [ "$(get /index.php | cut -d' ' -f1)" = 404 ]
check "the API still answers" [ "$(get /healthz | cut -d' ' -f1)" = 200 ]
check "nothing of the secret was sent" bash -c "! grep -q secret '$TMP/body'"
