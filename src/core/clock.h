/* clock.h: the monotonic clock in milliseconds, for timers and the log. */
#ifndef DROVER_CLOCK_H
#define DROVER_CLOCK_H

#include <stdint.h>
#include <time.h>

int64_t	 clock_now_ms(void);
int64_t	 clock_ms_since(const struct timespec *);

#endif
