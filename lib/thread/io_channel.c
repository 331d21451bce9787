/*
 * I/O devices, per-thread I/O channels, and axon_for_each_channel.
 *
 * A device lives on the registry (g_io_devices) until unregistered, then on
 * g_io_devices_leaving until nothing refers to it: neither a channel
 * (channel_count) nor a channel walk in flight (iter_count). Its unregister
 * callback runs, on the thread that unregistered it, once channel_count
 * reaches zero. Channels point at the device record, not at the io_device
 * pointer, so the same pointer may be registered again while an old
 * registration is still leaving.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thread_internal.h"

TAILQ_HEAD(io_device_list, io_device);
/* Protected by g_thread_lib_lock. */
static struct io_device_list g_io_devices = TAILQ_HEAD_INITIALIZER(g_io_devices);
static struct io_device_list g_io_devices_leaving =
	TAILQ_HEAD_INITIALIZER(g_io_devices_leaving);

struct axon_io_channel_iter {
	void *io_device;
	struct io_device *dev; /* holds an iter_count reference */
	axon_channel_msg fn;
	axon_channel_for_each_cpl cpl;
	void *ctx;
	int status;
	uint64_t orig_id; /* by id: threads are looked up under the lock */
	uint64_t cur_id;
	struct axon_io_channel *ch; /* set while fn runs */
};

static struct io_device *io_device_find_locked(void *io_device)
{
	struct io_device *dev;

	TAILQ_FOREACH(dev, &g_io_devices, link) {
		if (dev->io_device == io_device) {
			return dev;
		}
	}
	return NULL;
}

static struct axon_io_channel *io_channel_find(struct axon_thread *thread,
					       struct io_device *dev)
{
	struct axon_io_channel *ch;

	TAILQ_FOREACH(ch, &thread->channels, link) {
		if (ch->dev == dev) {
			return ch;
		}
	}
	return NULL;
}

void axon_io_device_register(void *io_device, axon_io_channel_create_cb create_cb,
			     axon_io_channel_destroy_cb destroy_cb, uint32_t ctx_size,
			     const char *name)
{
	struct io_device *dev;

	if (io_device == NULL) {
		AXON_ERRLOG("cannot register a NULL io_device");
		return;
	}
	dev = calloc(1, sizeof(*dev));
	if (dev == NULL) {
		AXON_ERRLOG("io_device %s: out of memory", name != NULL ? name : "");
		return;
	}
	dev->io_device = io_device;
	dev->create_cb = create_cb;
	dev->destroy_cb = destroy_cb;
	dev->ctx_size = ctx_size;
	if (name != NULL) {
		snprintf(dev->name, sizeof(dev->name), "%s", name);
	} else {
		snprintf(dev->name, sizeof(dev->name), "%p", io_device);
	}

	pthread_mutex_lock(&g_thread_lib_lock);
	if (io_device_find_locked(io_device) != NULL) {
		pthread_mutex_unlock(&g_thread_lib_lock);
		AXON_ERRLOG("io_device %s (%p) is already registered", dev->name, io_device);
		free(dev);
		return;
	}
	TAILQ_INSERT_TAIL(&g_io_devices, dev, link);
	pthread_mutex_unlock(&g_thread_lib_lock);
}

/* With the lock held, after the last reference went: free the record. */
static void io_device_release_locked(struct io_device *dev)
{
	if (dev->unregister_done && dev->iter_count == 0) {
		TAILQ_REMOVE(&g_io_devices_leaving, dev, link);
		free(dev);
	}
}

static void _io_device_unregister_done(void *arg)
{
	struct io_device *dev = arg;

	if (dev->unregister_cb != NULL) {
		dev->unregister_cb(dev->io_device);
	}
	pthread_mutex_lock(&g_thread_lib_lock);
	dev->unregister_done = true;
	io_device_release_locked(dev);
	pthread_mutex_unlock(&g_thread_lib_lock);
}

/* With the lock held: the device's last channel is gone; finish unregistering
 * on the thread that asked for it. */
static void io_device_finish_locked(struct io_device *dev)
{
	struct axon_thread *thread = thread_get_live_locked(dev->unregister_thread_id);
	int rc = -ENOENT;

	if (thread != NULL) {
		rc = axon_thread_send_msg(thread, _io_device_unregister_done, dev);
	}
	if (rc != 0) {
		AXON_ERRLOG("io_device %s: cannot run its unregister callback: %s", dev->name,
			    strerror(-rc));
		dev->unregister_done = true;
		io_device_release_locked(dev);
	}
}

