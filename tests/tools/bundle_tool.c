/* bundle_tool: a small command line over bundle_prepare() for the end-to-end tests and the
 * benchmark, until `runwire-agent run --bundle` wires the same pipeline in. Its flags carry the
 * names of issue 4's CLI. Each stage event goes to stdout as one JSON line, then one line
 * {"type":"result", ...}; exit status 0 on success, 1 on failure, 2 on a usage error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/bundle.h"
#include "common/rw.h"

#define TOOL_MAX_LIST 64   /* --allow-host and --resolve values */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bundle_tool --bundle URL|PATH --sha256 HEX --dest DIR [options]\n"
		"  --cache DIR              cache unpacked bundles by digest in DIR\n"
		"  --cache-max BYTES        cache size cap (default %llu)\n"
		"  --allow-host HOST        allow a host (exact, or *.suffix); repeatable\n"
		"  --allow-http-loopback    allow plain http to loopback hosts\n"
		"  --ca-file PEM            trust this CA instead of the system's (tests)\n"
		"  --resolve HOST:PORT:ADDR pin a name to an address, as curl --resolve (tests)\n"
		"  --s3-endpoint URL        S3-compatible endpoint (path-style requests)\n"
		"  --s3-region REGION       SigV4 region (default AWS_REGION or %s)\n"
		"  --max-download BYTES     download cap (default %llu)\n"
		"  --max-redirects N        0..%d (default %d)\n"
		"  --connect-timeout S      (default %d)\n"
		"  --low-speed-limit BPS    (default %d)\n"
		"  --low-speed-time S       (default %d)\n"
		"  --timeout S              whole download, 0 = none (default %d)\n"
		"  --max-entries N          (default %d)\n"
		"  --max-unpacked BYTES     (default %llu)\n"
		"  --max-ratio N            compression ratio cap, 0 = none (default %d)\n",
		(unsigned long long)BUNDLE_CACHE_MAX_BYTES, BUNDLE_S3_DEFAULT_REGION,
		(unsigned long long)BUNDLE_FETCH_MAX_BYTES, BUNDLE_FETCH_MAX_REDIRECTS,
		BUNDLE_FETCH_MAX_REDIRECTS, BUNDLE_FETCH_CONNECT_TIMEOUT_S,
		BUNDLE_FETCH_LOW_SPEED_LIMIT, BUNDLE_FETCH_LOW_SPEED_TIME_S, BUNDLE_FETCH_TIMEOUT_S,
		BUNDLE_UNPACK_MAX_ENTRIES, (unsigned long long)BUNDLE_UNPACK_MAX_TOTAL,
		BUNDLE_UNPACK_MAX_RATIO);
}

static void print_event(void *ud, json_t *event)
{
	char *line = json_dumps(event, JSON_COMPACT);

	if (line) {
		printf("%s\n", line);
		fflush(stdout);
		free(line);
	}
}

static int number(const char *flag, const char *s, long long min, long long max, long long *out)
{
	if (rw_parse_int(s, min, max, out) == 0)
		return 0;
	fprintf(stderr, "bundle_tool: %s wants a number in [%lld, %lld]\n", flag, min, max);
	return -1;
}

enum {
	OPT_BUNDLE = 256, OPT_SHA256, OPT_DEST, OPT_CACHE, OPT_CACHE_MAX, OPT_ALLOW_HOST,
	OPT_HTTP_LOOPBACK, OPT_CA_FILE, OPT_RESOLVE, OPT_S3_ENDPOINT, OPT_S3_REGION,
	OPT_MAX_DOWNLOAD, OPT_MAX_REDIRECTS, OPT_CONNECT_TIMEOUT, OPT_LOW_SPEED_LIMIT,
	OPT_LOW_SPEED_TIME, OPT_TIMEOUT, OPT_MAX_ENTRIES, OPT_MAX_UNPACKED, OPT_MAX_RATIO, OPT_HELP,
};

static const struct option tool_options[] = {
	{ "bundle", required_argument, NULL, OPT_BUNDLE },
	{ "sha256", required_argument, NULL, OPT_SHA256 },
	{ "dest", required_argument, NULL, OPT_DEST },
	{ "cache", required_argument, NULL, OPT_CACHE },
	{ "cache-max", required_argument, NULL, OPT_CACHE_MAX },
	{ "allow-host", required_argument, NULL, OPT_ALLOW_HOST },
	{ "allow-http-loopback", no_argument, NULL, OPT_HTTP_LOOPBACK },
	{ "ca-file", required_argument, NULL, OPT_CA_FILE },
	{ "resolve", required_argument, NULL, OPT_RESOLVE },
	{ "s3-endpoint", required_argument, NULL, OPT_S3_ENDPOINT },
	{ "s3-region", required_argument, NULL, OPT_S3_REGION },
	{ "max-download", required_argument, NULL, OPT_MAX_DOWNLOAD },
	{ "max-redirects", required_argument, NULL, OPT_MAX_REDIRECTS },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
	{ "low-speed-limit", required_argument, NULL, OPT_LOW_SPEED_LIMIT },
	{ "low-speed-time", required_argument, NULL, OPT_LOW_SPEED_TIME },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "max-entries", required_argument, NULL, OPT_MAX_ENTRIES },
	{ "max-unpacked", required_argument, NULL, OPT_MAX_UNPACKED },
	{ "max-ratio", required_argument, NULL, OPT_MAX_RATIO },
	{ "help", no_argument, NULL, OPT_HELP },
	{ 0 },
};

