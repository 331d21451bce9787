/*
 * Active and timed pollers: registration, pause/resume, deferred
 * unregistration, and the two run loops called by axon_thread_poll().
 *
 * Only the run loops (and thread destroy) free pollers. Pause, resume and
 * unregister move a poller between the thread's lists at once, except for the
 * poller whose callback is running (thread->current_poller): that one only
 * changes state, and its loop settles it when the callback returns. So a
 * callback may pause, resume or unregister itself or any other poller, and
 * neither loop ever holds a pointer to a freed or relocated poller.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thread_internal.h"

uint64_t poller_us_to_ticks(uint64_t us)
{
	uint64_t ticks = (uint64_t)((unsigned __int128)us * axon_get_ticks_hz() / 1000000u);

	/* A period shorter than a tick still has to move forward. */
	return ticks != 0 ? ticks : 1;
}

/* Keep the timed list sorted by next_run. Most insertions land at or near the
 * end, so scan from there; equal times keep insertion order. */
static void poller_timed_insert(struct axon_thread *thread, struct axon_poller *poller)
{
	struct axon_poller *it;

	TAILQ_FOREACH_REVERSE(it, &thread->timed_pollers, poller_list, link) {
		if (it->next_run <= poller->next_run) {
			TAILQ_INSERT_AFTER(&thread->timed_pollers, it, poller, link);
			return;
		}
	}
	TAILQ_INSERT_HEAD(&thread->timed_pollers, poller, link);
}

/* Put a waiting poller on its run list, with a fresh period if timed. */
static void poller_schedule(struct axon_thread *thread, struct axon_poller *poller,
			    uint64_t now)
{
	poller->state = POLLER_WAITING;
	if (poller->period_ticks == 0) {
		TAILQ_INSERT_TAIL(&thread->active_pollers, poller, link);
	} else {
		poller->next_run = now + poller->period_ticks;
		poller_timed_insert(thread, poller);
	}
}

/* The list a poller is on when it is not running. */
static struct poller_list *poller_list_of(struct axon_thread *thread, struct axon_poller *poller)
{
	switch (poller->state) {
	case POLLER_WAITING:
		return poller->period_ticks == 0 ? &thread->active_pollers
						 : &thread->timed_pollers;
	case POLLER_PAUSED:
		return &thread->paused_pollers;
	case POLLER_UNREGISTERED:
		return &thread->dead_pollers;
	case POLLER_PAUSING:
		break;
	}
	return NULL; /* only the running poller is PAUSING */
}

struct axon_poller *axon_poller_register_named(axon_poller_fn fn, void *arg,
					       uint64_t period_us, const char *name)
{
	struct axon_thread *thread = axon_get_thread();
	struct axon_poller *poller;

	if (thread == NULL || fn == NULL) {
		AXON_ERRLOG("poller %s registered off any axon_thread or without a function",
			    name != NULL ? name : "");
		return NULL;
	}
	if (thread_get_state(thread) == THREAD_EXITED) {
		AXON_ERRLOG("poller %s registered on exited thread %s",
			    name != NULL ? name : "", thread->name);
		return NULL;
	}
	poller = calloc(1, sizeof(*poller));
	if (poller == NULL) {
		AXON_ERRLOG("poller %s: out of memory", name != NULL ? name : "");
		return NULL;
	}
	poller->fn = fn;
	poller->arg = arg;
	poller->thread = thread;
	snprintf(poller->name, sizeof(poller->name), "%s", name != NULL ? name : "unnamed");
	if (period_us != 0) {
		poller->period_ticks = poller_us_to_ticks(period_us);
	}
	poller_schedule(thread, poller, axon_get_ticks());
	thread->poller_count++;
	return poller;
}

static bool poller_on_own_thread(struct axon_poller *poller, const char *what)
{
	if (poller->thread != axon_get_thread()) {
		AXON_ERRLOG("%s of poller %s off its thread %s", what, poller->name,
			    poller->thread->name);
		return false;
	}
	return true;
}

void axon_poller_unregister(struct axon_poller **ppoller)
{
	struct axon_poller *poller;
	struct axon_thread *thread;

	if (ppoller == NULL || *ppoller == NULL) {
		return;
	}
	poller = *ppoller;
	if (!poller_on_own_thread(poller, "unregister")) {
		return;
	}
	*ppoller = NULL;
	thread = poller->thread;
	if (poller->state == POLLER_UNREGISTERED) {
		AXON_ERRLOG("poller %s unregistered twice", poller->name);
		return;
	}
	if (poller != thread->current_poller) {
		TAILQ_REMOVE(poller_list_of(thread, poller), poller, link);
		TAILQ_INSERT_TAIL(&thread->dead_pollers, poller, link);
	}
	poller->state = POLLER_UNREGISTERED;
	thread->poller_count--;
}

void axon_poller_pause(struct axon_poller *poller)
{
	struct axon_thread *thread = poller->thread;

	if (!poller_on_own_thread(poller, "pause") || poller->state != POLLER_WAITING) {
		return;
	}
	if (poller == thread->current_poller) {
		poller->state = POLLER_PAUSING;
		return;
	}
	TAILQ_REMOVE(poller_list_of(thread, poller), poller, link);
	TAILQ_INSERT_TAIL(&thread->paused_pollers, poller, link);
	poller->state = POLLER_PAUSED;
}