/* With the lock held: one channel of dev is gone (or never came to be). */
static void io_device_put_channel_locked(struct io_device *dev)
{
	dev->channel_count--;
	if (dev->unregistered && dev->channel_count == 0) {
		io_device_finish_locked(dev);
	}
}

void axon_io_device_unregister(void *io_device, axon_io_device_unregister_cb unregister_cb)
{
	struct axon_thread *thread = axon_get_thread();
	struct io_device *dev;

	if (thread == NULL) {
		AXON_ERRLOG("io_device %p unregistered off any axon_thread", io_device);
		return;
	}
	pthread_mutex_lock(&g_thread_lib_lock);
	dev = io_device_find_locked(io_device);
	if (dev == NULL) {
		pthread_mutex_unlock(&g_thread_lib_lock);
		AXON_ERRLOG("io_device %p is not registered", io_device);
		return;
	}
	TAILQ_REMOVE(&g_io_devices, dev, link);
	TAILQ_INSERT_TAIL(&g_io_devices_leaving, dev, link);
	dev->unregistered = true;
	dev->unregister_cb = unregister_cb;
	dev->unregister_thread_id = thread->id;
	if (dev->channel_count == 0) {
		io_device_finish_locked(dev);
	}
	pthread_mutex_unlock(&g_thread_lib_lock);
}

struct axon_io_channel *axon_get_io_channel(void *io_device)
{
	struct axon_thread *thread = axon_get_thread();
	struct axon_io_channel *ch;
	struct io_device *dev;
	size_t size;
	int rc;

	if (thread == NULL) {
		AXON_ERRLOG("channel to io_device %p requested off any axon_thread", io_device);
		return NULL;
	}
	if (thread_get_state(thread) != THREAD_RUNNING) {
		AXON_ERRLOG("channel to io_device %p requested on exiting thread %s", io_device,
			    thread->name);
		return NULL;
	}
	pthread_mutex_lock(&g_thread_lib_lock);
	dev = io_device_find_locked(io_device);
	if (dev == NULL) {
		pthread_mutex_unlock(&g_thread_lib_lock);
		AXON_ERRLOG("io_device %p is not registered (or is unregistering)", io_device);
		return NULL;
	}
	ch = io_channel_find(thread, dev);
	if (ch != NULL) {
		/* Also revives a channel whose deferred destroy is pending. */
		ch->ref++;
		pthread_mutex_unlock(&g_thread_lib_lock);
		return ch;
	}
	/* Counted before the lock drops, so the device cannot finish
	 * unregistering while create_cb runs. */
	dev->channel_count++;
	pthread_mutex_unlock(&g_thread_lib_lock);

	size = (sizeof(*ch) + dev->ctx_size + MSG_CACHE_LINE - 1) & ~(size_t)(MSG_CACHE_LINE - 1);
	ch = aligned_alloc(MSG_CACHE_LINE, size);
	if (ch == NULL) {
		AXON_ERRLOG("channel to io_device %s: out of memory", dev->name);
		goto err_count;
	}
	memset(ch, 0, size);
	ch->dev = dev;
	ch->thread = thread;
	ch->ref = 1;
	/* Without the lock: create_cb may get channels to other devices. */
	if (dev->create_cb != NULL) {
		rc = dev->create_cb(io_device, axon_io_channel_get_ctx(ch));
		if (rc != 0) {
			AXON_ERRLOG("channel to io_device %s: create callback failed: %d",
				    dev->name, rc);
			goto err_free;
		}
	}
	pthread_mutex_lock(&g_thread_lib_lock);
	TAILQ_INSERT_TAIL(&thread->channels, ch, link);
	pthread_mutex_unlock(&g_thread_lib_lock);
	return ch;

err_free:
	free(ch);
err_count:
	pthread_mutex_lock(&g_thread_lib_lock);
	io_device_put_channel_locked(dev);
	pthread_mutex_unlock(&g_thread_lib_lock);
	return NULL;
}

