/* sandbox.c: the bwrap command line, the session's cgroups and rlimits (see sandbox.h). */
#include "agent/sandbox.h"

#define SANDBOX_ENV_BIN "/usr/bin/env"   /* coreutils: --default-signal (8.31 and later) */
#include "common/rw.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define SANDBOX_CGROUP_ROOT "/sys/fs/cgroup"
#define SANDBOX_CGROUP_LINE 4096     /* bytes of one line of /proc/self/cgroup */
#define SANDBOX_LINK_SLOTS 8         /* merged-/usr links (/bin, /lib, ...) read per spawn */

/* The system the CLI sees, read-only. /usr holds the programs; the merged-/usr links and
 * these /etc entries are what programs need to start, resolve names and check TLS. Nothing
 * else of /etc (no shadow, no ssh host keys, no machine secrets). */
static const char *const system_links[] = { "/bin", "/sbin", "/lib", "/lib32", "/lib64",
					    "/libx32" };
static const char *const etc_entries[] = {
	"/etc/passwd", "/etc/group", "/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf",
	"/etc/host.conf", "/etc/gai.conf", "/etc/services", "/etc/protocols", "/etc/ld.so.cache",
	"/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/ssl", "/etc/ca-certificates",
	"/etc/alternatives", "/etc/localtime", "/etc/timezone", "/etc/mime.types",
	"/etc/os-release", "/etc/debian_version", "/etc/terminfo", "/etc/inputrc",
};

void sandbox_policy_init(struct sandbox_policy *p)
{
	p->network = SANDBOX_NET_OUTBOUND;
	p->cpu_s = SANDBOX_DEFAULT_CPU_S;
	p->processes = SANDBOX_DEFAULT_PROCESSES;
	p->open_files = SANDBOX_DEFAULT_OPEN_FILES;
	p->file_size = SANDBOX_DEFAULT_FILE_SIZE;
	p->memory = SANDBOX_DEFAULT_MEMORY;
}

/* One positive integer limit in [1, max], times `unit`. */
static int limit_get(json_t *limits, const char *key, uint64_t max, uint64_t unit, uint64_t *out,
		     char *err, size_t errlen)
{
	json_t *v = json_object_get(limits, key);

	if (!v)
		return RW_OK;
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    (uint64_t)json_integer_value(v) > max) {
		snprintf(err, errlen, "sandbox: \"limits.%s\" must be an integer in 1..%llu", key,
			 (unsigned long long)max);
		return RW_EINVAL;
	}
	*out = (uint64_t)json_integer_value(v) * unit;
	return RW_OK;
}

int sandbox_policy_from_json(json_t *j, struct sandbox_policy *p, char *err, size_t errlen)
{
	json_t *limits = json_object_get(j, "limits");
	const char *net = json_string_value(json_object_get(j, "network"));

	if (!j)
		return RW_OK;
	if (!json_is_object(j) || (limits && !json_is_object(limits))) {
		snprintf(err, errlen, "sandbox: must be {\"network\", \"limits\": {...}}");
		return RW_EINVAL;
	}
	if (json_object_get(j, "network")) {
		if (net && !strcmp(net, "outbound")) {
			p->network = SANDBOX_NET_OUTBOUND;
		} else if (net && !strcmp(net, "none")) {
			p->network = SANDBOX_NET_NONE;
		} else {
			snprintf(err, errlen, "sandbox: \"network\" must be \"outbound\" or \"none\"");
			return RW_EINVAL;
		}
	}
	p->bundle_writable = json_is_true(json_object_get(j, "bundleWritable"));
	if (limit_get(limits, "cpuSeconds", SANDBOX_MAX_CPU_S, 1, &p->cpu_s, err, errlen) ||
	    limit_get(limits, "processes", SANDBOX_MAX_PROCESSES, 1, &p->processes, err, errlen) ||
	    limit_get(limits, "openFiles", SANDBOX_MAX_OPEN_FILES, 1, &p->open_files, err, errlen) ||
	    limit_get(limits, "fileSizeMiB", SANDBOX_MAX_MIB, 1ULL << 20, &p->file_size, err,
		      errlen) ||
	    limit_get(limits, "memoryMiB", SANDBOX_MAX_MIB, 1ULL << 20, &p->memory, err, errlen))
		return RW_EINVAL;
	return RW_OK;
}

