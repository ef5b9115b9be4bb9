/*
 * check_poller.c: the nested epoll instance and its readiness flags, on
 * real socket pairs in a real libevent loop.
 */
#include "autoconf.h"

#include <sys/socket.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "checklib.h"
#include "event/poller.h"

struct titem {
	struct poller_item	 pi;		/* first: the callback casts */
	int			 sv[2];		/* sv[0] is the item's */
	int			 calls;
	int			 repost;	/* post itself again */
	struct titem		*victim;	/* forget and close it */
};

static struct event_base	*base;
static struct poller		*p;
static struct titem		 a, b;

static void
item_cb(struct poller_item *it, void *arg)
{
	struct titem	*t = (struct titem *)(void *)it;

	ck_assert_ptr_eq(arg, &a);	/* the poller's argument */
	t->calls++;
	if (t->victim != NULL && t->victim->sv[0] != -1) {
		poller_forget(p, &t->victim->pi);
		close(t->victim->sv[0]);
		t->victim->sv[0] = -1;
	}
	if (t->repost)
		poller_post(p, it);
}

static void
titem_open(struct titem *t)
{
	memset(t, 0, sizeof(*t));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    t->sv), 0);
	poller_item_init(&t->pi, t->sv[0]);
}

static void
titem_close(struct titem *t)
{
	if (t->sv[0] != -1) {
		poller_forget(p, &t->pi);
		close(t->sv[0]);
	}
	close(t->sv[1]);
}

/* One turn of the loop, without waiting. */
static void
turn(void)
{
	ck_assert_int_ne(event_base_loop(base, EVLOOP_NONBLOCK), -1);
}

static void
setup(void)
{
	ck_assert_ptr_nonnull(base = event_base_new());
	ck_assert_ptr_nonnull(p = poller_new(base, item_cb, &a));
	titem_open(&a);
	titem_open(&b);
}

static void
teardown(void)
{
	titem_close(&a);
	titem_close(&b);
	poller_free(p);
	event_base_free(base);
}

