/* test_sandbox.c: agent/sandbox.c without running anything: the policy read from ASSIGN (each
 * limit at its cap and one past it), and the bwrap command line (namespaces, the order of
 * the mounts, the bundle read-only unless writable, the network, the argv cap).
 * tests/e2e/sandbox_matrix.sh runs the real thing.
 */
#include "agent/sandbox.h"
#include "common/rw.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int policy(const char *text, struct sandbox_policy *p)
{
	char err[256];
	json_t *j = json_loads(text, 0, NULL);
	int rc;

	sandbox_policy_init(p);
	rc = sandbox_policy_from_json(j, p, err, sizeof(err));
	json_decref(j);
	return rc;
}

/* Index of the first argv entry equal to `a` followed by `b` (b may be NULL), or -1. */
static int find(const struct sandbox *sb, const char *a, const char *b)
{
	for (int i = 0; sb->argv[i]; i++)
		if (!strcmp(sb->argv[i], a) && (!b || (sb->argv[i + 1] && !strcmp(sb->argv[i + 1], b))))
			return i;
	return -1;
}

static void test_policy(void)
{
	struct sandbox_policy p;
	char text[256];

	CHECK(policy("{}", &p) == 0);
	CHECK(p.network == SANDBOX_NET_OUTBOUND && p.processes == SANDBOX_DEFAULT_PROCESSES &&
	      p.memory == SANDBOX_DEFAULT_MEMORY && p.file_size == SANDBOX_DEFAULT_FILE_SIZE &&
	      !p.bundle_writable);
	CHECK(policy("{\"network\":\"none\",\"bundleWritable\":true,\"limits\":{\"processes\":64,"
		     "\"fileSizeMiB\":1,\"memoryMiB\":2,\"cpuSeconds\":5,\"openFiles\":9}}", &p) == 0);
	CHECK(p.network == SANDBOX_NET_NONE && p.bundle_writable && p.processes == 64 &&
	      p.file_size == (1u << 20) && p.memory == (2u << 20) && p.cpu_s == 5 &&
	      p.open_files == 9);
	CHECK(policy("{\"network\":\"host\"}", &p) == RW_EINVAL);
	CHECK(policy("{\"network\":1}", &p) == RW_EINVAL);
	CHECK(policy("{\"limits\":[]}", &p) == RW_EINVAL);
	CHECK(policy("[]", &p) == RW_EINVAL);
	CHECK(policy("{\"limits\":{\"processes\":0}}", &p) == RW_EINVAL);
	CHECK(policy("{\"limits\":{\"processes\":\"9\"}}", &p) == RW_EINVAL);
	/* each cap, and one past it */
	static const struct { const char *name; unsigned long long max; } caps[] = {
		{ "cpuSeconds", SANDBOX_MAX_CPU_S }, { "processes", SANDBOX_MAX_PROCESSES },
		{ "openFiles", SANDBOX_MAX_OPEN_FILES }, { "fileSizeMiB", SANDBOX_MAX_MIB },
		{ "memoryMiB", SANDBOX_MAX_MIB },
	};
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		snprintf(text, sizeof(text), "{\"limits\":{\"%s\":%llu}}", caps[i].name, caps[i].max);
		CHECK(policy(text, &p) == 0);
		snprintf(text, sizeof(text), "{\"limits\":{\"%s\":%llu}}", caps[i].name,
			 caps[i].max + 1);
		CHECK(policy(text, &p) == RW_EINVAL);
	}
}