static void io_channel_destroy(struct axon_io_channel *ch)
{
	struct io_device *dev = ch->dev;

	/* Off the list first: a get from destroy_cb creates a new channel
	 * instead of reviving this one, and walks no longer see it. */
	pthread_mutex_lock(&g_thread_lib_lock);
	TAILQ_REMOVE(&ch->thread->channels, ch, link);
	pthread_mutex_unlock(&g_thread_lib_lock);
	if (dev->destroy_cb != NULL) {
		dev->destroy_cb(dev->io_device, axon_io_channel_get_ctx(ch));
	}
	free(ch);
	/* Only now may unregister_cb run: it may free what destroy_cb used. */
	pthread_mutex_lock(&g_thread_lib_lock);
	io_device_put_channel_locked(dev);
	pthread_mutex_unlock(&g_thread_lib_lock);
}

static void _io_channel_put_deferred(void *arg)
{
	struct axon_io_channel *ch = arg;

	ch->destroy_pending = false;
	if (ch->ref == 0) {
		io_channel_destroy(ch);
	}
}

void axon_put_io_channel(struct axon_io_channel *ch)
{
	int rc;

	if (ch == NULL) {
		return;
	}
	if (ch->thread != axon_get_thread()) {
		AXON_ERRLOG("channel to io_device %s released off its thread %s", ch->dev->name,
			    ch->thread->name);
		return;
	}
	if (ch->ref == 0) {
		AXON_ERRLOG("channel to io_device %s released more often than taken",
			    ch->dev->name);
		return;
	}
	if (--ch->ref != 0 || ch->destroy_pending) {
		return;
	}
	ch->destroy_pending = true;
	rc = axon_thread_send_msg(ch->thread, _io_channel_put_deferred, ch);
	if (rc != 0) {
		/* Only a full ring gets here: destroying now is the lesser evil
		 * than leaking the channel and blocking the thread's exit. */
		AXON_ERRLOG("channel to io_device %s: cannot defer its destroy (%s); "
			    "destroying it now", ch->dev->name, strerror(-rc));
		ch->destroy_pending = false;
		io_channel_destroy(ch);
	}
}

void *axon_io_channel_get_ctx(struct axon_io_channel *ch)
{
	return (uint8_t *)ch + sizeof(*ch);
}

struct axon_io_channel *axon_io_channel_from_ctx(void *ctx)
{
	return (struct axon_io_channel *)((uint8_t *)ctx - sizeof(struct axon_io_channel));
}

struct axon_thread *axon_io_channel_get_thread(struct axon_io_channel *ch)
{
	return ch->thread;
}

void *axon_io_channel_get_io_device(struct axon_io_channel *ch)
{
	return ch->dev->io_device;
}

/* ---- axon_for_each_channel --------------------------------------------- */

static void _channel_iter_visit(void *arg);

static void channel_iter_free(struct axon_io_channel_iter *i)
{
	if (i->dev != NULL) {
		pthread_mutex_lock(&g_thread_lib_lock);
		i->dev->iter_count--;
		io_device_release_locked(i->dev);
		pthread_mutex_unlock(&g_thread_lib_lock);
	}
	free(i);
}

static void _channel_iter_done(void *arg)
{
	struct axon_io_channel_iter *i = arg;

	if (i->cpl != NULL) {
		i->cpl(i, i->status);
	}
	channel_iter_free(i);
}

static void channel_iter_complete(struct axon_io_channel_iter *i)
{
	struct axon_thread *orig;
	int rc = -ENOENT;

	i->ch = NULL;
	pthread_mutex_lock(&g_thread_lib_lock);
	orig = thread_get_live_locked(i->orig_id);
	if (orig != NULL) {
		rc = axon_thread_send_msg(orig, _channel_iter_done, i);
	}
	pthread_mutex_unlock(&g_thread_lib_lock);
	if (rc != 0) {
		AXON_ERRLOG("for_each_channel: cannot complete on thread %" PRIu64 ": %s", i->orig_id,
			    strerror(-rc));
		channel_iter_free(i);
	}
}

/* Send the walk to the next thread, in id order, that holds a channel to the
 * device; or complete it. Sends happen under the lock so that the target
 * cannot be destroyed in between. */
static void channel_iter_advance(struct axon_io_channel_iter *i)
{
	struct axon_thread *thread;

	pthread_mutex_lock(&g_thread_lib_lock);
	for (thread = thread_next_live_locked(i->cur_id); thread != NULL;
	     thread = TAILQ_NEXT(thread, link)) {
		if (thread_get_state(thread) == THREAD_EXITED ||
		    io_channel_find(thread, i->dev) == NULL) {
			continue;
		}
		i->cur_id = thread->id;
		if (axon_thread_send_msg(thread, _channel_iter_visit, i) == 0) {
			pthread_mutex_unlock(&g_thread_lib_lock);
			return;
		}
		/* Exited meanwhile, or its ring is full: skip it. */
	}
	pthread_mutex_unlock(&g_thread_lib_lock);
	channel_iter_complete(i);
}

