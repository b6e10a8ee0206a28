/* web.c: serves the browser page's static files (see web.h, docs/browser.md).
 *
 * The page is built at build time (cmake/web.cmake runs esbuild over control/web/) into a
 * directory of plain files; control reads them from disk on each request, so a rebuilt
 * page is served without a restart. Nothing here parses what it serves.
 */
#include "control/web.h"
#include "control/control.h"
#include "common/log.h"
#include "common/rw.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WEB_MAX_CSP 900               /* fits the API's 1 KiB response header buffer with room */
#define WEB_MAX_ORIGIN 256            /* one configured host (auth domain, emulator) */

static char web_root[WEB_MAX_PATH];   /* realpath of the page's directory, "" when none */
static char web_policy[WEB_MAX_CSP] = WEB_CSP_BASE;
static int web_ready;

static const struct {
	const char *ext;
	const char *ctype;
} web_types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".mjs", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
	{ ".map", "application/json" },
	{ ".json", "application/json" },
	{ ".woff2", "font/woff2" },
	{ ".txt", "text/plain; charset=utf-8" },
};

/* The content type for a file name, or NULL for an extension the page does not use. */
static const char *web_type_for(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (!dot)
		return NULL;
	for (size_t i = 0; i < RW_ARRAY_LEN(web_types); i++)
		if (!strcmp(dot, web_types[i].ext))
			return web_types[i].ctype;
	return NULL;
}

/* True when `dir` holds a built page (index.html); its realpath is stored in web_root. */
static int web_try_dir(const char *dir)
{
	char real[PATH_MAX], index[WEB_MAX_PATH];
	struct stat st;

	if (!dir || !*dir || !realpath(dir, real))
		return 0;
	if (snprintf(index, sizeof(index), "%s/index.html", real) >= (int)sizeof(index) ||
	    stat(index, &st) || !S_ISREG(st.st_mode))
		return 0;
	snprintf(web_root, sizeof(web_root), "%s", real);
	return 1;
}

/* Looks where a build or an install puts the page, relative to this binary. */
static int web_find_dir(void)
{
	static const char *const rel[] = { "../web", "../share/runwire/web" };
	char exe[PATH_MAX], dir[PATH_MAX + 32];
	ssize_t n;
	char *slash;

	if (getenv(WEB_ENV_DIR))
		return web_try_dir(getenv(WEB_ENV_DIR));
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return 0;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return 0;
	*slash = '\0';
	for (size_t i = 0; i < RW_ARRAY_LEN(rel); i++) {
		if (snprintf(dir, sizeof(dir), "%s/%s", exe, rel[i]) >= (int)sizeof(dir))
			continue;
		if (web_try_dir(dir))
			return 1;
	}
	return 0;
}

/* A host[:port] fit to stand in a header: letters, digits, '.', '-', ':', '[', ']'. */
static int web_host_ok(const char *h)
{
	if (!h || !*h || strlen(h) >= WEB_MAX_ORIGIN)
		return 0;
	for (const char *p = h; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == ':' ||
		      *p == '[' || *p == ']'))
			return 0;
	return 1;
}

/* With Firebase sign-in the page talks to Google's identity endpoints (or the emulator)
 * and, for Google sign-in, loads Google's script and frames the auth domain. */