static void test_argv(void)
{
	struct sandbox sb;
	struct sandbox_policy p;
	const char *cmd[] = { "/bin/sh", "-c", "echo hi", NULL };
	json_t *notes = NULL;
	char err[256];

	memset(&sb, 0, sizeof(sb));
	sandbox_policy_init(&p);
	p.processes = p.memory = 0;   /* no cgroups in a unit test */
	sb.ro_dirs[0] = "/srv/tools";
	sb.n_ro_dirs = 1;
	CHECK(sandbox_setup(&sb, "/bin/true", "unit", &p, &notes, err, sizeof(err)) == 0);
	CHECK(json_array_size(notes) == 0);
	json_decref(notes);
	CHECK(!strcmp(sb.bwrap, "/usr/bin/true") || !strcmp(sb.bwrap, "/bin/true"));

	CHECK(sandbox_argv(&sb, "/tmp/w/s1", "/tmp/w/s1/bundle", false, "/tmp/w/s1/bundle", cmd) == 0);
	CHECK(sb.argv[0] == sb.bwrap);
	for (const char *const *f = (const char *const[]){ "--unshare-user", "--unshare-pid",
		"--unshare-ipc", "--unshare-uts", "--disable-userns", "--die-with-parent", NULL }; *f; f++)
		CHECK(find(&sb, *f, NULL) > 0);
	CHECK(find(&sb, "--cap-drop", "ALL") > 0);
	CHECK(find(&sb, "--unshare-net", NULL) < 0);
	CHECK(find(&sb, "--ro-bind", "/usr") > 0);
	CHECK(find(&sb, "--ro-bind-try", "/etc/shadow") < 0);
	CHECK(find(&sb, "/home", NULL) < 0 && find(&sb, "/root", NULL) < 0);
	/* /tmp first, then the operator's directory, the work directory, the bundle on top, and
	 * the root read-only after every mount point exists */
	int tmp = find(&sb, "--tmpfs", "/tmp"), ro = find(&sb, "--ro-bind", "/srv/tools");
	int work = find(&sb, "--bind", "/tmp/w/s1"), bundle = find(&sb, "--ro-bind", "/tmp/w/s1/bundle");
	int root = find(&sb, "--remount-ro", "/"), dash = find(&sb, "--", NULL);
	CHECK(tmp > 0 && tmp < ro && ro < work && work < bundle && bundle < root && root < dash);
	CHECK(find(&sb, "--chdir", "/tmp/w/s1/bundle") > 0 && find(&sb, "--chdir", NULL) < dash);
	/* the program gets the terminal's signals back (bwrap ignores them), then the command */
	CHECK(!strcmp(sb.argv[dash + 1], "/usr/bin/env") &&
	      !strcmp(sb.argv[dash + 2], "--default-signal=INT,QUIT,TSTP"));
	CHECK(!strcmp(sb.argv[dash + 3], "/bin/sh") && !strcmp(sb.argv[dash + 5], "echo hi") &&
	      !sb.argv[dash + 6]);

	/* install (or bundleWritable): no read-only bundle; network none */
	sb.policy.network = SANDBOX_NET_NONE;
	CHECK(sandbox_argv(&sb, "/tmp/w/s1", "/tmp/w/s1/bundle", true, "/tmp/w/s1/bundle", cmd) == 0);
	CHECK(find(&sb, "--ro-bind", "/tmp/w/s1/bundle") < 0);
	CHECK(find(&sb, "--unshare-net", NULL) > 0);

	/* the argv cap: a command that does not fit is refused, one that fits is not */
	const char **big = calloc(SANDBOX_MAX_ARGS + 2, sizeof(char *));
	size_t fixed;
	CHECK(sandbox_argv(&sb, "/w", NULL, false, "/w", cmd) == 0);
	for (fixed = 0; sb.argv[fixed]; fixed++)
		;
	fixed -= 3;                       /* the three words of cmd */
	for (size_t i = 0; i < SANDBOX_MAX_ARGS - fixed; i++)
		big[i] = "x";
	CHECK(sandbox_argv(&sb, "/w", NULL, false, "/w", big) == 0);
	big[SANDBOX_MAX_ARGS - fixed] = "x";
	CHECK(sandbox_argv(&sb, "/w", NULL, false, "/w", big) == RW_ETOOBIG);
	free(big);

	/* a bwrap that is not there */
	json_t *n2 = NULL;
	struct sandbox sb2;
	memset(&sb2, 0, sizeof(sb2));
	CHECK(sandbox_setup(&sb2, "/nonexistent/bwrap", "unit", &p, &n2, err, sizeof(err)) ==
	      RW_ENOTFOUND);
	json_decref(n2);
	sandbox_release(&sb2);
	sandbox_release(&sb);
}

int main(void)
{
	test_policy();
	test_argv();
	return check_done("sandbox");
}
