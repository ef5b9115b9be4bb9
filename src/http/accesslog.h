/* accesslog.h: buffered, O_APPEND access log of an http server (per worker). */
#ifndef DROVER_ACCESSLOG_H
#define DROVER_ACCESSLOG_H

#include <stddef.h>

struct accesslog;

struct accesslog	*accesslog_new(int);
void			 accesslog_free(struct accesslog *);
void			 accesslog_set_fd(struct accesslog *, int);
char			*accesslog_reserve(struct accesslog *, size_t);
void			 accesslog_commit(struct accesslog *, size_t);
void			 accesslog_flush(struct accesslog *);

#endif