void axon_poller_resume(struct axon_poller *poller)
{
	struct axon_thread *thread = poller->thread;

	if (!poller_on_own_thread(poller, "resume")) {
		return;
	}
	switch (poller->state) {
	case POLLER_PAUSING:
		/* Paused and resumed within its own callback: nothing moved. */
		poller->state = POLLER_WAITING;
		break;
	case POLLER_PAUSED:
		TAILQ_REMOVE(&thread->paused_pollers, poller, link);
		poller_schedule(thread, poller, axon_get_ticks());
		break;
	case POLLER_WAITING:
	case POLLER_UNREGISTERED:
		break;
	}
}

static bool poller_call(struct axon_thread *thread, struct axon_poller *poller)
{
	int rc;

	thread->current_poller = poller;
	rc = poller->fn(poller->arg);
	thread->current_poller = NULL;
	poller->run_count++;
	if (rc > 0) {
		poller->busy_count++;
		return true;
	}
	return false;
}

/* After its callback: park a poller that paused or unregistered itself. It is
 * on no list (timed) or still on the active list. Returns true if it left. */
static bool poller_settle(struct axon_thread *thread, struct axon_poller *poller,
			  struct poller_list *on)
{
	switch (poller->state) {
	case POLLER_PAUSING:
		if (on != NULL) {
			TAILQ_REMOVE(on, poller, link);
		}
		poller->state = POLLER_PAUSED;
		TAILQ_INSERT_TAIL(&thread->paused_pollers, poller, link);
		return true;
	case POLLER_UNREGISTERED:
		if (on != NULL) {
			TAILQ_REMOVE(on, poller, link);
		}
		TAILQ_INSERT_TAIL(&thread->dead_pollers, poller, link);
		return true;
	case POLLER_WAITING:
	case POLLER_PAUSED:
		break;
	}
	return false;
}

bool poller_run_active(struct axon_thread *thread)
{
	struct axon_poller *poller, *next;
	bool busy = false;

	for (poller = TAILQ_FIRST(&thread->active_pollers); poller != NULL; poller = next) {
		busy |= poller_call(thread, poller);
		/* Read after the callback, which may have moved any other
		 * poller; this one is still on the list until settled. */
		next = TAILQ_NEXT(poller, link);
		poller_settle(thread, poller, &thread->active_pollers);
	}
	return busy;
}

bool poller_run_timed(struct axon_thread *thread, uint64_t now)
{
	struct axon_poller *poller;
	bool busy = false;

	/* Each run reschedules at now + period (> now), so this ends. */
	while ((poller = TAILQ_FIRST(&thread->timed_pollers)) != NULL &&
	       poller->next_run <= now) {
		TAILQ_REMOVE(&thread->timed_pollers, poller, link);
		busy |= poller_call(thread, poller);
		if (!poller_settle(thread, poller, NULL)) {
			poller->next_run = now + poller->period_ticks;
			poller_timed_insert(thread, poller);
		}
	}
	return busy;
}

void poller_free_dead(struct axon_thread *thread)
{
	struct axon_poller *poller;

	while ((poller = TAILQ_FIRST(&thread->dead_pollers)) != NULL) {
		TAILQ_REMOVE(&thread->dead_pollers, poller, link);
		free(poller);
	}
}

void poller_free_all(struct axon_thread *thread)
{
	struct poller_list *lists[] = {&thread->active_pollers, &thread->timed_pollers,
				       &thread->paused_pollers};
	struct axon_poller *poller;

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		while ((poller = TAILQ_FIRST(lists[i])) != NULL) {
			AXON_ERRLOG("thread %s: freeing poller %s that was never unregistered",
				    thread->name, poller->name);
			TAILQ_REMOVE(lists[i], poller, link);
			free(poller);
		}
	}
	thread->poller_count = 0;
	poller_free_dead(thread);
}

static void poller_fill_info(const struct axon_poller *poller, struct axon_poller_info *info)
{
	info->name = poller->name;
	if (poller->state == POLLER_PAUSED || poller->state == POLLER_PAUSING) {
		info->state = "paused";
	} else {
		info->state = poller->period_ticks != 0 ? "timed" : "active";
	}
	info->period_ticks = poller->period_ticks;
	info->run_count = poller->run_count;
	info->busy_count = poller->busy_count;
}

void axon_thread_for_each_poller(void (*fn)(const struct axon_poller_info *info, void *ctx),
				 void *ctx)
{
	struct axon_thread *thread = axon_get_thread();
	struct poller_list *lists[3];
	struct axon_poller_info info;
	struct axon_poller *poller, *running;

	if (thread == NULL) {
		AXON_ERRLOG("for_each_poller called off any axon_thread");
		return;
	}
	lists[0] = &thread->active_pollers;
	lists[1] = &thread->timed_pollers;
	lists[2] = &thread->paused_pollers;
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		TAILQ_FOREACH(poller, lists[i], link) {
			poller_fill_info(poller, &info);
			fn(&info, ctx);
		}
	}
	/* A timed poller is off its list while its callback runs. */
	running = thread->current_poller;
	if (running != NULL && running->period_ticks != 0 &&
	    running->state != POLLER_UNREGISTERED) {
		poller_fill_info(running, &info);
		fn(&info, ctx);
	}
}

void poller_describe(struct axon_thread *thread, char *buf, size_t len)
{
	struct poller_list *lists[] = {&thread->active_pollers, &thread->timed_pollers,
				       &thread->paused_pollers};
	struct axon_poller *poller;
	size_t used = strlen(buf);

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		TAILQ_FOREACH(poller, lists[i], link) {
			if (used >= len) {
				return;
			}
			used += (size_t)snprintf(buf + used, len - used, "%s%s",
						 used != 0 ? ", " : "", poller->name);
		}
	}
}
