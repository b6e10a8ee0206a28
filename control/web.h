/* web.h: the browser page served by control at / (issue 7). Static files built from
 * control/web/ at build time and shipped beside the binary; no CDN at run time. */
#ifndef RW_WEB_H
#define RW_WEB_H

#include <stddef.h>

struct control;

/* Content-Security-Policy sent with every page response: no inline script. */
#define WEB_CSP "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
		"connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'"

/* Serves a GET for `path` outside /api/. Returns 1 with *body (caller frees), *len and
 * *ctype (static) set when it is one of the page's files, 0 when it is not. */
int web_get(struct control *ctl, const char *path, char **body, size_t *len, const char **ctype);

#endif