int sandbox_find_bwrap(const char *bwrap, char *out, size_t outlen)
{
	const char *path = getenv("PATH");
	char full[PATH_MAX];

	if (!bwrap || !*bwrap)
		bwrap = "bwrap";
	if (strchr(bwrap, '/')) {
		if (access(bwrap, X_OK) || !realpath(bwrap, full))
			return RW_ENOTFOUND;
		snprintf(out, outlen, "%s", full);
		return RW_OK;
	}
	if (!path || !*path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		if (n && snprintf(full, sizeof(full), "%.*s/%s", (int)n, path, bwrap) <
			     (int)sizeof(full) && !access(full, X_OK) &&
		    (size_t)snprintf(out, outlen, "%s", full) < outlen)
			return RW_OK;
		path += n;
		if (*path)
			path++;
	}
	return RW_ENOTFOUND;
}

/* ---- cgroups ---- */

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = rw_write_all(fd, s, strlen(s)) ? -1 : 0;
	if (close(fd) < 0)
		rc = -1;
	return rc;
}

static bool has_word(const char *list, const char *word, const char *seps)
{
	size_t wl = strlen(word);

	for (const char *p = list; *p;) {
		size_t n = strcspn(p, seps);

		if (n == wl && !strncmp(p, word, wl))
			return true;
		p += n;
		p += strspn(p, seps);
	}
	return false;
}

/* Makes `dir` (a new cgroup) and writes `value` into its `file`. 0, or -1 (nothing left). */
static int cgroup_make(const char *dir, const char *file, const char *value)
{
	char path[PATH_MAX];

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -1;
	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path) ||
	    write_str(path, value)) {
		rmdir(dir);
		return -1;
	}
	return 0;
}

/* The session's cgroup for one controller ("pids" or "memory"): v1 hierarchies first, then
 * the v2 one when its parent delegates the controller. Fills `dir` or leaves it "". */
static void cgroup_for(const char *ctrl, const char *name, uint64_t value, char *dir,
		       size_t dirlen)
{
	char line[SANDBOX_CGROUP_LINE], v2path[PATH_MAX] = "", num[32], base[PATH_MAX];
	char file[PATH_MAX], ctrls[256];
	bool v2 = false;
	FILE *f = fopen("/proc/self/cgroup", "re");

	dir[0] = '\0';
	if (!f)
		return;
	snprintf(num, sizeof(num), "%llu", (unsigned long long)value);
	while (fgets(line, sizeof(line), f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		char *path = c2 ? c2 + 1 : NULL;

		if (!path)
			continue;
		path[strcspn(path, "\n")] = '\0';
		*c2 = '\0';
		if (!c1[1]) {          /* "0::/path": the v2 hierarchy */
			v2 = true;
			snprintf(v2path, sizeof(v2path), "%s", path);
			continue;
		}
		if (!has_word(c1 + 1, ctrl, ","))
			continue;
		snprintf(ctrls, sizeof(ctrls), "%s", c1 + 1);
		/* mounted as /sys/fs/cgroup/<controllers> (or the controller's own name) */
		for (int i = 0; i < 2 && !dir[0]; i++) {
			if ((size_t)snprintf(base, sizeof(base), "%s/%s%s/%s", SANDBOX_CGROUP_ROOT,
					     i ? ctrl : ctrls, strcmp(path, "/") ? path : "",
					     name) >= sizeof(base))
				continue;
			if (!cgroup_make(base, !strcmp(ctrl, "pids") ? "pids.max" :
					 "memory.limit_in_bytes", num))
				snprintf(dir, dirlen, "%s", base);
		}
	}
	fclose(f);
	if (dir[0] || !v2)
		return;
	for (int i = 0; i < 2 && !dir[0]; i++) {
		const char *root = i ? SANDBOX_CGROUP_ROOT : SANDBOX_CGROUP_ROOT "/unified";
		char sub[256] = "";
		int fd;
		ssize_t n;

		if ((size_t)snprintf(file, sizeof(file), "%s%s/cgroup.subtree_control", root,
				     strcmp(v2path, "/") ? v2path : "") >= sizeof(file))
			continue;
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, sub, sizeof(sub) - 1);
		close(fd);
		if (n <= 0)
			continue;
		sub[n] = '\0';
		if (!has_word(sub, ctrl, " \n"))
			continue;
		if ((size_t)snprintf(base, sizeof(base), "%s%s/%s", root,
				     strcmp(v2path, "/") ? v2path : "", name) >= sizeof(base))
			continue;
		if (!cgroup_make(base, !strcmp(ctrl, "pids") ? "pids.max" : "memory.max", num))
			snprintf(dir, dirlen, "%s", base);
	}
}