static void web_build_csp(const struct control *ctl)
{
	const struct control_config *cfg = &ctl->cfg;
	char script[WEB_MAX_ORIGIN + 64] = "", connect[3 * WEB_MAX_ORIGIN] = "",
	     frame[2 * WEB_MAX_ORIGIN] = "'none'";
	int n;

	if (!cfg->firebase_project)
		return;
	if (cfg->firebase_emulator) {
		if (!web_host_ok(cfg->firebase_emulator)) {
			log_warn("web_csp", "{s:s}", "reason", "emulator address not usable in a CSP");
			return;
		}
		snprintf(connect, sizeof(connect), " http://%s", cfg->firebase_emulator);
		snprintf(frame, sizeof(frame), "http://%s", cfg->firebase_emulator);
	} else {
		char domain[WEB_MAX_ORIGIN];
		if (cfg->firebase_auth_domain)
			snprintf(domain, sizeof(domain), "%s", cfg->firebase_auth_domain);
		else
			snprintf(domain, sizeof(domain), "%s.firebaseapp.com", cfg->firebase_project);
		if (!web_host_ok(domain)) {
			log_warn("web_csp", "{s:s}", "reason", "auth domain not usable in a CSP");
			return;
		}
		snprintf(script, sizeof(script), " https://apis.google.com");
		snprintf(connect, sizeof(connect),
			 " https://identitytoolkit.googleapis.com https://securetoken.googleapis.com"
			 " https://www.googleapis.com");
		snprintf(frame, sizeof(frame), "https://%s", domain);
	}
	n = snprintf(web_policy, sizeof(web_policy),
		     "default-src 'self'; script-src 'self'%s; style-src 'self' 'unsafe-inline'; "
		     "img-src 'self' data:; font-src 'self'; connect-src 'self' ws: wss:%s; "
		     "frame-src %s; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
		     "form-action 'self'",
		     script, connect, frame);
	if (n < 0 || n >= (int)sizeof(web_policy)) {
		log_warn("web_csp", "{s:s}", "reason", "policy too long; Firebase origins left out");
		snprintf(web_policy, sizeof(web_policy), "%s", WEB_CSP_BASE);
	}
}

int web_init(struct control *ctl)
{
	web_ready = 1;
	web_build_csp(ctl);
	if (!web_find_dir()) {
		web_root[0] = '\0';
		log_warn("web_missing", "{s:s}", "reason",
			 "no built page (index.html) found: set " WEB_ENV_DIR " or build control/web");
		return RW_ENOTFOUND;
	}
	log_info("web_dir", "{s:s}", "dir", web_root);
	return RW_OK;
}

const char *web_csp(void)
{
	return web_policy;
}

const char *web_dir(void)
{
	return web_root[0] ? web_root : NULL;
}

/* True for a request path the page may have: "/" then segments of [A-Za-z0-9._-] that do
 * not start with '.', no empty segment. */
static int web_path_ok(const char *path)
{
	const char *seg = path + 1;

	if (path[0] != '/' || strlen(path) >= WEB_MAX_PATH / 2)
		return 0;
	for (const char *p = path + 1;; p++) {
		if (*p == '/' || !*p) {
			if (p == seg || *seg == '.')
				return 0;
			if (!*p)
				return 1;
			seg = p + 1;
			continue;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return 0;
	}
}

/* Reads the regular file `name` if it lies inside web_root. 1 with *body, 0 otherwise. */
static int web_read(const char *name, char **body, size_t *len)
{
	char real[PATH_MAX];
	size_t root_len = strlen(web_root), got = 0;
	struct stat st;
	char *buf;
	int fd;

	/* a symlink inside the directory must not lead out of it */
	if (!realpath(name, real) || strncmp(real, web_root, root_len) || real[root_len] != '/')
		return 0;
	fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (size_t)st.st_size > WEB_MAX_FILE) {
		if (S_ISREG(st.st_mode) && (size_t)st.st_size > WEB_MAX_FILE)
			log_warn("web_file_too_big", "{s:s, s:I}", "file", real, "bytes",
				 (json_int_t)st.st_size);
		close(fd);
		return 0;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return 0;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got != (size_t)st.st_size) {
		free(buf);
		return 0;
	}
	buf[got] = '\0';
	*body = buf;
	*len = got;
	return 1;
}

int web_get(struct control *ctl, const char *path, char **body, size_t *len, const char **ctype)
{
	char name[WEB_MAX_PATH];
	const char *type;

	if (!web_ready)
		web_init(ctl);
	if (!web_root[0] || !path)
		return 0;
	if (!strcmp(path, "/") || !strcmp(path, "/index.html"))
		path = "/index.html";
	else if (!web_path_ok(path))
		return 0;
	type = web_type_for(path);
	if (!type)
		return 0;
	if (snprintf(name, sizeof(name), "%s%s", web_root, path) >= (int)sizeof(name))
		return 0;
	if (!web_read(name, body, len))
		return 0;
	*ctype = type;
	return 1;
}
