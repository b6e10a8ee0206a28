/* prepare.c: bundle_prepare() on a worker thread, its stage events handed to the loop's thread
 * through a mutex-guarded queue (see prepare.h). The agent (runner.c) and `runwire-agent run`
 * (standalone.c) both drive the pipeline through it.
 */
#include "agent/prepare.h"
#include "common/rw.h"

#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct prepare {
	pthread_t thread;
	pthread_mutex_t mu;
	json_t *queue;                 /* array of stage events; guarded by mu */
	bool finished;                 /* guarded by mu */
	int rc;                        /* guarded by mu once finished */
	char err[BUNDLE_ERR_LEN];      /* guarded by mu once finished */
	atomic_bool cancel;
	prepare_notify_fn notify;
	void *ud;
	bool allow_local_path;
	struct bundle_opts opts;       /* points into the copies below */
	char *url, *sha256, *dest, *cache, *ca, *s3_endpoint, *s3_region;
	char **hosts;
	size_t n_hosts;
	char **signers;
	size_t n_signers;
};

char *prepare_cache_dir(const char *value, const char *work_root)
{
	size_t n = strlen(work_root);
	char *out;

	if (value && !strcmp(value, PREPARE_CACHE_NONE))
		return NULL;
	if (value && *value)
		return strdup(value);
	while (n > 1 && work_root[n - 1] == '/')
		n--;
	while (n && work_root[n - 1] != '/')
		n--;
	while (n > 1 && work_root[n - 1] == '/')
		n--;
	/* "runwire-work" alone: beside it is the current directory */
	if (!n)
		return strdup("runwire-cache");
	if (asprintf(&out, "%.*s/runwire-cache", (int)(n == 1 && work_root[0] == '/' ? 0 : n),
		     work_root) < 0)
		return NULL;
	return out;
}

bool prepare_url_is_local(const char *url)
{
	/* The same rule as bundle_fetch: a scheme ([a-z][a-z0-9+.-]*) then "://" makes a URL,
	 * anything else is a path; file:// is a path too. */
	const char *colon = strstr(url, "://");

	if (!colon || colon == url || !isalpha((unsigned char)url[0]))
		return true;
	for (const char *p = url; p < colon; p++)
		if (!isalnum((unsigned char)*p) && !strchr("+.-", *p))
			return true;
	return !strncasecmp(url, "file://", 7);
}