/* Ends what is left in a cgroup, then removes it. */
static void cgroup_remove(const char *dir)
{
	char path[PATH_MAX], buf[4096];
	int fd;
	ssize_t n;

	if (!dir[0])
		return;
	for (int attempt = 0; attempt < 3; attempt++) {
		if (!rmdir(dir) || errno == ENOENT)
			return;
		if (snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >= (int)sizeof(path))
			return;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0) {
			usleep(10000);
			continue;
		}
		buf[n] = '\0';
		for (char *p = buf; *p;) {
			long pid = strtol(p, &p, 10);

			if (pid > 0)
				kill((pid_t)pid, SIGKILL);
			while (*p == '\n')
				p++;
		}
		usleep(10000);
	}
	rmdir(dir);
}

int sandbox_setup(struct sandbox *sb, const char *bwrap, const char *name,
		  const struct sandbox_policy *p, json_t **notes, char *err, size_t errlen)
{
	char cg[SANDBOX_NAME_MAX + 16];

	*notes = json_array();
	sb->policy = *p;
	if (sandbox_find_bwrap(bwrap, sb->bwrap, sizeof(sb->bwrap))) {
		snprintf(err, errlen, "bubblewrap (%s) not found", bwrap ? bwrap : "bwrap");
		return RW_ENOTFOUND;
	}
	snprintf(cg, sizeof(cg), "runwire-%.*s", SANDBOX_NAME_MAX, name);
	if (p->processes) {
		cgroup_for("pids", cg, p->processes, sb->cg_pids, sizeof(sb->cg_pids));
		if (!sb->cg_pids[0])
			json_array_append_new(*notes, json_string(
				sb->run_as ? "processes: no writable pids cgroup; RLIMIT_NPROC counts "
					     "every process of the --run-as user instead"
					   : "processes: no writable pids cgroup, not limited"));
	}
	if (p->memory) {
		cgroup_for("memory", cg, p->memory, sb->cg_mem, sizeof(sb->cg_mem));
		if (!sb->cg_mem[0])
			json_array_append_new(*notes, json_string(
				"memory: no writable memory cgroup, not limited"));
	}
	snprintf(sb->cg_procs[0], sizeof(sb->cg_procs[0]), "%s%s", sb->cg_pids,
		 sb->cg_pids[0] ? "/cgroup.procs" : "");
	snprintf(sb->cg_procs[1], sizeof(sb->cg_procs[1]), "%s%s", sb->cg_mem,
		 sb->cg_mem[0] ? "/cgroup.procs" : "");
	return RW_OK;
}

/* ---- the command line ---- */

struct argv_builder {
	struct sandbox *sb;
	size_t n;
	bool full;
};

static void add(struct argv_builder *b, const char *s)
{
	if (b->n >= SANDBOX_MAX_ARGS) {
		b->full = true;
		return;
	}
	b->sb->argv[b->n++] = s;
}

static void add3(struct argv_builder *b, const char *a, const char *c, const char *d)
{
	add(b, a);
	add(b, c);
	if (d)
		add(b, d);
}

