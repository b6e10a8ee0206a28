/* sandbox.h: each session's CLI in a bubblewrap sandbox (DESIGN.md: "each session in a
 * bubblewrap sandbox" for local runners; docs/security.md, "The sandbox of local runners").
 *
 * The agent builds one bwrap command line per phase (install, run): new user, PID, IPC, UTS,
 * cgroup and mount namespaces, all capabilities dropped, no nested user namespaces,
 * --die-with-parent; a root of its own (read-only) holding a read-only system (/usr, the
 * merged-/usr links, a short list of /etc files), /proc of its own PID namespace, a minimal
 * /dev, a private /tmp, the session's work directory read-write and, for the run phase, the
 * bundle read-only on top of it. Nothing else of the machine is there: not control's data
 * directory, other sessions, the bundle cache, nor the agent (another PID namespace). Network:
 * the machine's ("outbound", the default) or none (--unshare-net: loopback only).
 *
 * Limits: rlimits (CPU time, open files, file size, and processes, which the kernel applies
 * to the uid) set in the child before bwrap runs, and a pids and a memory cgroup per session
 * where the agent can create one (cgroup v1 or v2); what could not be applied is returned as
 * notes for the log. pty_proc runs the child: sandbox_child_enter() between fork and exec.
 */
#ifndef RW_SANDBOX_H
#define RW_SANDBOX_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#define SANDBOX_DEFAULT_CPU_S 3600                 /* CPU seconds per process */
#define SANDBOX_DEFAULT_PROCESSES 512              /* tasks in the session (pids cgroup) */
#define SANDBOX_DEFAULT_OPEN_FILES 4096            /* fds per process */
#define SANDBOX_DEFAULT_FILE_SIZE (1ULL << 30)     /* bytes of one file */
#define SANDBOX_DEFAULT_MEMORY (4ULL << 30)        /* bytes of the session (memory cgroup) */
#define SANDBOX_MAX_CPU_S (7 * 86400)              /* the highest a template may ask */
#define SANDBOX_MAX_PROCESSES 65536
#define SANDBOX_MAX_OPEN_FILES 65536
#define SANDBOX_MAX_MIB (1ULL << 20)               /* fileSizeMiB, memoryMiB: 1 TiB */
#define SANDBOX_MAX_ARGS 160                       /* bwrap's argv, command included */
#define SANDBOX_NAME_MAX 96                        /* the session's cgroup name */
#define SANDBOX_MAX_RO_DIRS 16                     /* --sandbox-ro directories */

enum sandbox_network {
	SANDBOX_NET_OUTBOUND = 0,  /* the machine's network: Claude, npm */
	SANDBOX_NET_NONE,          /* a network namespace of its own: loopback only */
};

struct sandbox_policy {
	enum sandbox_network network;
	uint64_t cpu_s, processes, open_files, file_size, memory;   /* 0: not limited */
	bool bundle_writable;      /* the command may write into its bundle (the session's own
				    * copy); by default only install may */
};

struct sandbox {
	char bwrap[PATH_MAX];          /* absolute path of bwrap */
	char cg_pids[PATH_MAX];        /* the session's cgroups, "" when none was made */
	char cg_mem[PATH_MAX];
	char cg_procs[2][PATH_MAX + 16];    /* their cgroup.procs, joined by the child ("" = none) */
	struct sandbox_policy policy;
	uid_t uid;                     /* --run-as: the child's uid and gid, when run_as */
	gid_t gid;
	bool run_as;
	const char *ro_dirs[SANDBOX_MAX_RO_DIRS];  /* operator's extra read-only directories
						    * (--sandbox-ro), bound below the work
						    * directory; borrowed */
	size_t n_ro_dirs;
	/* the argv of the next spawn, built by sandbox_argv (pointers into strs) */
	const char *argv[SANDBOX_MAX_ARGS + 1];
	char *strs;                    /* owned */
};

/* The defaults above, network outbound. */
void sandbox_policy_init(struct sandbox_policy *p);

/* Reads ASSIGN's "sandbox" object ({"network": "outbound"|"none", "bundleWritable": bool,
 * "limits": {"cpuSeconds",
 * "processes", "openFiles", "fileSizeMiB", "memoryMiB"}}; NULL: defaults) over `p`.
 * Unknown limit names are ignored (control checks the template). 0 or RW_EINVAL. */
int sandbox_policy_from_json(json_t *j, struct sandbox_policy *p, char *err, size_t errlen);

/* Finds `bwrap` (a path, or a name looked up in PATH) and writes its absolute path. 0 or
 * RW_ENOTFOUND. */
int sandbox_find_bwrap(const char *bwrap, char *out, size_t outlen);

/* Prepares the session's sandbox: bwrap's path, the policy, and the cgroups named `name`
 * beside the agent's own (pids.max, memory limit). `*notes` becomes a new array of strings
 * saying what could not be applied (empty when everything was). 0 or RW_E with `err`. */
int sandbox_setup(struct sandbox *sb, const char *bwrap, const char *name,
		  const struct sandbox_policy *p, json_t **notes, char *err, size_t errlen);

/* Builds the argv for one phase into sb->argv: bwrap, its options, then `cmd`
 * (NULL-terminated). `work_dir` is bound read-write at its own path; `bundle_dir` (may be
 * NULL) read-only on top of it unless `bundle_writable` (the install phase prepares the tree);
 * `cwd` is the command's working directory. 0 or RW_ETOOBIG / RW_ENOMEM. */
int sandbox_argv(struct sandbox *sb, const char *work_dir, const char *bundle_dir,
		 bool bundle_writable, const char *cwd, const char *const *cmd);

/* In the child between fork and exec (async-signal-safe only): joins the cgroups, sets the
 * rlimits, and drops to the --run-as uid. Returns 0 or -1 with errno set. */
int sandbox_child_enter(const struct sandbox *sb);

/* Removes the session's cgroups (after its processes are gone) and frees the argv. */
void sandbox_release(struct sandbox *sb);

#endif