int prepare_params_from_assign(json_t *bundle, json_t *fetch, const char **hosts,
			       const char **signers, struct prepare_params *pp, char *err,
			       size_t errlen)
{
	json_t *list = json_object_get(fetch, "allowHosts"), *v, *max, *keys;
	size_t i;

	memset(pp, 0, sizeof(*pp));
	pp->url = json_string_value(json_object_get(bundle, "url"));
	pp->sha256 = json_string_value(json_object_get(bundle, "sha256"));
	if (!json_is_object(bundle) || !pp->url || !*pp->url) {
		snprintf(err, errlen, "ASSIGN: \"bundle\" must be {\"url\", \"sha256\"}");
		return RW_EINVAL;
	}
	/* A missing digest is refused by bundle_prepare itself, with its stage event. */
	if (fetch && !json_is_object(fetch)) {
		snprintf(err, errlen, "ASSIGN: \"fetch\" must be an object");
		return RW_EINVAL;
	}
	if (list && !json_is_array(list)) {
		snprintf(err, errlen, "ASSIGN: \"fetch.allowHosts\" must be an array");
		return RW_EINVAL;
	}
	if (json_array_size(list) > PREPARE_MAX_HOSTS) {
		snprintf(err, errlen, "ASSIGN: more than %d allowed hosts", PREPARE_MAX_HOSTS);
		return RW_EINVAL;
	}
	json_array_foreach(list, i, v) {
		if (!json_is_string(v)) {
			snprintf(err, errlen, "ASSIGN: \"fetch.allowHosts\" holds a non-string");
			return RW_EINVAL;
		}
		hosts[pp->n_allow_hosts++] = json_string_value(v);
	}
	pp->allow_hosts = hosts;
	keys = json_object_get(bundle, "signers");
	if (!keys)
		keys = json_object_get(fetch, "signers");
	if (keys && (!json_is_array(keys) || json_array_size(keys) > BUNDLE_MAX_SIGNERS)) {
		snprintf(err, errlen, "ASSIGN: \"signers\" must be an array of at most %d minisign "
			 "public keys", BUNDLE_MAX_SIGNERS);
		return RW_EINVAL;
	}
	json_array_foreach(keys, i, v) {
		if (!json_is_string(v)) {
			snprintf(err, errlen, "ASSIGN: \"signers\" holds a non-string");
			return RW_EINVAL;
		}
		signers[pp->n_signers++] = json_string_value(v);
	}
	pp->signers = signers;
	/* Anything but true is false: policy fails closed. */
	pp->allow_http_loopback = json_is_true(json_object_get(fetch, "allowHttpLoopback"));
	pp->allow_local_path = json_is_true(json_object_get(fetch, "allowLocalPath"));
	max = json_object_get(fetch, "maxDownloadBytes");
	if (max && !json_is_null(max)) {
		if (!json_is_integer(max) || json_integer_value(max) <= 0) {
			snprintf(err, errlen, "ASSIGN: \"fetch.maxDownloadBytes\" must be a positive integer");
			return RW_EINVAL;
		}
		pp->max_download_bytes = (uint64_t)json_integer_value(max);
	}
	pp->s3_endpoint = json_string_value(json_object_get(fetch, "s3Endpoint"));
	pp->s3_region = json_string_value(json_object_get(fetch, "s3Region"));
	return RW_OK;
}

/* Worker thread: keeps a private copy of each event for the loop's thread. */
static void on_event(void *ud, json_t *event)
{
	struct prepare *p = ud;
	const char *state = json_string_value(json_object_get(event, "state"));
	json_t *copy;

	pthread_mutex_lock(&p->mu);
	/* Progress may be dropped when the loop falls behind; an outcome never is. */
	if (json_array_size(p->queue) >= PREPARE_MAX_QUEUED && state && !strcmp(state, "running")) {
		pthread_mutex_unlock(&p->mu);
		return;
	}
	copy = json_deep_copy(event);
	if (copy)
		json_array_append_new(p->queue, copy);
	pthread_mutex_unlock(&p->mu);
	if (p->notify)
		p->notify(p->ud);
}

static void *prepare_main(void *arg)
{
	struct prepare *p = arg;
	char err[BUNDLE_ERR_LEN] = "";
	int rc;

	if (!p->allow_local_path && prepare_url_is_local(p->url)) {
		/* bundle_fetch reads any local file: only an operator's template may name one */
		json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "stage", "stage", "fetch",
				       "state", "failed", "source", "agent", "reason",
				       "a local bundle path is allowed only in an operator's template");
		snprintf(err, sizeof(err), "%s", json_string_value(json_object_get(ev, "reason")));
		on_event(p, ev);
		json_decref(ev);
		rc = RW_EUNSAFE;
	} else {
		rc = bundle_prepare(&p->opts, on_event, p, NULL, err, sizeof(err));
	}
	pthread_mutex_lock(&p->mu);
	p->finished = true;
	p->rc = rc;
	memcpy(p->err, err, sizeof(err));
	pthread_mutex_unlock(&p->mu);
	if (p->notify)
		p->notify(p->ud);
	return NULL;
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

