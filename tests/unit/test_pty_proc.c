/* test_pty_proc.c: agent/pty_proc.c's choice of "exec CMD" for `/bin/sh -c` (one simple
 * command, so that the program itself meets the signals), and that the choice changes what a
 * cancelled program is reported as: spawned under a pty, a program that handles SIGHUP and
 * exits 3 is reported as exiting 3. tests/e2e/cancel_sighup.sh runs it through control and
 * the sandbox.
 */
#include "agent/pty_proc.h"
#include "common/rw.h"
#include "check.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int becomes_exec(const char *cmd)
{
	char *line = pty_proc_shell_line(cmd);
	int is_exec = line && !strncmp(line, "exec ", 5) && !strcmp(line + 5, cmd);

	if (line && !is_exec && strcmp(line, cmd))
		fprintf(stderr, "unexpected line for %s: %s\n", cmd, line);
	free(line);
	return is_exec;
}

static void test_shell_line(void)
{
	CHECK(becomes_exec("node sample-cli.js run"));
	CHECK(becomes_exec("sleep 60"));
	CHECK(becomes_exec("./run.sh one two=2 --flag=x /a/b:c,d+e@f%g"));
	CHECK(becomes_exec("sh -c 'trap \"exit 3\" HUP; while :; do sleep 1; done'"));
	CHECK(becomes_exec("echo \"plain words\" 'and $these; too'"));
	CHECK(becomes_exec("  npm   ci  "));
	/* the shell stays: lists, pipes, redirections, expansions, assignments, builtins */
	CHECK(!becomes_exec("a; b"));
	CHECK(!becomes_exec("a && b"));
	CHECK(!becomes_exec("a | b"));
	CHECK(!becomes_exec("a &"));
	CHECK(!becomes_exec("a > out"));
	CHECK(!becomes_exec("a < in"));
	CHECK(!becomes_exec("(a)"));
	CHECK(!becomes_exec("echo $HOME"));
	CHECK(!becomes_exec("echo \"$HOME\""));
	CHECK(!becomes_exec("echo `id`"));
	CHECK(!becomes_exec("echo a\\ b"));
	CHECK(!becomes_exec("echo 'it'\\''s'"));
	CHECK(!becomes_exec("echo 'unclosed"));
	CHECK(!becomes_exec("a\nb"));
	CHECK(!becomes_exec("FOO=1 node x.js"));
	CHECK(!becomes_exec("cd /tmp"));
	CHECK(!becomes_exec("exit 3"));
	CHECK(!becomes_exec("while true"));
	CHECK(!becomes_exec("'node' x.js"));
	CHECK(!becomes_exec("-x y"));
	CHECK(!becomes_exec(""));
	CHECK(!becomes_exec("   "));
}

/* Reads the master until `want` shows up or 10 s pass. 1 when it did. */
static int wait_for_output(int master, const char *want)
{
	char buf[4096];
	size_t len = 0;

	for (int i = 0; i < 200; i++) {
		struct pollfd pfd = { .fd = master, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		n = read(master, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			return 0;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, want))
			return 1;
		if (len == sizeof(buf) - 1)
			len = 0;
	}
	return 0;
}

/* A program that handles SIGHUP and exits 3, spawned as a runner does, then hung up. */
static void test_sighup_status(void)
{
	const char *env[] = { "PATH=/usr/bin:/bin", NULL };
	char *line = pty_proc_shell_line("sh -c 'trap \"exit 3\" HUP; echo ready; "
					 "while :; do sleep 0.05; done'");
	const char *argv[] = { "/bin/sh", "-c", line, NULL };
	struct pty_spawn_opts o = { .argv = argv, .envp = env, .cwd = "/", .events_fd = -1 };
	struct pty_proc p;
	char err[256];
	int32_t code = 0;
	uint8_t signo = 0;

	CHECK(line != NULL);
	CHECK(pty_proc_spawn(&p, &o, err, sizeof(err)) == 0);
	CHECK(wait_for_output(p.master, "ready"));
	CHECK(pty_proc_signal(&p, SIGHUP) == 0);
	for (int i = 0; i < 1000 && !pty_proc_reap(&p); i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	CHECK(p.exited);
	pty_proc_exit_info(&p, &code, &signo);
	if (code != 3 || signo)
		fprintf(stderr, "reported code %d signal %d\n", (int)code, signo);
	CHECK(code == 3 && signo == 0);
	pty_proc_signal(&p, SIGKILL);
	close(p.master);
	free(line);
}

int main(void)
{
	test_shell_line();
	test_sighup_status();
	return check_done("test_pty_proc");
}
