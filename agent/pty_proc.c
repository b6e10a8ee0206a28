/* pty_proc.c: spawn a child under a pty (see pty_proc.h). */
#include "agent/pty_proc.h"
#include "agent/sandbox.h"
#include "common/rw.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* Words a shell reads the same with `exec` in front: what `exec` cannot run (builtins that
 * have no program of the same name, keywords) keeps the shell. */
static const char *const shell_builtins[] = {
	".", ":", "alias", "bg", "break", "case", "cd", "command", "continue", "do", "done",
	"elif", "else", "esac", "eval", "exec", "exit", "export", "fc", "fg", "fi", "for",
	"function", "getopts", "hash", "if", "in", "jobs", "local", "read", "readonly", "return",
	"select", "set", "shift", "source", "then", "time", "times", "trap", "type", "ulimit",
	"umask", "unalias", "unset", "until", "wait", "while",
};

#define PTY_PLAIN_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:,+@%="

/* 1 when `cmd` is one simple command: words of plain characters, '...' or "..." without
 * expansions, separated by blanks; the first word plain, no assignment, no builtin. */
static int is_simple_command(const char *cmd)
{
	const char *p = cmd;
	int words = 0;

	while (*p) {
		const char *start;
		int quoted = 0;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		start = p;
		while (*p && *p != ' ' && *p != '\t') {
			if (*p == '\'') {
				const char *end = strchr(p + 1, '\'');
				if (!end)
					return 0;
				p = end + 1;
				quoted = 1;
			} else if (*p == '"') {
				const char *end = strchr(p + 1, '"');
				if (!end || strcspn(p + 1, "$`\\!") < (size_t)(end - p - 1))
					return 0;
				p = end + 1;
				quoted = 1;
			} else if (strchr(PTY_PLAIN_CHARS, *p)) {
				p++;
			} else {
				return 0;
			}
		}
		if (!words++) {
			size_t len = (size_t)(p - start);

			/* "-x" would be an option of bash's exec (/bin/sh is not dash everywhere) */
			if (quoted || memchr(start, '=', len) || *start == '-')
				return 0;
			for (size_t i = 0; i < RW_ARRAY_LEN(shell_builtins); i++)
				if (strlen(shell_builtins[i]) == len &&
				    !memcmp(shell_builtins[i], start, len))
					return 0;
		}
	}
	return words > 0;
}

char *pty_proc_shell_line(const char *cmd)
{
	char *line;

	if (!is_simple_command(cmd))
		return strdup(cmd);
	line = malloc(strlen(cmd) + sizeof("exec "));
	if (line) {
		memcpy(line, "exec ", 5);
		memcpy(line + 5, cmd, strlen(cmd) + 1);
	}
	return line;
}

/* Searches `path` (the child's own PATH, not the agent's) like execvp, without allocating:
 * the agent may have other threads, so the child only uses async-signal-safe calls. */
static void exec_in_path(const char *const *argv, const char *const *envp, const char *path)
{
	char full[4096];
	int saved = ENOENT;

	if (strchr(argv[0], '/')) {
		execve(argv[0], (char *const *)argv, (char *const *)envp);
		return;
	}
	while (*path) {
		const char *colon = strchr(path, ':');
		size_t dlen = colon ? (size_t)(colon - path) : strlen(path);
		size_t alen = strlen(argv[0]);

		if (dlen + 1 + alen < sizeof(full)) {
			memcpy(full, dlen ? path : ".", dlen ? dlen : 1);
			size_t n = dlen ? dlen : 1;
			full[n] = '/';
			memcpy(full + n + 1, argv[0], alen + 1);
			execve(full, (char *const *)argv, (char *const *)envp);
			if (errno != ENOENT)
				saved = errno;
		}
		path += dlen;
		if (*path == ':')
			path++;
	}
	errno = saved;
}

/* Child side: runs between fork and exec, so it only calls async-signal-safe functions. */
static void child_exec(const struct pty_spawn_opts *o)
{
	sigset_t none;
	const char *path = NULL;
	char msg[256];

	/* Restore default dispositions the agent may have changed, and unblock everything. */
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	if (o->events_fd >= 0) {
		if (o->events_fd != o->events_fd_child) {
			dup2(o->events_fd, o->events_fd_child);
		} else {
			int fl = fcntl(o->events_fd, F_GETFD);
			fcntl(o->events_fd, F_SETFD, fl & ~FD_CLOEXEC);
		}
	}
	/* Nothing else of the agent's (its uplink socket, credential files) leaks through. */
	for (int fd = 3; fd < 1024; fd++)
		if (o->events_fd < 0 || fd != o->events_fd_child)
			close(fd);

	if (o->cwd && chdir(o->cwd) < 0) {
		int n = snprintf(msg, sizeof(msg), "runwire: cannot enter %s: %s\r\n", o->cwd,
				 strerror(errno));
		(void)!write(1, msg, (size_t)n);
		_exit(126);
	}
	if (o->sandbox) {
		if (sandbox_child_enter(o->sandbox) < 0) {
			int n = snprintf(msg, sizeof(msg), "runwire: cannot enter the sandbox: %s\r\n",
					 strerror(errno));
			(void)!write(1, msg, (size_t)n);
			_exit(126);
		}
		/* The keys of the terminal (Ctrl-C, Ctrl-\, Ctrl-Z) signal the whole foreground
		 * group, bwrap included: by default bwrap dies of them and takes the sandbox with
		 * it, so a program that handles Ctrl-C (Claude Code's "press Ctrl-C again") was
		 * ended by the first one. bwrap ignores them; the sandbox's command line resets
		 * them to the default before the program runs (sandbox_argv). */
		signal(SIGINT, SIG_IGN);
		signal(SIGQUIT, SIG_IGN);
		signal(SIGTSTP, SIG_IGN);
		execve(o->sandbox->bwrap, (char *const *)o->sandbox->argv, (char *const *)o->envp);
		int n = snprintf(msg, sizeof(msg), "runwire: cannot run %s: %s\r\n",
				 o->sandbox->bwrap, strerror(errno));
		(void)!write(1, msg, (size_t)n);
		_exit(127);
	}
	for (const char *const *e = o->envp; *e; e++)
		if (!strncmp(*e, "PATH=", 5))
			path = *e + 5;
	exec_in_path(o->argv, o->envp, path ? path : "/usr/bin:/bin");
	int n = snprintf(msg, sizeof(msg), "runwire: cannot run %s: %s\r\n", o->argv[0],
			 strerror(errno));
	(void)!write(1, msg, (size_t)n);
	_exit(127);
}