int main(int argc, char **argv)
{
	const char *hosts[TOOL_MAX_LIST], *resolves[TOOL_MAX_LIST];
	struct bundle_opts o;
	struct bundle_result res;
	char err[BUNDLE_ERR_LEN];
	long long v;
	json_t *result;
	int opt, rc;

	bundle_opts_init(&o);
	o.fetch.allow_hosts = hosts;
	o.fetch.resolve = resolves;
	while ((opt = getopt_long(argc, argv, "", tool_options, NULL)) != -1) {
		switch (opt) {
		case OPT_BUNDLE: o.url = optarg; break;
		case OPT_SHA256: o.sha256_hex = optarg; break;
		case OPT_DEST: o.dest_dir = optarg; break;
		case OPT_CACHE: o.cache_dir = optarg; break;
		case OPT_CACHE_MAX:
			if (number("--cache-max", optarg, 1, INT64_MAX, &v))
				return 2;
			o.cache_max_bytes = (uint64_t)v;
			break;
		case OPT_ALLOW_HOST:
		case OPT_RESOLVE:
			if ((opt == OPT_ALLOW_HOST ? o.fetch.n_allow_hosts : o.fetch.n_resolve) ==
			    TOOL_MAX_LIST) {
				fprintf(stderr, "bundle_tool: at most %d of each list\n", TOOL_MAX_LIST);
				return 2;
			}
			if (opt == OPT_ALLOW_HOST)
				hosts[o.fetch.n_allow_hosts++] = optarg;
			else
				resolves[o.fetch.n_resolve++] = optarg;
			break;
		case OPT_HTTP_LOOPBACK: o.fetch.allow_http_loopback = true; break;
		case OPT_CA_FILE: o.fetch.ca_file = optarg; break;
		case OPT_S3_ENDPOINT: o.fetch.s3_endpoint = optarg; break;
		case OPT_S3_REGION: o.fetch.s3_region = optarg; break;
		case OPT_MAX_DOWNLOAD:
			if (number("--max-download", optarg, 0, INT64_MAX, &v))
				return 2;
			o.fetch.max_bytes = (uint64_t)v;
			break;
		case OPT_MAX_REDIRECTS:
			if (number("--max-redirects", optarg, 0, BUNDLE_FETCH_MAX_REDIRECTS, &v))
				return 2;
			o.fetch.max_redirects = (long)v;
			break;
		case OPT_CONNECT_TIMEOUT:
			if (number("--connect-timeout", optarg, 1, 3600, &v))
				return 2;
			o.fetch.connect_timeout_s = (long)v;
			break;
		case OPT_LOW_SPEED_LIMIT:
			if (number("--low-speed-limit", optarg, 0, INT32_MAX, &v))
				return 2;
			o.fetch.low_speed_limit = (long)v;
			break;
		case OPT_LOW_SPEED_TIME:
			if (number("--low-speed-time", optarg, 1, 3600, &v))
				return 2;
			o.fetch.low_speed_time_s = (long)v;
			break;
		case OPT_TIMEOUT:
			if (number("--timeout", optarg, 0, 86400, &v))
				return 2;
			o.fetch.timeout_s = (long)v;
			break;
		case OPT_MAX_ENTRIES:
			if (number("--max-entries", optarg, 1, INT64_MAX, &v))
				return 2;
			o.unpack.max_entries = (uint64_t)v;
			break;
		case OPT_MAX_UNPACKED:
			if (number("--max-unpacked", optarg, 0, INT64_MAX, &v))
				return 2;
			o.unpack.max_total_bytes = (uint64_t)v;
			break;
		case OPT_MAX_RATIO:
			if (number("--max-ratio", optarg, 0, INT32_MAX, &v))
				return 2;
			o.unpack.max_ratio = (uint64_t)v;
			break;
		case OPT_HELP:
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !o.url || !o.dest_dir) {
		usage(stderr);
		return 2;
	}
	if (bundle_global_init()) {
		fprintf(stderr, "bundle_tool: set-up failed\n");
		return 1;
	}
	rc = bundle_prepare(&o, print_event, NULL, &res, err, sizeof(err));
	if (rc)
		result = json_pack("{s:s, s:b, s:s, s:s}", "type", "result", "ok", 0, "code",
				   rw_strerror(rc), "error", err);
	else
		result = json_pack("{s:s, s:b, s:b, s:I, s:I, s:I}", "type", "result", "ok", 1,
				   "cacheHit", res.cache_hit, "downloadBytes",
				   (json_int_t)res.download_bytes, "entries", (json_int_t)res.entries,
				   "bytes", (json_int_t)res.bytes);
	print_event(NULL, result);
	json_decref(result);
	return rc ? 1 : 0;
}
