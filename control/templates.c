/* templates.c: templates, ad-hoc bundles and the bundle policy (see templates.h). */
#include "control/templates.h"
#include "control/control.h"
#include "common/log.h"
#include "common/rw.h"
#include "common/text.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <sodium.h>

#define TEMPLATE_MAX_NAME 64

void session_spec_release(struct session_spec *sp)
{
	free(sp->command);
	json_decref(sp->env);
	json_decref(sp->bundle);
	free(sp->install);
	free(sp->template_name);
	json_decref(sp->sandbox);
	text_secrets_wipe(sp->secrets);
	memset(sp, 0, sizeof(*sp));
}


/* Checks an env object; 0 or -1 with err set. */
static int check_env(json_t *env, const char *where, char *err, size_t errlen)
{
	const char *k;
	json_t *v;
	size_t bytes = 0;

	if (!env)
		return 0;
	if (!json_is_object(env)) {
		snprintf(err, errlen, "%s\"env\" must be an object of strings", where);
		return -1;
	}
	if (json_object_size(env) > SESSION_MAX_ENV) {
		snprintf(err, errlen, "%s\"env\" has more than %d entries", where, SESSION_MAX_ENV);
		return -1;
	}
	json_object_foreach(env, k, v) {
		if (!json_is_string(v) || !text_env_name_ok(k)) {
			snprintf(err, errlen,
				 "%s\"env\": \"%.64s\" must be a NAME of [A-Za-z_][A-Za-z0-9_]* "
				 "(not RUNWIRE_*) with a string value", where, k);
			return -1;
		}
		bytes += strlen(k) + json_string_length(v) + 2;
	}
	if (bytes > SESSION_MAX_ENV_BYTES) {
		snprintf(err, errlen, "%s\"env\" larger than 32 KiB", where);
		return -1;
	}
	return 0;
}

static int is_hex64(const char *s)
{
	return s && strlen(s) == 64 && strspn(s, "0123456789abcdefABCDEF") == 64;
}

/* Checks {"url","sha256"}; 0 or -1 with err set. */
static int check_bundle(json_t *b, const char *where, char *err, size_t errlen)
{
	const char *k;
	json_t *v;

	if (!json_is_object(b) || !json_is_string(json_object_get(b, "url"))) {
		snprintf(err, errlen, "%s\"bundle\" must be {\"url\": \"...\", \"sha256\": \"<64 hex>\"}", where);
		return -1;
	}
	json_object_foreach(b, k, v)
		if (strcmp(k, "url") && strcmp(k, "sha256")) {
			snprintf(err, errlen, "%s\"bundle\": unknown field \"%.64s\"", where, k);
			return -1;
		}
	if (!is_hex64(json_string_value(json_object_get(b, "sha256")))) {
		/* fail closed: a bundle is only run when its digest was promised */
		snprintf(err, errlen, "%s\"bundle\": \"sha256\" must be 64 hex digits (a digest is required)", where);
		return -1;
	}
	return 0;
}

/* Checks a "signers" list: 1..TEMPLATE_MAX_SIGNERS minisign public keys, each the base64 line
 * of a minisign.pub ("RW...": "Ed", key id, Ed25519 key). The agent parses them again; this
 * catches a pasted key file or a typo when the config loads. 0 or -1 with err set. */
static int check_signers(json_t *list, const char *where, char *err, size_t errlen)
{
	uint8_t raw[42];
	size_t i, got;
	json_t *v;

	if (!json_is_array(list) || !json_array_size(list) ||
	    json_array_size(list) > TEMPLATE_MAX_SIGNERS) {
		snprintf(err, errlen, "%s\"signers\" must list 1 to %d minisign public keys", where,
			 TEMPLATE_MAX_SIGNERS);
		return -1;
	}
	json_array_foreach(list, i, v) {
		const char *k = json_string_value(v), *end = NULL;

		if (!k || sodium_base642bin(raw, sizeof(raw), k, strlen(k), NULL, &got, &end,
					    sodium_base64_VARIANT_ORIGINAL) ||
		    got != sizeof(raw) || *end || raw[0] != 'E' || raw[1] != 'd') {
			snprintf(err, errlen, "%s\"signers\"[%zu] is not a minisign public key (the "
				 "\"RW...\" line of minisign.pub)", where, i);
			return -1;
		}
	}
	return 0;
}