static void
drain(int fd)
{
	char	 buf[65536];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

START_TEST(test_read_edge)
{
	poller_want_read(p, &a.pi);
	ck_assert(a.pi.added);
	turn();
	ck_assert_int_eq(a.calls, 0);		/* nothing to read */
	ck_assert_int_eq(write(a.sv[1], "x", 1), 1);
	turn();
	ck_assert_int_eq(a.calls, 1);
	ck_assert(a.pi.rready);
	ck_assert(!a.pi.rdhup);
	turn();
	ck_assert_int_eq(a.calls, 1);		/* an edge comes once */
}
END_TEST

/* Input seen while the owner did not want it is not lost: wanting it
 * later runs the item without a new edge. */
START_TEST(test_known_input_is_posted)
{
	poller_want_read(p, &a.pi);
	ck_assert_int_eq(write(a.sv[1], "x", 1), 1);
	turn();
	ck_assert_int_eq(a.calls, 1);
	poller_want_read(p, &a.pi);
	ck_assert(a.pi.posted);
	turn();
	ck_assert_int_eq(a.calls, 2);
	ck_assert(!a.pi.posted);
	/* Read until empty, as the owner does, and the item rests. */
	drain(a.sv[0]);
	a.pi.rready = 0;
	poller_want_read(p, &a.pi);
	turn();
	ck_assert_int_eq(a.calls, 2);
	ck_assert_int_eq(write(a.sv[1], "y", 1), 1);
	turn();
	ck_assert_int_eq(a.calls, 3);
}
END_TEST

START_TEST(test_write_waits_for_room)
{
	char	 buf[4096];

	memset(buf, 'z', sizeof(buf));
	poller_want_read(p, &a.pi);
	ck_assert(!a.pi.out);
	while (write(a.sv[0], buf, sizeof(buf)) > 0)
		;
	ck_assert_int_eq(errno, EAGAIN);
	a.pi.wready = 0;
	poller_want_write(p, &a.pi);
	ck_assert(a.pi.out);
	turn();
	ck_assert_int_eq(a.calls, 0);		/* no room yet */
	drain(a.sv[1]);
	turn();
	ck_assert_int_eq(a.calls, 1);
	ck_assert(a.pi.wready);
}
END_TEST

START_TEST(test_peer_fin)
{
	poller_want_read(p, &a.pi);
	ck_assert_int_eq(shutdown(a.sv[1], SHUT_WR), 0);
	turn();
	ck_assert_int_eq(a.calls, 1);
	ck_assert(a.pi.rready);
	ck_assert(a.pi.rdhup);
}
END_TEST

START_TEST(test_forget_unposts)
{
	poller_post(p, &a.pi);
	poller_post(p, &a.pi);			/* once only */
	poller_post(p, &b.pi);
	poller_forget(p, &a.pi);
	turn();
	ck_assert_int_eq(a.calls, 0);
	ck_assert_int_eq(b.calls, 1);
}
END_TEST

/* An item closed while a batch runs gets none of its edges in it. */
START_TEST(test_forget_within_a_batch)
{
	poller_want_read(p, &a.pi);
	poller_want_read(p, &b.pi);
	a.victim = &b;
	b.victim = &a;
	ck_assert_int_eq(write(a.sv[1], "x", 1), 1);
	ck_assert_int_eq(write(b.sv[1], "x", 1), 1);
	turn();
	ck_assert_int_eq(a.calls + b.calls, 1);
}
END_TEST

/* Closing the descriptor takes it out of the set: no epoll_ctl(DEL). */
START_TEST(test_close_leaves_the_set)
{
	poller_want_read(p, &a.pi);
	poller_forget(p, &a.pi);
	close(a.sv[0]);
	a.sv[0] = -1;
	ck_assert_int_eq(shutdown(a.sv[1], SHUT_RDWR), 0);
	turn();
	ck_assert_int_eq(a.calls, 0);
}
END_TEST

/* What is posted while the posted run goes waits for the next turn of
 * the loop, so an item that always has more to do cannot hold it. */
START_TEST(test_repost_waits_a_turn)
{
	a.repost = 1;
	poller_post(p, &a.pi);
	ck_assert_int_ne(event_base_loop(base, EVLOOP_ONCE |
	    EVLOOP_NONBLOCK), -1);
	ck_assert_int_eq(a.calls, 1);
	ck_assert(a.pi.posted);
	a.repost = 0;
	turn();
	ck_assert_int_eq(a.calls, 2);
	ck_assert(!a.pi.posted);
	turn();
	ck_assert_int_eq(a.calls, 2);
}
END_TEST

/* A descriptor epoll refuses is reported to the owner, not dropped. */
START_TEST(test_add_failure_is_reported)
{
	int	 fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	ck_assert_int_ne(fd, -1);
	close(a.sv[0]);
	a.sv[0] = fd;
	poller_item_init(&a.pi, fd);
	poller_want_read(p, &a.pi);
	ck_assert_int_eq(a.pi.error, EPERM);
	ck_assert(!a.pi.added);
	turn();
	ck_assert_int_eq(a.calls, 1);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("poller");
	TCase	*tc = tcase_create("readiness");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_read_edge);
	tcase_add_test(tc, test_known_input_is_posted);
	tcase_add_test(tc, test_write_waits_for_room);
	tcase_add_test(tc, test_peer_fin);
	tcase_add_test(tc, test_forget_unposts);
	tcase_add_test(tc, test_forget_within_a_batch);
	tcase_add_test(tc, test_close_leaves_the_set);
	tcase_add_test(tc, test_repost_waits_a_turn);
	tcase_add_test(tc, test_add_failure_is_reported);
	suite_add_tcase(s, tc);
	return (check_run_suite(s));
}
