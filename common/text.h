/* text.h: small text helpers shared by the agent, control and the client: shell quoting of
 * a command line, environment-variable names, and stage progress as people read it. */
#ifndef RW_TEXT_H
#define RW_TEXT_H

#include <stddef.h>

#include <jansson.h>

/* Joins argv into one /bin/sh command, single-quoting each word that needs it; one argument
 * is taken as a whole command. Returns a new string (caller frees), or NULL when out of
 * memory or longer than `max` bytes. */
char *text_shell_join(int argc, char *const *argv, size_t max);

/* True for a name a session may set: [A-Za-z_][A-Za-z0-9_]*, at most 128 bytes, not
 * RUNWIRE_* (those are the agent's). */
int text_env_name_ok(const char *name);

/* The progress part of a stage event as a person reads it: " 1.2/3.4 MiB" for fetch bytes,
 * " 812/1531 entries" or " 1531 entries" for unpack, "" when there is none. */
void text_stage_progress(json_t *event, char *out, size_t len);

/* Overwrites (sodium_memzero) the bytes of every string value of `obj`, an object of secrets,
 * then drops the caller's reference to it. jansson shares string objects by reference, so
 * every object holding the same values sees them wiped. NULL is fine. */
void text_secrets_wipe(json_t *obj);

#endif
