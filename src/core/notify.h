/* notify.h: the service manager's notify protocol, without libsystemd. */
#ifndef DROVER_NOTIFY_H
#define DROVER_NOTIFY_H

#include <stdint.h>

int		 notify_send(const char *);
int		 notify_sendf(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
uint64_t	 notify_monotonic_usec(void);
uint64_t	 notify_watchdog_usec(void);
void		 notify_watchdog_handover(void);
void		 notify_forget(void);

#endif