static void _channel_iter_visit(void *arg)
{
	struct axon_io_channel_iter *i = arg;
	/* Our own list: only we change it, so no lock is needed to read it. */
	struct axon_io_channel *ch = io_channel_find(axon_get_thread(), i->dev);

	/* Released since the walk picked this thread (destroy pending or done). */
	if (ch == NULL || ch->ref == 0) {
		channel_iter_advance(i);
		return;
	}
	i->ch = ch;
	i->fn(i);
}

void axon_for_each_channel(void *io_device, axon_channel_msg fn, void *ctx,
			   axon_channel_for_each_cpl cpl)
{
	struct axon_thread *thread = axon_get_thread();
	struct axon_io_channel_iter *i;

	if (thread == NULL) {
		AXON_ERRLOG("for_each_channel called off any axon_thread");
		return;
	}
	i = calloc(1, sizeof(*i));
	if (i == NULL) {
		AXON_ERRLOG("for_each_channel: out of memory");
		return;
	}
	i->io_device = io_device;
	i->fn = fn;
	i->cpl = cpl;
	i->ctx = ctx;
	i->orig_id = thread->id;

	pthread_mutex_lock(&g_thread_lib_lock);
	i->dev = io_device_find_locked(io_device);
	if (i->dev != NULL) {
		i->dev->iter_count++;
	}
	pthread_mutex_unlock(&g_thread_lib_lock);
	if (i->dev == NULL) {
		AXON_ERRLOG("for_each_channel: io_device %p is not registered", io_device);
		i->status = -ENODEV;
		channel_iter_complete(i);
		return;
	}
	channel_iter_advance(i);
}

void axon_for_each_channel_continue(struct axon_io_channel_iter *i, int status)
{
	assert(axon_get_thread() != NULL && axon_get_thread()->id == i->cur_id);
	i->ch = NULL;
	i->status = status;
	if (status != 0) {
		channel_iter_complete(i);
		return;
	}
	channel_iter_advance(i);
}

void *axon_io_channel_iter_get_io_device(struct axon_io_channel_iter *i)
{
	return i->io_device;
}

struct axon_io_channel *axon_io_channel_iter_get_channel(struct axon_io_channel_iter *i)
{
	return i->ch;
}

void *axon_io_channel_iter_get_ctx(struct axon_io_channel_iter *i)
{
	return i->ctx;
}

/* ---- teardown ---------------------------------------------------------- */

void io_channel_free_all(struct axon_thread *thread)
{
	struct axon_io_channel *ch;

	while ((ch = TAILQ_FIRST(&thread->channels)) != NULL) {
		AXON_ERRLOG("thread %s: destroying channel to io_device %s still held (%u refs)",
			    thread->name, ch->dev->name, ch->ref);
		io_channel_destroy(ch);
	}
}

void io_channel_describe(struct axon_thread *thread, char *buf, size_t len)
{
	struct axon_io_channel *ch;
	size_t used = strlen(buf);

	TAILQ_FOREACH(ch, &thread->channels, link) {
		if (used >= len) {
			return;
		}
		used += (size_t)snprintf(buf + used, len - used, "%s%s (%u refs)",
					 used != 0 ? ", " : "", ch->dev->name, ch->ref);
	}
}

void io_device_free_all(void)
{
	struct io_device *dev;

	pthread_mutex_lock(&g_thread_lib_lock);
	while ((dev = TAILQ_FIRST(&g_io_devices)) != NULL) {
		AXON_ERRLOG("io_device %s still registered at library teardown", dev->name);
		TAILQ_REMOVE(&g_io_devices, dev, link);
		free(dev);
	}
	while ((dev = TAILQ_FIRST(&g_io_devices_leaving)) != NULL) {
		AXON_ERRLOG("io_device %s never finished unregistering", dev->name);
		TAILQ_REMOVE(&g_io_devices_leaving, dev, link);
		free(dev);
	}
	pthread_mutex_unlock(&g_thread_lib_lock);
}