/* The sandbox of local runners (docs/security.md): a template's "network" and "limits". Each
 * limit is a positive integer up to the agent's cap; "timeoutSeconds" is read elsewhere.
 * 0 or -1 with err set. */
static const struct { const char *name; json_int_t max; } sandbox_limits[] = {
	{ "cpuSeconds", 7 * 86400 }, { "processes", 65536 }, { "openFiles", 65536 },
	{ "fileSizeMiB", TEMPLATE_MAX_LIMIT_MIB }, { "memoryMiB", TEMPLATE_MAX_LIMIT_MIB },
	{ "timeoutSeconds", 7 * 86400 },
};

static int check_sandbox(json_t *t, const char *where, char *err, size_t errlen)
{
	json_t *net = json_object_get(t, "network"), *limits = json_object_get(t, "limits"), *v;
	const char *k;

	if (net && (!json_is_string(net) || (strcmp(json_string_value(net), "outbound") &&
					     strcmp(json_string_value(net), "none")))) {
		snprintf(err, errlen, "%s\"network\" must be \"outbound\" or \"none\"", where);
		return -1;
	}
	if (json_object_get(t, "bundleWritable") && !json_is_boolean(json_object_get(t, "bundleWritable"))) {
		snprintf(err, errlen, "%s\"bundleWritable\" must be true or false", where);
		return -1;
	}
	if (limits && !json_is_object(limits)) {
		snprintf(err, errlen, "%s\"limits\" must be an object", where);
		return -1;
	}
	json_object_foreach(limits, k, v) {
		size_t i;

		for (i = 0; i < RW_ARRAY_LEN(sandbox_limits); i++)
			if (!strcmp(k, sandbox_limits[i].name))
				break;
		if (i == RW_ARRAY_LEN(sandbox_limits)) {
			snprintf(err, errlen, "%s\"limits\": unknown limit \"%.64s\" (cpuSeconds, "
				 "processes, openFiles, fileSizeMiB, memoryMiB, timeoutSeconds)", where, k);
			return -1;
		}
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > sandbox_limits[i].max) {
			snprintf(err, errlen, "%s\"limits.%s\" must be an integer in 1..%lld", where, k,
				 (long long)sandbox_limits[i].max);
			return -1;
		}
	}
	return 0;
}

/* A template's "secrets" ({"NAME": {"file": "/abs/path"}}) and "userSecrets" (["NAME"]):
 * environment names, at most TEMPLATE_MAX_SECRETS in all, none also in "env" (a value there
 * would travel and show as plain configuration). A name may be in both: the file's value is
 * then the default and the user's replaces it. 0 or -1 with err set. */
static int check_secrets(json_t *t, const char *where, char *err, size_t errlen)
{
	json_t *sec = json_object_get(t, "secrets"), *user = json_object_get(t, "userSecrets"), *v;
	const char *k;
	size_t i;

	if ((sec && !json_is_object(sec)) || (user && !json_is_array(user))) {
		snprintf(err, errlen, "%s\"secrets\" must be {\"NAME\": {\"file\": \"/path\"}} and "
			 "\"userSecrets\" a list of names", where);
		return -1;
	}
	if (json_object_size(sec) + json_array_size(user) > TEMPLATE_MAX_SECRETS) {
		snprintf(err, errlen, "%smore than %d secrets", where, TEMPLATE_MAX_SECRETS);
		return -1;
	}
	json_object_foreach(sec, k, v) {
		const char *file = json_string_value(json_object_get(v, "file"));

		if (!text_env_name_ok(k) || !json_is_object(v) || json_object_size(v) != 1 || !file ||
		    file[0] != '/') {
			snprintf(err, errlen, "%s\"secrets\": \"%.64s\" must be a NAME (as in \"env\") "
				 "with {\"file\": \"/absolute/path\"}", where, k);
			return -1;
		}
		if (json_object_get(json_object_get(t, "env"), k)) {
			snprintf(err, errlen, "%s\"%.64s\" is both a secret and in \"env\"", where, k);
			return -1;
		}
	}
	json_array_foreach(user, i, v) {
		if (!json_is_string(v) || !text_env_name_ok(json_string_value(v))) {
			snprintf(err, errlen, "%s\"userSecrets\"[%zu] must be a NAME as in \"env\"", where, i);
			return -1;
		}
		if (json_object_get(json_object_get(t, "env"), json_string_value(v))) {
			snprintf(err, errlen, "%s\"%.64s\" is both a secret and in \"env\"", where,
				 json_string_value(v));
			return -1;
		}
	}
	return 0;
}

