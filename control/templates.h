/* templates.h: what a session runs. Operators write templates (bundle, install, command,
 * environment) and the bundle policy (allowed hosts, ad-hoc bundles) in control's --config
 * file; a request names a template, an allowed ad-hoc bundle, or a plain command. See
 * docs/bundles.md for the format.
 */
#ifndef RW_TEMPLATES_H
#define RW_TEMPLATES_H

#include <jansson.h>

struct control;

#define TEMPLATE_MAX_PROMPT (16u << 10)    /* bytes of "prompt", given as CLAUDE_PROMPT */
#define TEMPLATE_MAX_SIGNERS 16
#define TEMPLATE_MAX_SECRETS 16            /* names in a template's "secrets" + "userSecrets" */
#define TEMPLATE_MAX_SECRET_BYTES (16u << 10) /* a session's secret values together (a file
						* or a request's each, and all of them): ASSIGN
						* must stay within PROTO_MAX_JSON with env */
#define TEMPLATE_MAX_LIMIT_MIB (1u << 20)  /* fileSizeMiB, memoryMiB: the agent's SANDBOX_MAX_MIB */            /* keys in "signers" (the agent's BUNDLE_MAX_SIGNERS) */

/* What a request resolves to. Every pointer is owned by the spec: release it. */
struct session_spec {
	char *command;
	json_t *env;          /* object of strings */
	json_t *bundle;       /* {"url","sha256"} or NULL; a template's "signers" ride along in
			       * it as "bundle.signers" (docs/protocol.md, ASSIGN) */
	char *install;        /* or NULL */
	int trusted;          /* from an operator's template: local paths allowed */
	char *template_name;  /* or NULL */
	json_t *sandbox;      /* {"network","limits"} from the template, or NULL (defaults) */
	json_t *secrets;      /* {"NAME": "value"} for the CLI's environment only, or NULL:
			       * read from the template's files and the request when resolved;
			       * never logged or shown; wiped by release (text_secrets_wipe) */
};

void session_spec_release(struct session_spec *sp);

/* Checks the config file's "templates" and "bundles" sections. 0, or RW_EINVAL with a
 * message naming the template and field. */
int templates_check(json_t *file, char *err, size_t errlen);

/* Resolves a POST /api/sessions body. Returns 0, or the HTTP status to answer (400, 403,
 * 404; 500 when a template's secret file cannot be read) with `err` set. `err` names a
 * secret but never holds its value. The request's "secrets" strings are wiped once copied. */
int templates_resolve(struct control *ctl, json_t *req, struct session_spec *out, char *err,
		      size_t errlen);

/* The fetch policy sent to agents in ASSIGN (new reference). */
json_t *templates_fetch_policy(struct control *ctl, int trusted);

/* [{"name","description"}] for GET /api/config (new reference). */
json_t *templates_list(struct control *ctl);

#endif