int pty_proc_spawn(struct pty_proc *p, const struct pty_spawn_opts *o, char *err, size_t errlen)
{
	struct winsize ws = { .ws_col = o->cols ? o->cols : 80, .ws_row = o->rows ? o->rows : 24 };
	int master;
	pid_t pid;

	memset(p, 0, sizeof(*p));
	p->master = -1;
	pid = forkpty(&master, NULL, NULL, &ws);
	if (pid < 0) {
		snprintf(err, errlen, "forkpty: %s", strerror(errno));
		return RW_EIO;
	}
	if (pid == 0)
		child_exec(o);

	if (fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK) < 0 ||
	    fcntl(master, F_SETFD, FD_CLOEXEC) < 0) {
		snprintf(err, errlen, "fcntl: %s", strerror(errno));
		kill(-pid, SIGKILL);
		close(master);
		waitpid(pid, NULL, 0);
		return RW_EIO;
	}
	p->pid = pid;
	p->master = master;
	p->spare_leader = o->sandbox != NULL;
	return RW_OK;
}

int pty_proc_resize(struct pty_proc *p, uint16_t cols, uint16_t rows)
{
	struct winsize ws = { .ws_col = cols, .ws_row = rows };

	if (p->master < 0)
		return RW_ESTATE;
	return ioctl(p->master, TIOCSWINSZ, &ws) < 0 ? RW_EIO : RW_OK;
}

/* Sends `signo` to every process of group `pgid` but its leader. bwrap, the leader of a
 * sandboxed session, dies of a SIGHUP or SIGTERM it has no handler for and takes the
 * sandbox down with it (--die-with-parent) before the program can answer; spared, it waits
 * for the program and exits with its status. (bwrap's pid 1 inside the sandbox ignores
 * signals it has no handler for.) A process forked while the list is read may miss it:
 * the SIGKILL after the grace period still reaches the whole group. */
static int signal_group_but_leader(pid_t pgid, int signo)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	if (!d)
		return kill(-pgid, signo);
	while ((e = readdir(d))) {
		char path[64], line[512];
		const char *close_paren;
		long long pid, pgrp;
		ssize_t n;
		int fd;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		pid = strtoll(e->d_name, NULL, 10);
		if (pid == pgid)
			continue;
		snprintf(path, sizeof(path), "/proc/%lld/stat", pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, line, sizeof(line) - 1);
		close(fd);
		if (n <= 0)
			continue;
		line[n] = '\0';
		/* "pid (comm) state ppid pgrp ...": comm may hold anything, so from the last ')' */
		close_paren = strrchr(line, ')');
		if (!close_paren || sscanf(close_paren + 1, " %*c %*d %lld", &pgrp) != 1)
			continue;
		if (pgrp == pgid)
			kill((pid_t)pid, signo);
	}
	closedir(d);
	return 0;
}

int pty_proc_signal(struct pty_proc *p, int signo)
{
	if (!p->pid)
		return RW_ESTATE;
	if (p->spare_leader && signo != SIGKILL && !p->exited)
		return signal_group_but_leader(p->pid, signo) < 0 ? RW_EIO : RW_OK;
	/* The group outlives its leader: grandchildren still get the signal after it exits. */
	if (kill(-p->pid, signo) < 0 && !(errno == ESRCH && p->exited))
		return errno == ESRCH ? RW_ESTATE : RW_EIO;
	return RW_OK;
}

int pty_proc_reap(struct pty_proc *p)
{
	pid_t r;

	if (p->exited)
		return 1;
	if (!p->pid)
		return 0;
	do
		r = waitpid(p->pid, &p->status, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == p->pid) {
		p->exited = 1;
		return 1;
	}
	return 0;
}

void pty_proc_exit_info(const struct pty_proc *p, int32_t *code, uint8_t *signo)
{
	if (WIFSIGNALED(p->status)) {
		*code = -1;
		*signo = (uint8_t)WTERMSIG(p->status);
	} else {
		*code = WEXITSTATUS(p->status);
		*signo = 0;
	}
}