int templates_check(json_t *file, char *err, size_t errlen)
{
	json_t *templates = json_object_get(file, "templates"), *bundles = json_object_get(file, "bundles");
	const char *name, *k;
	json_t *t, *v;
	char where[128];

	if (templates && !json_is_object(templates)) {
		snprintf(err, errlen, "config: \"templates\" must be an object of name -> template");
		return RW_EINVAL;
	}
	json_object_foreach(templates, name, t) {
		snprintf(where, sizeof(where), "config: template \"%.64s\": ", name);
		if (strlen(name) > TEMPLATE_MAX_NAME || !json_is_object(t)) {
			snprintf(err, errlen, "%snames are at most %d characters and templates are objects", where, TEMPLATE_MAX_NAME);
			return RW_EINVAL;
		}
		json_object_foreach(t, k, v) {
			if (strcmp(k, "description") && strcmp(k, "bundle") && strcmp(k, "install") &&
			    strcmp(k, "command") && strcmp(k, "env") && strcmp(k, "limits") &&
			    strcmp(k, "signers") && strcmp(k, "network") &&
			    strcmp(k, "bundleWritable") && strcmp(k, "secrets") &&
			    strcmp(k, "userSecrets")) {
				snprintf(err, errlen, "%sunknown field \"%.64s\"", where, k);
				return RW_EINVAL;
			}
		}
		if (!json_is_string(json_object_get(t, "command")) ||
		    !json_string_length(json_object_get(t, "command"))) {
			snprintf(err, errlen, "%s\"command\" must be a non-empty string", where);
			return RW_EINVAL;
		}
		if (json_object_get(t, "install") && !json_is_string(json_object_get(t, "install"))) {
			snprintf(err, errlen, "%s\"install\" must be a string", where);
			return RW_EINVAL;
		}
		if (json_object_get(t, "bundle") &&
		    check_bundle(json_object_get(t, "bundle"), where, err, errlen))
			return RW_EINVAL;
		if (check_env(json_object_get(t, "env"), where, err, errlen))
			return RW_EINVAL;
		if (check_sandbox(t, where, err, errlen))
			return RW_EINVAL;
		if (check_secrets(t, where, err, errlen))
			return RW_EINVAL;
		if (json_object_get(t, "signers") &&
		    (check_signers(json_object_get(t, "signers"), where, err, errlen) ||
		     (!json_object_get(t, "bundle") &&
		      snprintf(err, errlen, "%s\"signers\" needs a \"bundle\"", where))))
			return RW_EINVAL;
	}
	if (bundles) {
		json_t *hosts = json_object_get(bundles, "allowHosts");
		size_t i;
		if (!json_is_object(bundles) || (hosts && !json_is_array(hosts))) {
			snprintf(err, errlen, "config: \"bundles\" must be {\"allowHosts\": [...], \"allowAdHoc\": bool, ...}");
			return RW_EINVAL;
		}
		json_array_foreach(hosts, i, v)
			if (!json_is_string(v) || !json_string_length(v)) {
				snprintf(err, errlen, "config: \"bundles.allowHosts\" must hold host names or \"*.suffix\"");
				return RW_EINVAL;
			}
		if (json_object_get(bundles, "signers") &&
		    check_signers(json_object_get(bundles, "signers"), "config: bundles: ", err, errlen))
			return RW_EINVAL;
	}
	return RW_OK;
}

