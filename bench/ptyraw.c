/* ptyraw: the baseline of the stream benchmark (docs/benchmarks.md).
 *
 * Runs a command under a pty, reads the master as fast as it can and throws the bytes away: the
 * ceiling that runwire's pty -> agent -> control -> viewer path is measured against. When the
 * pty reports EIO (every holder of the slave has gone) it prints one JSON object on stdout,
 * {"bytes": N, "seconds": S, "mib_per_s": X}, and exits with the command's status.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PTYRAW_READ_BUF (64 * 1024)  /* bytes per read() of the master */
#define PTYRAW_ROWS 24               /* the pty's size, as a default terminal */
#define PTYRAW_COLS 80
#define PTYRAW_EXIT_SETUP 125        /* ptyraw itself failed (as env(1) and timeout(1)) */
#define PTYRAW_EXIT_EXEC 127         /* the command could not be run */

static double mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static unsigned char buf[PTYRAW_READ_BUF];
	struct winsize ws = { .ws_row = PTYRAW_ROWS, .ws_col = PTYRAW_COLS };
	int first = 1, master, status = 0, code, err_fd;
	uint64_t bytes = 0;
	double start, seconds;
	pid_t pid;

	if (argc > 1 && strcmp(argv[1], "--") == 0)
		first = 2;
	if (first >= argc) {
		fputs("usage: ptyraw -- COMMAND [ARGS...]\n"
		      "Runs COMMAND under a pty, discards its output and prints\n"
		      "{\"bytes\": N, \"seconds\": S, \"mib_per_s\": X}; exits with COMMAND's status.\n",
		      stderr);
		return 2;
	}

	/* The child's stderr is the pty; keep ours so an exec failure is seen, not discarded. */
	err_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	start = mono_seconds();
	pid = forkpty(&master, NULL, NULL, &ws);
	if (pid < 0) {
		fprintf(stderr, "ptyraw: forkpty: %s\n", strerror(errno));
		return PTYRAW_EXIT_SETUP;
	}
	if (pid == 0) {
		execvp(argv[first], argv + first);
		dprintf(err_fd >= 0 ? err_fd : STDERR_FILENO, "ptyraw: %s: %s\n", argv[first],
			strerror(errno));
		_exit(PTYRAW_EXIT_EXEC);
	}

	for (;;) {
		ssize_t n = read(master, buf, sizeof buf);
		if (n > 0) {
			bytes += (uint64_t)n;
		} else if (n == 0 || errno == EIO) {
			break;  /* EIO: the slave side is closed, all output has been read */
		} else if (errno != EINTR) {
			fprintf(stderr, "ptyraw: read: %s\n", strerror(errno));
			break;
		}
	}
	seconds = mono_seconds() - start;
	close(master);
	if (err_fd >= 0)
		close(err_fd);

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "ptyraw: waitpid: %s\n", strerror(errno));
			return PTYRAW_EXIT_SETUP;
		}
	}
	if (WIFEXITED(status))
		code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		code = 128 + WTERMSIG(status);
	else
		code = PTYRAW_EXIT_SETUP;

	/* Three numbers and fixed keys: nothing to escape, so printf is enough here. */
	printf("{\"bytes\": %llu, \"seconds\": %.6f, \"mib_per_s\": %.2f}\n",
	       (unsigned long long)bytes, seconds,
	       seconds > 0 ? (double)bytes / (1024.0 * 1024.0) / seconds : 0.0);
	fflush(stdout);
	return code;
}
