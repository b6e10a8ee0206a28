/* web.h: the browser page served by control at / (issue 7). Static files built from
 * control/web/ at build time and shipped beside the binary; no CDN at run time.
 * See docs/browser.md.
 */
#ifndef RW_WEB_H
#define RW_WEB_H

#include <stddef.h>

struct control;

/* Content-Security-Policy of the embedded default: no inline script, no eval, every
 * script, style sheet, image and font from this origin. xterm.js writes its cell
 * dimensions and colours into <style> elements and style attributes at run time, so
 * styles also allow 'unsafe-inline' (scripts never do); with img-src and font-src limited
 * to 'self' an injected style cannot send anything to another origin. */
#define WEB_CSP_BASE "default-src 'self'; script-src 'self'; " \
		"style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; " \
		"connect-src 'self' ws: wss:; frame-src 'none'; object-src 'none'; " \
		"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

/* The policy sent with every response: WEB_CSP_BASE, widened for Firebase sign-in when
 * control is configured for it (see web_csp). */
#define WEB_CSP web_csp()

#define WEB_MAX_FILE (16u << 20)      /* largest page file served (the bundle is ~1 MiB) */
#define WEB_MAX_PATH 4096             /* longest resolved file name */
#define WEB_ENV_DIR "RUNWIRE_WEB_DIR" /* overrides where the page's files are looked for */

/* Serves a GET for `path` outside /api/. Returns 1 with *body (caller frees), *len and
 * *ctype (static) set when it is one of the page's files, 0 when it is not (the caller
 * answers 404). "/" is index.html. Paths with "..", hidden segments, or characters
 * outside [A-Za-z0-9._/-] are refused, and so is anything that resolves outside the
 * page's directory. */
int web_get(struct control *ctl, const char *path, char **body, size_t *len, const char **ctype);

/* The Content-Security-Policy for this control (static storage, valid until exit). Before
 * web_init it is WEB_CSP_BASE. */
const char *web_csp(void);

/* Finds the page's directory and builds the policy from ctl's configuration: with
 * Firebase sign-in, Google's sign-in origins (or the Auth emulator's) are added to
 * script-src, connect-src and frame-src. Called once at start; web_get calls it itself
 * if nobody did. Returns 0, or RW_ENOTFOUND when no built page was found (control still
 * runs: the API works without the page, and "/" answers 404). */
int web_init(struct control *ctl);

/* The directory the page is served from, or NULL when none was found. */
const char *web_dir(void);

#endif