static int host_allowed(json_t *hosts, const char *host)
{
	size_t i;
	json_t *v;

	json_array_foreach(hosts, i, v) {
		const char *h = json_string_value(v);
		size_t hl = strlen(host), pl;
		if (!strcasecmp(h, host))
			return 1;
		if (!strncmp(h, "*.", 2)) {
			pl = strlen(h + 1);
			if (hl > pl && !strcasecmp(host + hl - pl, h + 1))
				return 1;
		}
	}
	return 0;
}

/* An ad-hoc bundle URL from a user: https or s3 (http only to loopback when allowed),
 * from an allowlisted host. The agent checks again on every redirect hop. */
static int check_adhoc_url(struct control *ctl, const char *url, char *err, size_t errlen)
{
	json_t *bundles = json_object_get(ctl->cfg.file, "bundles");
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int r = -1;

	if (!u || curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) || curl_url_get(u, CURLUPART_HOST, &host, 0)) {
		snprintf(err, errlen, "\"bundle.url\" is not a URL (local paths are for operators' templates)");
		goto out;
	}
	if (!strcmp(scheme, "s3")) {
		r = 0;  /* bucket names are checked against the endpoint by the agent */
		goto out;
	}
	if (strcmp(scheme, "https") &&
	    !(strcmp(scheme, "http") == 0 && json_is_true(json_object_get(bundles, "allowHttpLoopback")) &&
	      (!strcmp(host, "127.0.0.1") || !strcmp(host, "localhost") || !strcmp(host, "[::1]")))) {
		snprintf(err, errlen, "\"bundle.url\" must be https (or s3://)");
		goto out;
	}
	if (!host_allowed(json_object_get(bundles, "allowHosts"), host)) {
		snprintf(err, errlen, "bundle host \"%.128s\" is not in the allowlist", host);
		goto out;
	}
	r = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return r;
}

static int name_listed(json_t *list, const char *name)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
		if (!strcmp(json_string_value(v), name))
			return 1;
	return 0;
}

/* A secret's value as a JSON string (a copy: the caller may wipe its bytes), or NULL when it
 * is empty, holds a NUL byte or is not UTF-8 (an environment value is a C string, and
 * jansson keeps only UTF-8). */
static json_t *secret_value(const char *buf, size_t len)
{
	if (!len || memchr(buf, 0, len))
		return NULL;
	return json_stringn(buf, len);
}

/* Reads a template's secret file into out->secrets. Its value is the file's bytes less one
 * trailing newline (`echo KEY > file`); at most TEMPLATE_MAX_SECRET_BYTES. 0, or 500 with err
 * naming the secret (the path only in control's log: it is the operator's business). */
static int read_secret_file(const char *tname, const char *name, const char *path,
			    json_t *secrets, char *err, size_t errlen)
{
	char buf[TEMPLATE_MAX_SECRET_BYTES + 1];
	const char *why = NULL;
	size_t len = 0;
	ssize_t n;
	json_t *v = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		why = strerror(errno);
	} else {
		while (len < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len)) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				why = strerror(errno);
				break;
			}
			len += (size_t)n;
		}
		close(fd);
	}
	if (!why && len > TEMPLATE_MAX_SECRET_BYTES)
		why = "larger than 16 KiB";
	if (!why) {
		if (len && buf[len - 1] == '\n')
			len--;
		if (len && buf[len - 1] == '\r')
			len--;
		v = secret_value(buf, len);
		if (!v)
			why = "empty, or not a UTF-8 text without NUL bytes";
	}
	sodium_memzero(buf, sizeof(buf));
	if (why) {
		log_error("secret_unavailable", "{s:s, s:s, s:s, s:s}", "template", tname, "secret",
			  name, "file", path, "reason", why);
		snprintf(err, errlen, "template \"%.64s\": secret \"%.128s\" is unavailable: its "
			 "file cannot be used (%s)", tname, name, why);
		return 500;
	}
	json_object_set_new(secrets, name, v);
	return 0;
}

