/* log.h: the one logging API of drover (stderr, syslog or a file). */
#ifndef DROVER_LOG_H
#define DROVER_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_NOTICE,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Where log lines go. */
enum log_dest {
	LOG_DEST_STDERR = 0,
	LOG_DEST_SYSLOG,
	LOG_DEST_FILE,
};

int		 log_level_parse(const char *, enum log_level *);
void		 log_init(const char *, enum log_level);
void		 log_set_role(const char *);
void		 log_set_level(enum log_level);
int		 log_wants(enum log_level);
int		 log_open(const char *, char *, size_t);
int		 log_reopen(char *, size_t);
void		 log_set_fd(int);
int		 log_get_fd(void);
const char	*log_target(void);
void		 log_also_stderr(int);
void		 log_close(void);
void		 log_output(int, const char *, long, const char *, size_t);

void		 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void		 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void		 log_notice(const char *, ...) __attribute__((format(printf, 1, 2)));
void		 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void		 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void		 fatal(const char *, ...)
		     __attribute__((format(printf, 1, 2), noreturn));
void		 fatalx(const char *, ...)
		     __attribute__((format(printf, 1, 2), noreturn));
void		 log_vmsg(enum log_level, int, const char *, va_list)
		     __attribute__((format(printf, 3, 0)));

#endif
