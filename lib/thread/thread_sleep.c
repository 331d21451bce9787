/*
 * Adaptive sleep: each thread's eventfd (messages), timerfd (timed pollers)
 * and epoll fd (the interrupt fd a reactor waits on).
 *
 * Lost-wakeup freedom is a Dekker pair between the owner going to sleep and a
 * sender:
 *   owner  (prepare_to_sleep): store sleeping = true; load ring head
 *   sender (send_msg):         CAS ring head (reserve); load sleeping
 * All four are seq_cst, so in their single total order either the owner's
 * load sees the reservation (it stays awake and polls), or the sender's load
 * sees sleeping (it writes the eventfd, which wakes the owner's epoll). Both
 * may happen; neither missing is impossible. Senders touch the eventfd only
 * while the flag is set, so the polled-mode hot path makes no system call.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "thread_internal.h"

static int thread_epoll_add(int epoll_fd, int fd, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.fd = fd};

	if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		return -errno;
	}
	return 0;
}

int thread_sleep_init(struct axon_thread *thread)
{
	int rc;

	thread->msg_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (thread->msg_fd < 0) {
		rc = -errno;
		AXON_ERRLOG("eventfd: %s", strerror(-rc));
		return rc;
	}
	thread->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (thread->timer_fd < 0) {
		rc = -errno;
		AXON_ERRLOG("timerfd_create: %s", strerror(-rc));
		goto err_msg_fd;
	}
	thread->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (thread->epoll_fd < 0) {
		rc = -errno;
		AXON_ERRLOG("epoll_create1: %s", strerror(-rc));
		goto err_timer_fd;
	}
	rc = thread_epoll_add(thread->epoll_fd, thread->msg_fd, EPOLLIN);
	if (rc == 0) {
		rc = thread_epoll_add(thread->epoll_fd, thread->timer_fd, EPOLLIN);
	}
	if (rc != 0) {
		AXON_ERRLOG("epoll_ctl: %s", strerror(-rc));
		goto err_epoll_fd;
	}
	return 0;

err_epoll_fd:
	close(thread->epoll_fd);
err_timer_fd:
	close(thread->timer_fd);
err_msg_fd:
	close(thread->msg_fd);
	return rc;
}

void thread_sleep_fini(struct axon_thread *thread)
{
	close(thread->epoll_fd);
	close(thread->timer_fd);
	close(thread->msg_fd);
}

void thread_sleep_signal(struct axon_thread *thread)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is saturated: already readable, which is
	 * all we want. */
	if (write(thread->msg_fd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
		AXON_ERRLOG("thread %s: cannot write its eventfd: %s", thread->name,
			    strerror(errno));
	}
}

int axon_thread_get_interrupt_fd(struct axon_thread *thread)
{
	return thread->epoll_fd;
}

static uint64_t thread_ticks_to_ns(uint64_t ticks)
{
	uint64_t hz = axon_get_ticks_hz();

	if (hz == 0) {
		return ticks;
	}
	return (uint64_t)((unsigned __int128)ticks * 1000000000u / hz);
}

/* Arm the timerfd for the earliest timed poller, or disarm it. */
static int thread_arm_timer(struct axon_thread *thread)
{
	uint64_t next = axon_thread_next_poller_expiration(thread);
	struct itimerspec its = {0};

	if (next == 0) {
		if (!thread->timer_armed) {
			return 0;
		}
	} else {
		uint64_t now = axon_get_ticks();
		uint64_t ns = next > now ? thread_ticks_to_ns(next - now) : 0;

		/* A zero it_value would disarm: a poller already due fires now. */
		if (ns == 0) {
			ns = 1;
		}
		its.it_value.tv_sec = (time_t)(ns / 1000000000u);
		its.it_value.tv_nsec = (long)(ns % 1000000000u);
	}
	if (timerfd_settime(thread->timer_fd, 0, &its, NULL) != 0) {
		int rc = -errno;

		AXON_ERRLOG("thread %s: timerfd_settime: %s", thread->name, strerror(-rc));
		return rc;
	}
	thread->timer_armed = next != 0;
	return 0;
}

bool axon_thread_prepare_to_sleep(struct axon_thread *thread)
{
	if (thread_arm_timer(thread) != 0) {
		return false;
	}
	/* Dekker store; pairs with the sender's load in thread_sleep_kick(). */
	atomic_store_explicit(&thread->sleeping, true, memory_order_seq_cst);
	/* Dekker load; pairs with the sender's reservation CAS in
	 * msg_ring_enqueue(). */
	if (!msg_ring_is_empty(&thread->ring)) {
		atomic_store_explicit(&thread->sleeping, false, memory_order_relaxed);
		return false;
	}
	return true;
}

void axon_thread_wake_up(struct axon_thread *thread)
{
	uint64_t count;

	/* Relaxed: a sender that still sees true only writes one spurious
	 * event, which the next wake-up drains. Cleared before draining so
	 * that such stray writes mostly land before the reads below. */
	atomic_store_explicit(&thread->sleeping, false, memory_order_relaxed);
	if (read(thread->msg_fd, &count, sizeof(count)) < 0 && errno != EAGAIN) {
		AXON_ERRLOG("thread %s: cannot read its eventfd: %s", thread->name,
			    strerror(errno));
	}
	if (thread->timer_armed &&
	    read(thread->timer_fd, &count, sizeof(count)) < 0 && errno != EAGAIN) {
		AXON_ERRLOG("thread %s: cannot read its timerfd: %s", thread->name,
			    strerror(errno));
	}
}

int axon_thread_add_wake_fd(int fd, uint32_t epoll_events)
{
	struct axon_thread *thread = axon_get_thread();
	int rc;

	if (thread == NULL) {
		AXON_ERRLOG("add_wake_fd called off any axon_thread");
		return -EINVAL;
	}
	rc = thread_epoll_add(thread->epoll_fd, fd, epoll_events);
	if (rc == 0) {
		thread->wake_fd_count++;
	}
	return rc;
}

int axon_thread_remove_wake_fd(int fd)
{
	struct axon_thread *thread = axon_get_thread();

	if (thread == NULL) {
		AXON_ERRLOG("remove_wake_fd called off any axon_thread");
		return -EINVAL;
	}
	/* The thread's own eventfd and timerfd are not wake fds. */
	if (fd == thread->msg_fd || fd == thread->timer_fd) {
		return -ENOENT;
	}
	if (epoll_ctl(thread->epoll_fd, EPOLL_CTL_DEL, fd, NULL) != 0) {
		return -errno;
	}
	thread->wake_fd_count--;
	return 0;
}

bool axon_thread_has_wake_fds(struct axon_thread *thread)
{
	return thread->wake_fd_count != 0;
}