/* A template's secrets: the operator's files, then the values the request gives for names
 * the template lists in "userSecrets". 0 or the HTTP status with err set. */
static int resolve_secrets(json_t *t, const char *tname, json_t *req, json_t *secrets,
			   char *err, size_t errlen)
{
	json_t *given = json_object_get(req, "secrets"), *v;
	const char *k;
	size_t total = 0;
	int r;

	json_object_foreach(json_object_get(t, "secrets"), k, v)
		if ((r = read_secret_file(tname, k, json_string_value(json_object_get(v, "file")),
					  secrets, err, errlen)))
			return r;
	json_object_foreach(given, k, v) {
		json_t *copy;

		if (!name_listed(json_object_get(t, "userSecrets"), k)) {
			snprintf(err, errlen, "template \"%.64s\" takes no secret \"%.128s\" from "
				 "users (its \"userSecrets\")", tname, k);
			return 403;
		}
		copy = json_is_string(v) && json_string_length(v) <= TEMPLATE_MAX_SECRET_BYTES
			       ? secret_value(json_string_value(v), json_string_length(v)) : NULL;
		if (!copy) {
			snprintf(err, errlen, "secret \"%.128s\" must be a non-empty string of at most "
				 "16 KiB without NUL bytes", k);
			return 400;
		}
		json_object_set_new(secrets, k, copy);
	}
	json_object_foreach(secrets, k, v)
		total += json_string_length(v);
	if (total > TEMPLATE_MAX_SECRET_BYTES) {
		snprintf(err, errlen, "template \"%.64s\": its secrets together are larger than 16 KiB",
			 tname);
		return given ? 400 : 500;
	}
	return 0;
}

