/* sibling.h: a worker's hold on its siblings' listeners (see sibling.c). */
#ifndef DROVER_SIBLING_H
#define DROVER_SIBLING_H

struct chan_msg;
struct event_base;

void	 sibling_message(struct event_base *, const struct chan_msg *, int);
void	 sibling_close_all(void);

#endif
