/* api.c: control's REST API from the terminal client, with libcurl (blocking: the client
 * makes these calls before and between its event loop's turns). */
#include "client/client.h"
#include "common/rw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

struct body_buf {
	char *data;
	size_t len;
	int too_big;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct body_buf *b = ud;
	size_t n = size * nmemb;
	char *nd;

	if (b->len + n > CLIENT_MAX_RESPONSE) {
		b->too_big = 1;
		return 0;
	}
	nd = realloc(b->data, b->len + n + 1);
	if (!nd)
		return 0;
	b->data = nd;
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

#define API_MAX_URL 2048
#define API_MAX_AUTH 8192   /* "Authorization: Bearer " and a Firebase ID token */

/* What every request to control has: its URL, the transport's limits and trust, and the
 * user's credential in `auth` (which must outlive the request). Returns the header list
 * (the caller frees it) with `hdrs` appended to. */
static struct curl_slist *api_setup(CURL *h, const struct client *c, const char *path,
				    struct curl_slist *hdrs, char auth[API_MAX_AUTH])
{
	char url[API_MAX_URL];

	snprintf(url, sizeof(url), "%s%s", c->server, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (c->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	if (c->id_token) {
		snprintf(auth, API_MAX_AUTH, "Authorization: Bearer %s", c->id_token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	return hdrs;
}

int api_request(const struct client *c, const char *method, const char *path, json_t *body,
		long *status, char **raw, size_t *raw_len, char *err, size_t errlen)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	struct body_buf b = { 0 };
	char auth[API_MAX_AUTH], *payload = NULL;
	CURLcode rc;

	*raw = NULL;
	*raw_len = 0;
	if (!h)
		return RW_ENOMEM;
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	if (body) {
		payload = json_dumps(body, JSON_COMPACT);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	} else if (!strcmp(method, "POST")) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
	}
	hdrs = api_setup(h, c, path, hdrs, auth);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "cannot reach control at %s: %s", c->server,
			 b.too_big ? "response too large" : curl_easy_strerror(rc));
		free(b.data);
		free(payload);
		curl_slist_free_all(hdrs);
		curl_easy_cleanup(h);
		return RW_EIO;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	*raw = b.data;
	*raw_len = b.len;
	free(payload);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return RW_OK;
}

int api_call(const struct client *c, const char *method, const char *path, json_t *body,
	     long *status, json_t **resp, char *err, size_t errlen)
{
	char *raw;
	size_t len;
	int r = api_request(c, method, path, body, status, &raw, &len, err, errlen);

	*resp = NULL;
	if (r)
		return r;
	if (raw)
		*resp = json_loadb(raw, len, 0, NULL);
	free(raw);
	return RW_OK;
}

char *api_mint_token(const struct client *c, const char *sid, const char *role, char *err,
		     size_t errlen)
{
	char path[256];
	json_t *req = json_pack("{s:s}", "role", role), *resp = NULL;
	long status = 0;
	char *token = NULL;

	snprintf(path, sizeof(path), "/api/sessions/%s/tokens", sid);
	if (api_call(c, "POST", path, req, &status, &resp, err, errlen)) {
		json_decref(req);
		return NULL;
	}
	json_decref(req);
	if (status == 201 && json_is_string(json_object_get(resp, "token")))
		token = strdup(json_string_value(json_object_get(resp, "token")));
	else if (status == 404)
		snprintf(err, errlen, "session %s not found", sid);
	else
		snprintf(err, errlen, "control refused a token for %s: HTTP %ld %s", sid, status,
			 json_string_value(json_object_get(resp, "error")) ?
				 json_string_value(json_object_get(resp, "error")) : "");
	json_decref(resp);
	return token;
}

struct stream_sink {
	api_sink_fn fn;
	void *ud;
	long status;
	CURL *h;
	int stopped;
};

static size_t on_stream(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct stream_sink *k = ud;
	size_t n = size * nmemb;

	if (!k->status)
		curl_easy_getinfo(k->h, CURLINFO_RESPONSE_CODE, &k->status);
	if (k->status != 200)
		return n;   /* an error body: dropped, the status says it */
	if (k->fn(ptr, n, k->ud)) {
		k->stopped = 1;
		return 0;
	}
	return n;
}

int api_stream(const struct client *c, const char *path, api_sink_fn fn, void *ud, long *status,
	       char *err, size_t errlen)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	struct stream_sink k = { fn, ud, 0, h, 0 };
	char auth[API_MAX_AUTH];
	CURLcode rc;

	*status = 0;
	if (!h)
		return RW_ENOMEM;
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_stream);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &k);
	/* no total timeout: a paced replay takes as long as the session did; a stalled
	 * server is caught by the speed floor instead */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	hdrs = api_setup(h, c, path, NULL, auth);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	if (k.stopped)
		return RW_EINVAL;   /* the sink refused the data and said why */
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "cannot read from control at %s: %s", c->server,
			 curl_easy_strerror(rc));
		return RW_EIO;
	}
	return RW_OK;
}