int templates_resolve(struct control *ctl, json_t *req, struct session_spec *out, char *err,
		      size_t errlen)
{
	json_t *templates = json_object_get(ctl->cfg.file, "templates");
	json_t *bundles = json_object_get(ctl->cfg.file, "bundles");
	const char *tname = json_string_value(json_object_get(req, "template"));
	const char *command = json_string_value(json_object_get(req, "command"));
	const char *install = json_string_value(json_object_get(req, "install"));
	json_t *prompt = json_object_get(req, "prompt"), *bundle = json_object_get(req, "bundle");
	json_t *given = json_object_get(req, "secrets");

	memset(out, 0, sizeof(*out));
	if (given && (!json_is_object(given) || !tname)) {
		snprintf(err, errlen, "\"secrets\" must be an object of NAME -> value, and needs a "
			 "\"template\" that takes them");
		return 400;
	}
	if (json_object_get(req, "template") && !tname) {
		snprintf(err, errlen, "\"template\" must be a string");
		return 400;
	}
	if (json_object_get(req, "install") && !install) {
		snprintf(err, errlen, "\"install\" must be a string");
		return 400;
	}
	if (prompt && (!json_is_string(prompt) || json_string_length(prompt) > TEMPLATE_MAX_PROMPT)) {
		snprintf(err, errlen, "\"prompt\" must be a string of at most 16 KiB");
		return 400;
	}
	if (check_env(json_object_get(req, "env"), "", err, errlen))
		return 400;
	if (tname) {
		json_t *t = json_object_get(templates, tname);
		if (!t) {
			snprintf(err, errlen, "no template named \"%.64s\"", tname);
			return 404;
		}
		if (command || bundle || install) {
			snprintf(err, errlen, "a template brings its own command, bundle and install");
			return 400;
		}
		out->template_name = strdup(tname);
		out->command = strdup(json_string_value(json_object_get(t, "command")));
		out->env = json_object_get(t, "env") ? json_deep_copy(json_object_get(t, "env")) : json_object();
		out->bundle = json_object_get(t, "bundle") ? json_deep_copy(json_object_get(t, "bundle")) : NULL;
		if (out->bundle && json_object_get(t, "signers"))
			json_object_set(out->bundle, "signers", json_object_get(t, "signers"));
		if (json_object_get(t, "network") || json_object_get(t, "limits") ||
		    json_is_true(json_object_get(t, "bundleWritable"))) {
			out->sandbox = json_object();
			if (json_is_true(json_object_get(t, "bundleWritable")))
				json_object_set_new(out->sandbox, "bundleWritable", json_true());
			if (json_object_get(t, "network"))
				json_object_set(out->sandbox, "network", json_object_get(t, "network"));
			if (json_object_get(t, "limits"))
				json_object_set(out->sandbox, "limits", json_object_get(t, "limits"));
		}
		out->install = json_object_get(t, "install") ? strdup(json_string_value(json_object_get(t, "install"))) : NULL;
		out->trusted = 1;
		if (json_object_get(t, "secrets") || json_object_get(t, "userSecrets") || given) {
			const char *k0;
			json_t *v0;
			int r;

			out->secrets = json_object();
			r = resolve_secrets(t, tname, req, out->secrets, err, errlen);
			if (r) {
				session_spec_release(out);
				return r;
			}
			json_object_foreach(json_object_get(req, "env"), k0, v0)
				if (json_object_get(out->secrets, k0) ||
				    name_listed(json_object_get(t, "userSecrets"), k0)) {
					snprintf(err, errlen, "\"env\": \"%.64s\" is a secret of this "
						 "template: give it in \"secrets\"", k0);
					session_spec_release(out);
					return 400;
				}
		}
	} else {
		if (!command || !*command) {
			snprintf(err, errlen, "\"command\" must be a non-empty string (or name a \"template\")");
			return 400;
		}
		if (bundle) {
			if (!json_is_true(json_object_get(bundles, "allowAdHoc"))) {
				snprintf(err, errlen, "ad-hoc bundles are not allowed here: use a template");
				return 403;
			}
			if (check_bundle(bundle, "", err, errlen))
				return 400;
			if (check_adhoc_url(ctl, json_string_value(json_object_get(bundle, "url")), err, errlen))
				return 403;
			out->bundle = json_deep_copy(bundle);
		} else if (install) {
			snprintf(err, errlen, "\"install\" needs a \"bundle\"");
			return 400;
		}
		out->command = strdup(command);
		out->env = json_object();
		out->install = install ? strdup(install) : NULL;
	}
	if (strlen(out->command) > SESSION_MAX_COMMAND) {
		snprintf(err, errlen, "\"command\" longer than 64 KiB");
		session_spec_release(out);
		return 400;
	}
	/* the request's env adds to the template's; it cannot replace what the operator set */
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(req, "env"), k, v)
		if (!json_object_get(out->env, k))
			json_object_set(out->env, k, v);
	if (prompt)
		json_object_set(out->env, "CLAUDE_PROMPT", prompt);
	return 0;
}

json_t *templates_fetch_policy(struct control *ctl, int trusted)
{
	json_t *bundles = json_object_get(ctl->cfg.file, "bundles");
	json_t *hosts = json_object_get(bundles, "allowHosts");
	json_t *p = json_pack("{s:o, s:b, s:b}", "allowHosts",
			      hosts ? json_incref(hosts) : json_array(),
			      "allowHttpLoopback", json_is_true(json_object_get(bundles, "allowHttpLoopback")),
			      "allowLocalPath", trusted);
	/* "signers": the operator's keys for every bundle without a template's own list */
	const char *keys[] = { "maxDownloadBytes", "s3Endpoint", "s3Region", "signers" };

	for (size_t i = 0; i < RW_ARRAY_LEN(keys); i++)
		if (json_object_get(bundles, keys[i]))
			json_object_set(p, keys[i], json_object_get(bundles, keys[i]));
	return p;
}

json_t *templates_list(struct control *ctl)
{
	json_t *list = json_array(), *t;
	const char *name;

	json_object_foreach(json_object_get(ctl->cfg.file, "templates"), name, t) {
		const char *d = json_string_value(json_object_get(t, "description"));
		json_array_append_new(list, json_pack("{s:s, s:s}", "name", name, "description", d ? d : ""));
	}
	return list;
}
