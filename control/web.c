/* web.c: serves the browser page's static files (see web.h). */
#include "control/web.h"
#include "control/control.h"

int web_get(struct control *ctl, const char *path, char **body, size_t *len, const char **ctype)
{
	return 0;
}