int sandbox_argv(struct sandbox *sb, const char *work_dir, const char *bundle_dir,
		 bool bundle_writable, const char *cwd, const char *const *cmd)
{
	struct argv_builder b = { .sb = sb };
	struct stat st;
	size_t slot = 0;

	free(sb->strs);
	sb->strs = calloc(SANDBOX_LINK_SLOTS, PATH_MAX);
	if (!sb->strs)
		return RW_ENOMEM;
	add(&b, sb->bwrap);
	/* namespaces and privileges */
	add(&b, "--unshare-user");
	add(&b, "--unshare-pid");
	add(&b, "--unshare-ipc");
	add(&b, "--unshare-uts");
	add(&b, "--unshare-cgroup-try");
	if (sb->policy.network == SANDBOX_NET_NONE)
		add(&b, "--unshare-net");
	add(&b, "--disable-userns");
	add3(&b, "--cap-drop", "ALL", NULL);
	add(&b, "--die-with-parent");
	add3(&b, "--hostname", "runwire", NULL);
	/* the filesystem: the order matters, each mount lands on top of the ones before */
	add3(&b, "--ro-bind", "/usr", "/usr");
	for (size_t i = 0; i < RW_ARRAY_LEN(system_links); i++) {
		const char *p = system_links[i];

		if (lstat(p, &st) < 0)
			continue;
		if (S_ISLNK(st.st_mode) && slot < SANDBOX_LINK_SLOTS) {
			char *target = sb->strs + slot * PATH_MAX;
			ssize_t n = readlink(p, target, PATH_MAX - 1);

			if (n <= 0)
				continue;
			target[n] = '\0';
			slot++;
			add3(&b, "--symlink", target, p);
		} else if (S_ISDIR(st.st_mode)) {
			add3(&b, "--ro-bind", p, p);
		}
	}
	for (size_t i = 0; i < RW_ARRAY_LEN(etc_entries); i++)
		add3(&b, "--ro-bind-try", etc_entries[i], etc_entries[i]);
	add3(&b, "--proc", "/proc", NULL);
	add3(&b, "--dev", "/dev", NULL);
	add3(&b, "--tmpfs", "/tmp", NULL);
	add3(&b, "--tmpfs", "/var/tmp", NULL);
	for (size_t i = 0; i < sb->n_ro_dirs; i++)
		add3(&b, "--ro-bind", sb->ro_dirs[i], sb->ro_dirs[i]);
	add3(&b, "--bind", work_dir, work_dir);
	if (bundle_dir && !bundle_writable)
		add3(&b, "--ro-bind", bundle_dir, bundle_dir);
	/* the root itself (bwrap's tmpfs with the mount points) stays read-only */
	add3(&b, "--remount-ro", "/", NULL);
	add3(&b, "--chdir", cwd, NULL);
	add(&b, "--");
	/* bwrap runs with the terminal's signals ignored (pty_proc.c): the program gets them
	 * back at their default (coreutils' env resets dispositions a shell cannot) */
	add(&b, SANDBOX_ENV_BIN);
	add(&b, "--default-signal=INT,QUIT,TSTP");
	for (const char *const *c = cmd; *c; c++)
		add(&b, *c);
	if (b.full)
		return RW_ETOOBIG;
	sb->argv[b.n] = NULL;
	return RW_OK;
}

/* ---- in the child ---- */

static int set_limit(int resource, uint64_t value)
{
	struct rlimit rl = { .rlim_cur = (rlim_t)value, .rlim_max = (rlim_t)value };

	return value ? setrlimit(resource, &rl) : 0;
}

int sandbox_child_enter(const struct sandbox *sb)
{
	/* "0" names the writing process itself in cgroup.procs (v1 and v2) */
	for (int i = 0; i < 2; i++)
		if (sb->cg_procs[i][0] && write_str(sb->cg_procs[i], "0"))
			return -1;
	if (set_limit(RLIMIT_CPU, sb->policy.cpu_s) ||
	    set_limit(RLIMIT_NOFILE, sb->policy.open_files) ||
	    set_limit(RLIMIT_FSIZE, sb->policy.file_size))
		return -1;
	if (sb->run_as) {
		/* a dedicated uid: RLIMIT_NPROC then bounds its processes too */
		if (set_limit(RLIMIT_NPROC, sb->policy.processes) || setgroups(0, NULL) ||
		    setgid(sb->gid) || setuid(sb->uid))
			return -1;
		if (!setuid(0))    /* there is no way back */
			return -1;
	}
	return 0;
}

void sandbox_release(struct sandbox *sb)
{
	cgroup_remove(sb->cg_pids);
	cgroup_remove(sb->cg_mem);
	sb->cg_pids[0] = sb->cg_mem[0] = '\0';
	sb->cg_procs[0][0] = sb->cg_procs[1][0] = '\0';
	free(sb->strs);
	sb->strs = NULL;
}