static void prepare_release(struct prepare *p)
{
	json_decref(p->queue);
	free(p->url);
	free(p->sha256);
	free(p->dest);
	free(p->cache);
	free(p->ca);
	free(p->s3_endpoint);
	free(p->s3_region);
	for (size_t i = 0; i < p->n_hosts; i++)
		free(p->hosts[i]);
	free(p->hosts);
	for (size_t i = 0; i < p->n_signers; i++)
		free(p->signers[i]);
	free(p->signers);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

struct prepare *prepare_start(const struct prepare_params *pp, prepare_notify_fn notify,
			      void *ud, char *err, size_t errlen)
{
	struct prepare *p = calloc(1, sizeof(*p));
	sigset_t all, old;
	bool oom = false;
	int r;

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&p->mu, NULL);
	atomic_init(&p->cancel, false);
	p->notify = notify;
	p->ud = ud;
	p->allow_local_path = pp->allow_local_path;
	p->queue = json_array();
	p->url = dup_or_null(pp->url, &oom);
	p->sha256 = dup_or_null(pp->sha256, &oom);
	p->dest = dup_or_null(pp->dest_dir, &oom);
	p->cache = dup_or_null(pp->cache_dir, &oom);
	p->ca = dup_or_null(pp->ca_file, &oom);
	p->s3_endpoint = dup_or_null(pp->s3_endpoint, &oom);
	p->s3_region = dup_or_null(pp->s3_region, &oom);
	if (pp->n_allow_hosts) {
		p->hosts = calloc(pp->n_allow_hosts, sizeof(char *));
		oom |= !p->hosts;
		for (size_t i = 0; p->hosts && i < pp->n_allow_hosts; i++, p->n_hosts++)
			p->hosts[i] = dup_or_null(pp->allow_hosts[i], &oom);
	}
	if (pp->n_signers) {
		p->signers = calloc(pp->n_signers, sizeof(char *));
		oom |= !p->signers;
		for (size_t i = 0; p->signers && i < pp->n_signers; i++, p->n_signers++)
			p->signers[i] = dup_or_null(pp->signers[i], &oom);
	}
	if (oom || !p->queue || !p->url || !p->dest) {
		snprintf(err, errlen, oom || !p->queue ? "out of memory" : "no bundle URL or destination");
		prepare_release(p);
		return NULL;
	}

	bundle_opts_init(&p->opts);
	p->opts.url = p->url;
	p->opts.sha256_hex = p->sha256;
	p->opts.dest_dir = p->dest;
	p->opts.cache_dir = p->cache;
	p->opts.cancel = &p->cancel;
	p->opts.fetch.allow_hosts = (const char *const *)p->hosts;
	p->opts.fetch.n_allow_hosts = p->n_hosts;
	p->opts.signers = (const char *const *)p->signers;
	p->opts.n_signers = p->n_signers;
	p->opts.fetch.allow_http_loopback = pp->allow_http_loopback;
	p->opts.fetch.ca_file = p->ca;
	if (pp->max_download_bytes)
		p->opts.fetch.max_bytes = pp->max_download_bytes;
	p->opts.fetch.s3_endpoint = p->s3_endpoint;
	p->opts.fetch.s3_region = p->s3_region;

	/* Signals (SIGTERM, SIGINT, SIGCHLD, SIGWINCH) stay with the loop's thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&p->thread, NULL, prepare_main, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		snprintf(err, errlen, "cannot start the bundle worker: %s", strerror(r));
		prepare_release(p);
		return NULL;
	}
	return p;
}

void prepare_cancel(struct prepare *p)
{
	if (p)
		atomic_store(&p->cancel, true);
}

int prepare_take(struct prepare *p, json_t **events, int *rc, char *err, size_t errlen)
{
	json_t *fresh = json_array();
	int finished;

	pthread_mutex_lock(&p->mu);
	*events = p->queue;
	/* Without memory for a fresh array the queue is handed over and the worker's next
	 * events are dropped (json_array_append_new on NULL fails quietly). */
	p->queue = fresh;
	finished = p->finished;
	if (finished) {
		*rc = p->rc;
		snprintf(err, errlen, "%s", p->err);
	}
	pthread_mutex_unlock(&p->mu);
	if (!*events)
		*events = json_array();
	return finished;
}

void prepare_free(struct prepare *p)
{
	if (!p)
		return;
	atomic_store(&p->cancel, true);
	pthread_join(p->thread, NULL);
	prepare_release(p);
}
