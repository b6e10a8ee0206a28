/* pty_proc.h: one child process under a pseudo-terminal.
 *
 * The child gets a new session with the pty as its controlling terminal (so it is also the
 * leader of its own process group), a working directory, an environment built by the
 * caller (nothing is inherited) and, optionally, the write end of an events pipe as a
 * numbered fd. The master fd is non-blocking and close-on-exec; the agent's event loop
 * services it (DESIGN.md: one event loop per process).
 */
#ifndef RW_PTY_PROC_H
#define RW_PTY_PROC_H

#include <stdint.h>
#include <sys/types.h>

struct sandbox;

struct pty_spawn_opts {
	const char *const *argv;   /* argv[0] is the program (looked up in envp's PATH) */
	const char *const *envp;   /* complete environment of the child */
	const char *cwd;           /* working directory (must exist) */
	uint16_t cols, rows;       /* initial window size */
	int events_fd;             /* fd to pass to the child as `events_fd_child`, or -1 */
	int events_fd_child;       /* number the child sees it as (e.g. 3) */
	const struct sandbox *sandbox; /* NULL, or run sandbox->argv (bwrap, which runs argv
					* itself: the caller built it with sandbox_argv) after
					* sandbox_child_enter(); borrowed for the call */
};

struct pty_proc {
	pid_t pid;          /* child pid (== its process group id), 0 when none */
	int master;         /* pty master fd, -1 when closed */
	int exited;         /* 1 once reaped */
	int status;         /* waitpid status once exited */
	int spare_leader;   /* the leader is a wrapper of ours (bwrap): signals other than
			     * SIGKILL go to the rest of the group, so that the wrapper lives
			     * to report the program's own status */
};

/* The line to give `/bin/sh -c` for the command line `cmd`: "exec CMD" when `cmd` is one
 * simple command (plain or single-quoted words, no operators, redirections, expansions,
 * assignments or shell builtins), so that the program itself, not a shell waiting for it,
 * leads the group and meets the signals (a shell dies of a SIGHUP the program handles).
 * Otherwise a copy of `cmd`. Returns a new string (caller frees) or NULL without memory. */
char *pty_proc_shell_line(const char *cmd);

/* Spawns the child. 0 on success; RW_EIO with `err` set otherwise. A failure to exec in
 * the child is reported as exit status 127 with a message on the pty, as a shell would. */
int pty_proc_spawn(struct pty_proc *p, const struct pty_spawn_opts *o, char *err, size_t errlen);

/* Sets the window size (the kernel sends SIGWINCH to the foreground group). 0 or RW_EIO. */
int pty_proc_resize(struct pty_proc *p, uint16_t cols, uint16_t rows);

/* Sends `signo` to the child's whole process group (without the leader when it is a
 * wrapper, see spare_leader, unless the signal is SIGKILL or the leader has exited). 0 or
 * RW_EIO (RW_ESTATE when gone). */
int pty_proc_signal(struct pty_proc *p, int signo);

/* Reaps the child without blocking. Returns 1 when it has exited (status in p->status),
 * 0 when still running. */
int pty_proc_reap(struct pty_proc *p);

/* Exit code in the protocol's terms: *code is the exit status or -1, *signo the terminating
 * signal or 0. Only meaningful once exited. */
void pty_proc_exit_info(const struct pty_proc *p, int32_t *code, uint8_t *signo);

#endif
