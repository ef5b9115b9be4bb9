/* http_date.h: IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"). */
#ifndef DROVER_HTTP_DATE_H
#define DROVER_HTTP_DATE_H

#include <stddef.h>
#include <time.h>

#define HTTP_DATE_LEN	29	/* without the NUL */

/* Format t into buf (at least HTTP_DATE_LEN + 1 bytes). */
void	 http_date_format(time_t, char *);
/* Parse IMF-fixdate (and the obsolete RFC 850 and asctime forms); -1 if
 * invalid. */
time_t	 http_date_parse(const char *, size_t);
/* The current time formatted, recomputed at most once per second. */
const char *http_date_now(void);

#endif
