/*
 * Bdev life cycle: modules, registration and its examine pass, asynchronous
 * unregistration (an explicit state machine), lookup, descriptors, claims,
 * aliases, resize, and the property getters.
 *
 * All of it is control path: the bdev list, descriptors, claims and aliases
 * are guarded by g_bdev_mgr.lock. Nothing here runs per I/O.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bdev_internal.h"

AXON_LOG_REGISTER_COMPONENT(bdev)

struct bdev_mgr g_bdev_mgr = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.bdevs = TAILQ_HEAD_INITIALIZER(g_bdev_mgr.bdevs),
	.modules = TAILQ_HEAD_INITIALIZER(g_bdev_mgr.modules),
	.opts = {
		.size = sizeof(struct axon_bdev_opts),
		.bdev_io_pool_size = 65535,
		.bdev_io_cache_size = 256,
		.small_buf_pool_size = 8191,
		.large_buf_pool_size = 1023,
		.bdev_auto_examine = true,
	},
};

static const char *const g_io_type_names[AXON_BDEV_NUM_IO_TYPES] = {
	[AXON_BDEV_IO_TYPE_READ] = "read",
	[AXON_BDEV_IO_TYPE_WRITE] = "write",
	[AXON_BDEV_IO_TYPE_UNMAP] = "unmap",
	[AXON_BDEV_IO_TYPE_FLUSH] = "flush",
	[AXON_BDEV_IO_TYPE_RESET] = "reset",
	[AXON_BDEV_IO_TYPE_NVME_ADMIN] = "nvme_admin",
	[AXON_BDEV_IO_TYPE_NVME_IO] = "nvme_io",
	[AXON_BDEV_IO_TYPE_WRITE_ZEROES] = "write_zeroes",
	[AXON_BDEV_IO_TYPE_COMPARE] = "compare",
	[AXON_BDEV_IO_TYPE_COMPARE_AND_WRITE] = "compare_and_write",
};

const char *axon_bdev_io_type_name(enum axon_bdev_io_type type)
{
	if (type <= AXON_BDEV_IO_TYPE_INVALID || type >= AXON_BDEV_NUM_IO_TYPES) {
		return NULL;
	}
	return g_io_type_names[type];
}

/* ---- modules --------------------------------------------------------------- */

void axon_bdev_module_list_add(struct axon_bdev_module *module)
{
	TAILQ_INSERT_TAIL(&g_bdev_mgr.modules, module, internal_link);
}

struct axon_bdev_module *axon_bdev_module_find(const char *name)
{
	struct axon_bdev_module *m;

	TAILQ_FOREACH(m, &g_bdev_mgr.modules, internal_link) {
		if (strcmp(m->name, name) == 0) {
			return m;
		}
	}
	return NULL;
}

/* ---- examine ------------------------------------------------------------- */

struct examine_waiter {
	void (*cb)(void *cb_arg);
	void *cb_arg;
	TAILQ_ENTRY(examine_waiter) link;
};

static TAILQ_HEAD(, examine_waiter) g_examine_waiters = TAILQ_HEAD_INITIALIZER(g_examine_waiters);

static void examine_fire_waiters(void)
{
	struct examine_waiter *w;

	while (g_bdev_mgr.examine_in_progress == 0 &&
	       (w = TAILQ_FIRST(&g_examine_waiters)) != NULL) {
		TAILQ_REMOVE(&g_examine_waiters, w, link);
		w->cb(w->cb_arg);
		free(w);
	}
}

int axon_bdev_wait_for_examine(void (*cb)(void *cb_arg), void *cb_arg)
{
	struct examine_waiter *w;

	if (g_bdev_mgr.examine_in_progress == 0) {
		cb(cb_arg);
		return 0;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		return -ENOMEM;
	}
	w->cb = cb;
	w->cb_arg = cb_arg;
	TAILQ_INSERT_TAIL(&g_examine_waiters, w, link);
	return 0;
}

void axon_bdev_module_examine_done(struct axon_bdev_module *module)
{
	assert(module->internal_examine_in_progress > 0);
	assert(g_bdev_mgr.examine_in_progress > 0);
	module->internal_examine_in_progress--;
	g_bdev_mgr.examine_in_progress--;
	examine_fire_waiters();
}

static void examine_call(struct axon_bdev_module *m, void (*fn)(struct axon_bdev *),
			 struct axon_bdev *bdev)
{
	m->internal_examine_in_progress++;
	g_bdev_mgr.examine_in_progress++;
	fn(bdev);
}

void bdev_examine(struct axon_bdev *bdev)
{
	struct axon_bdev_module *m;

	/* Held across the pass so that waiters never see a gap between the
	 * config and disk phases. */
	g_bdev_mgr.examine_in_progress++;
	TAILQ_FOREACH(m, &g_bdev_mgr.modules, internal_link) {
		if (m->examine_config != NULL) {
			examine_call(m, m->examine_config, bdev);
		}
	}
	m = bdev->internal->claim_module;
	if (m != NULL) {
		if (m->examine_disk != NULL) {
			examine_call(m, m->examine_disk, bdev);
		}
	} else {
		TAILQ_FOREACH(m, &g_bdev_mgr.modules, internal_link) {
			if (m->examine_disk != NULL) {
				examine_call(m, m->examine_disk, bdev);
			}
		}
	}
	g_bdev_mgr.examine_in_progress--;
	examine_fire_waiters();
}

/* ---- lookup ---------------------------------------------------------------- */

static bool bdev_has_name(const struct bdev_internal *bi, const char *name)
{
	if (strcmp(bi->name, name) == 0 || strcasecmp(bi->uuid_str, name) == 0) {
		return true;
	}
	for (uint32_t i = 0; i < bi->alias_count; i++) {
		if (strcmp(bi->aliases[i], name) == 0) {
			return true;
		}
	}
	return false;
}

static struct bdev_internal *bdev_find_locked(const char *name)
{
	struct bdev_internal *bi;

	TAILQ_FOREACH(bi, &g_bdev_mgr.bdevs, link) {
		if (bdev_has_name(bi, name)) {
			return bi;
		}
	}
	return NULL;
}

struct axon_bdev *axon_bdev_get_by_name(const char *name)
{
	struct bdev_internal *bi;

	if (name == NULL) {
		return NULL;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	bi = bdev_find_locked(name);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	return bi != NULL ? bi->bdev : NULL;
}

static struct axon_bdev *bdev_next(struct bdev_internal *bi, bool leaf)
{
	for (; bi != NULL; bi = TAILQ_NEXT(bi, link)) {
		if (!leaf || bi->claim_module == NULL) {
			return bi->bdev;
		}
	}
	return NULL;
}

struct axon_bdev *axon_bdev_first(void)
{
	return bdev_next(TAILQ_FIRST(&g_bdev_mgr.bdevs), false);
}

struct axon_bdev *axon_bdev_next(struct axon_bdev *prev)
{
	return bdev_next(TAILQ_NEXT(prev->internal, link), false);
}

struct axon_bdev *axon_bdev_first_leaf(void)
{
	return bdev_next(TAILQ_FIRST(&g_bdev_mgr.bdevs), true);
}

struct axon_bdev *axon_bdev_next_leaf(struct axon_bdev *prev)
{
	return bdev_next(TAILQ_NEXT(prev->internal, link), true);
}

/* ---- registration ------------------------------------------------------------ */

static int bdev_check(const struct axon_bdev *bdev)
{
	const char *name = bdev->name != NULL ? bdev->name : "(unnamed)";

	if (bdev->name == NULL || bdev->name[0] == '\0' ||
	    strlen(bdev->name) > AXON_BDEV_MAX_NAME_LEN) {
		AXON_ERRLOG("bdev %s: name must have 1 to %d characters", name,
			    AXON_BDEV_MAX_NAME_LEN);
		return -EINVAL;
	}
	if (bdev->product_name == NULL || bdev->module == NULL || bdev->fn_table == NULL ||
	    bdev->fn_table->destruct == NULL || bdev->fn_table->submit_request == NULL ||
	    bdev->fn_table->io_type_supported == NULL || bdev->fn_table->get_io_channel == NULL) {
		AXON_ERRLOG("bdev %s: product_name, module and the fn_table's destruct, "
			    "submit_request, io_type_supported and get_io_channel are required",
			    name);
		return -EINVAL;
	}
	if (bdev->blocklen == 0 || bdev->blocklen % 512 != 0 ||
	    bdev->blocklen > AXON_BDEV_LARGE_BUF_SIZE) {
		AXON_ERRLOG("bdev %s: blocklen %u is not a multiple of 512 up to %u", name,
			    bdev->blocklen, AXON_BDEV_LARGE_BUF_SIZE);
		return -EINVAL;
	}
	if (bdev->blockcnt == 0) {
		AXON_ERRLOG("bdev %s: blockcnt is 0", name);
		return -EINVAL;
	}
	if ((1u << bdev->required_alignment) > BDEV_BUF_ALIGN) {
		AXON_ERRLOG("bdev %s: required_alignment 2^%u is above the supported %u bytes",
			    name, bdev->required_alignment, BDEV_BUF_ALIGN);
		return -EINVAL;
	}
	if (!bdev->fn_table->io_type_supported(bdev->ctxt, AXON_BDEV_IO_TYPE_READ) ||
	    !bdev->fn_table->io_type_supported(bdev->ctxt, AXON_BDEV_IO_TYPE_WRITE)) {
		AXON_ERRLOG("bdev %s: the backend must support read and write", name);
		return -EINVAL;
	}
	return 0;
}

static void bdev_internal_free(struct bdev_internal *bi)
{
	bdev_qos_free(bi);
	for (uint32_t i = 0; i < bi->alias_count; i++) {
		free(bi->aliases[i]);
	}
	free(bi->aliases);
	free(bi->name);
	free(bi->product_name);
	free(bi);
}

static struct bdev_internal *bdev_internal_alloc(struct axon_bdev *bdev)
{
	struct bdev_internal *bi = calloc(1, sizeof(*bi));

	if (bi == NULL) {
		return NULL;
	}
	bi->name = strdup(bdev->name);
	bi->product_name = strdup(bdev->product_name);
	if (bi->name == NULL || bi->product_name == NULL) {
		bdev_internal_free(bi);
		return NULL;
	}
	bi->bdev = bdev;
	TAILQ_INIT(&bi->open_descs);
	TAILQ_INIT(&bi->reset.joined);
	atomic_init(&bi->live_channels, 1);
	atomic_init(&bi->frozen, 0);
	axon_bdev_io_stat_init(&bi->stat_gone);
	if (bdev->fn_table->get_memory_domains != NULL) {
		int n = bdev->fn_table->get_memory_domains(bdev->ctxt, bi->domains,
							   BDEV_MAX_MEMORY_DOMAINS);

		bi->domain_count = AXON_MIN(AXON_MAX(n, 0), (int)BDEV_MAX_MEMORY_DOMAINS);
	}
	for (int t = AXON_BDEV_IO_TYPE_READ; t < AXON_BDEV_NUM_IO_TYPES; t++) {
		if (bdev->fn_table->io_type_supported(bdev->ctxt, (enum axon_bdev_io_type)t)) {
			bi->native_types |= 1u << t;
		}
	}
	return bi;
}

/* Is any name of bi (name, uuid) taken by another bdev? Logs which. */
static int bdev_check_unique_locked(const struct bdev_internal *bi)
{
	struct bdev_internal *other = bdev_find_locked(bi->name);

	if (other != NULL) {
		AXON_ERRLOG("a bdev named %s already exists", bi->name);
		return -EEXIST;
	}
	other = bdev_find_locked(bi->uuid_str);
	if (other != NULL) {
		AXON_ERRLOG("bdev %s: uuid %s is already used by bdev %s", bi->name, bi->uuid_str,
			    other->name);
		return -EEXIST;
	}
	return 0;
}

int axon_bdev_register(struct axon_bdev *bdev)
{
	struct bdev_internal *bi;
	int rc;

	if (!g_bdev_mgr.running) {
		AXON_ERRLOG("cannot register bdev %s: the bdev subsystem is not running",
			    bdev->name != NULL ? bdev->name : "(unnamed)");
		return -ENODEV;
	}
	rc = bdev_check(bdev);
	if (rc != 0) {
		return rc;
	}
	bi = bdev_internal_alloc(bdev);
	if (bi == NULL) {
		return -ENOMEM;
	}
	if (axon_uuid_is_null(&bdev->uuid)) {
		axon_uuid_generate(&bdev->uuid);
	}
	axon_uuid_fmt_lower(bi->uuid_str, sizeof(bi->uuid_str), &bdev->uuid);

	pthread_mutex_lock(&g_bdev_mgr.lock);
	rc = bdev_check_unique_locked(bi);
	if (rc != 0) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		bdev_internal_free(bi);
		return rc;
	}
	bdev->internal = bi;
	TAILQ_INSERT_TAIL(&g_bdev_mgr.bdevs, bi, link);
	pthread_mutex_unlock(&g_bdev_mgr.lock);

	axon_io_device_register(bi, bdev_channel_create, bdev_channel_destroy,
				sizeof(struct bdev_channel *), bi->name);
	AXON_DEBUGLOG(bdev, "registered bdev %s (%s)", bi->name, bi->uuid_str);
	if (g_bdev_mgr.opts.bdev_auto_examine) {
		bdev_examine(bdev);
	}
	return 0;
}

void *axon_bdev_get_io_device(struct axon_bdev *bdev)
{
	return bdev->internal;
}

/* ---- descriptors and events ----------------------------------------------- */

static void desc_put_locked(struct axon_bdev_desc *desc)
{
	assert(desc->refs > 0);
	if (--desc->refs == 0 && desc->closed) {
		free(desc);
	}
}

static void desc_event(struct axon_bdev_desc *desc, enum axon_bdev_event_type type)
{
	bool closed;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	closed = desc->closed;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	if (!closed) {
		desc->event_cb(type, desc->bdev, desc->event_ctx);
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	desc_put_locked(desc);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
}

static void _desc_event_remove(void *ctx)
{
	desc_event(ctx, AXON_BDEV_EVENT_REMOVE);
}

static void _desc_event_resize(void *ctx)
{
	desc_event(ctx, AXON_BDEV_EVENT_RESIZE);
}

/* Send an event to every open descriptor. */
static void desc_notify_all_locked(struct bdev_internal *bi, axon_msg_fn fn)
{
	struct axon_bdev_desc *desc;

	TAILQ_FOREACH(desc, &bi->open_descs, link) {
		desc->refs++;
		if (axon_thread_send_msg(desc->thread, fn, desc) != 0) {
			AXON_ERRLOG("bdev %s: cannot reach a descriptor's thread with an event",
				    bi->name);
			desc->refs--;
		}
	}
}

int axon_bdev_open_ext(const char *name, bool write, axon_bdev_event_cb event_cb,
		       void *event_ctx, struct axon_bdev_desc **_desc)
{
	struct axon_bdev_desc *desc;
	struct bdev_internal *bi;
	struct axon_thread *thread = axon_get_thread();

	if (name == NULL || event_cb == NULL || _desc == NULL || thread == NULL) {
		return -EINVAL;
	}
	desc = calloc(1, sizeof(*desc));
	if (desc == NULL) {
		return -ENOMEM;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	bi = bdev_find_locked(name);
	if (bi == NULL || bi->state != BDEV_STATE_ACTIVE) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		free(desc);
		return -ENODEV;
	}
	if (write && bi->claim_module != NULL) {
		AXON_ERRLOG("cannot open bdev %s for writing: claimed by module %s", bi->name,
			    bi->claim_module->name);
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		free(desc);
		return -EPERM;
	}
	desc->bdev = bi->bdev;
	desc->thread = thread;
	desc->event_cb = event_cb;
	desc->event_ctx = event_ctx;
	desc->write = write;
	desc->refs = 1; /* the open itself */
	TAILQ_INSERT_TAIL(&bi->open_descs, desc, link);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	*_desc = desc;
	return 0;
}

static void _unregister_resume(void *ctx)
{
	bdev_unregister_resume(ctx);
}

void axon_bdev_close(struct axon_bdev_desc *desc)
{
	struct bdev_internal *bi = desc->bdev->internal;
	bool resume;

	assert(desc->thread == axon_get_thread());
	pthread_mutex_lock(&g_bdev_mgr.lock);
	TAILQ_REMOVE(&bi->open_descs, desc, link);
	desc->closed = true;
	resume = bi->state == BDEV_STATE_UNREGISTERING && TAILQ_EMPTY(&bi->open_descs);
	desc_put_locked(desc);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	if (resume && axon_thread_send_msg(bi->unreg_thread, _unregister_resume, bi) != 0) {
		AXON_ERRLOG("bdev %s: cannot resume unregistration", bi->name);
	}
}

struct axon_bdev *axon_bdev_desc_get_bdev(struct axon_bdev_desc *desc)
{
	return desc->bdev;
}

bool axon_bdev_desc_is_writable(const struct axon_bdev_desc *desc)
{
	return desc->write;
}

struct axon_io_channel *axon_bdev_get_io_channel(struct axon_bdev_desc *desc)
{
	return axon_get_io_channel(desc->bdev->internal);
}

/* ---- claims, aliases, resize ----------------------------------------------- */

int axon_bdev_module_claim_bdev(struct axon_bdev *bdev, struct axon_bdev_desc *desc,
				struct axon_bdev_module *module)
{
	struct bdev_internal *bi = bdev->internal;
	struct axon_bdev_desc *d;
	int rc = 0;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	if (bi->claim_module != NULL) {
		AXON_ERRLOG("bdev %s is already claimed by module %s", bi->name,
			    bi->claim_module->name);
		rc = -EPERM;
		goto out;
	}
	TAILQ_FOREACH(d, &bi->open_descs, link) {
		if (d->write && d != desc) {
			AXON_ERRLOG("cannot claim bdev %s for module %s: it is open for writing",
				    bi->name, module->name);
			rc = -EPERM;
			goto out;
		}
	}
	bi->claim_module = module;
	if (desc != NULL) {
		desc->write = true;
	}
out:
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	return rc;
}

void axon_bdev_module_release_bdev(struct axon_bdev *bdev)
{
	pthread_mutex_lock(&g_bdev_mgr.lock);
	bdev->internal->claim_module = NULL;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
}

int axon_bdev_alias_add(struct axon_bdev *bdev, const char *alias)
{
	struct bdev_internal *bi = bdev->internal;
	char **aliases, *copy;

	if (alias == NULL || alias[0] == '\0' || strlen(alias) > AXON_BDEV_MAX_NAME_LEN) {
		return -EINVAL;
	}
	copy = strdup(alias);
	if (copy == NULL) {
		return -ENOMEM;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	if (bdev_find_locked(alias) != NULL) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		AXON_ERRLOG("bdev %s: alias %s is already used", bi->name, alias);
		free(copy);
		return -EEXIST;
	}
	aliases = realloc(bi->aliases, (bi->alias_count + 1) * sizeof(char *));
	if (aliases == NULL) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		free(copy);
		return -ENOMEM;
	}
	aliases[bi->alias_count++] = copy;
	bi->aliases = aliases;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	return 0;
}

int axon_bdev_alias_del(struct axon_bdev *bdev, const char *alias)
{
	struct bdev_internal *bi = bdev->internal;
	int rc = -ENOENT;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	for (uint32_t i = 0; i < bi->alias_count; i++) {
		if (strcmp(bi->aliases[i], alias) == 0) {
			free(bi->aliases[i]);
			memmove(&bi->aliases[i], &bi->aliases[i + 1],
				(bi->alias_count - i - 1) * sizeof(char *));
			bi->alias_count--;
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	return rc;
}

int axon_bdev_notify_blockcnt_change(struct axon_bdev *bdev, uint64_t blockcnt)
{
	struct bdev_internal *bi = bdev->internal;

	if (blockcnt == 0) {
		return -EINVAL;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	if (blockcnt < bdev->blockcnt && !TAILQ_EMPTY(&bi->open_descs)) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		return -EBUSY;
	}
	bdev->blockcnt = blockcnt;
	desc_notify_all_locked(bi, _desc_event_resize);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	return 0;
}

/* ---- unregistration -------------------------------------------------------- */

static void unreg_channels_gone(void *io_device)
{
	struct bdev_internal *bi = io_device;

	/* Drop the registration's reference; the last live channel resumes us
	 * if it is not this one. */
	if (atomic_fetch_sub(&bi->live_channels, 1) == 1) {
		bdev_unregister_resume(bi);
	}
}

static void unreg_done(struct bdev_internal *bi)
{
	axon_bdev_unregister_cb cb = bi->unreg_cb;
	void *cb_arg = bi->unreg_cb_arg;
	int rc = bi->unreg_rc;

	AXON_DEBUGLOG(bdev, "bdev %s unregistered (rc %d)", bi->name, rc);
	bdev_internal_free(bi);
	if (cb != NULL) {
		cb(cb_arg, rc);
	}
}

static void unreg_destruct(struct bdev_internal *bi)
{
	struct axon_bdev *bdev = bi->bdev;
	int rc;

	/* Unlink first: the backend frees the bdev, lookups must not find it. */
	pthread_mutex_lock(&g_bdev_mgr.lock);
	TAILQ_REMOVE(&g_bdev_mgr.bdevs, bi, link);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	bi->unreg_step = UNREG_WAIT_DESTRUCT;
	rc = bdev->fn_table->destruct(bdev->ctxt);
	if (rc > 0) {
		return; /* axon_bdev_destruct_done() resumes */
	}
	if (rc < 0) {
		AXON_ERRLOG("bdev %s: destruct failed: %s", bi->name, strerror(-rc));
	}
	bi->unreg_rc = rc;
	bi->unreg_step = UNREG_DONE;
}

void bdev_unregister_resume(struct bdev_internal *bi)
{
	enum bdev_unreg_step prev;
	bool empty;

	do {
		prev = bi->unreg_step;
		switch (bi->unreg_step) {
		case UNREG_NOTIFY:
			pthread_mutex_lock(&g_bdev_mgr.lock);
			desc_notify_all_locked(bi, _desc_event_remove);
			pthread_mutex_unlock(&g_bdev_mgr.lock);
			bi->unreg_step = UNREG_WAIT_CLOSE;
			break;
		case UNREG_WAIT_CLOSE:
			pthread_mutex_lock(&g_bdev_mgr.lock);
			empty = TAILQ_EMPTY(&bi->open_descs);
			pthread_mutex_unlock(&g_bdev_mgr.lock);
			if (empty) {
				bi->unreg_step = UNREG_CHANNELS;
			}
			break;
		case UNREG_CHANNELS:
			/* Leave the state first: the callback may run at once. */
			bi->unreg_step = UNREG_WAIT_IO;
			axon_io_device_unregister(bi, unreg_channels_gone);
			return;
		case UNREG_WAIT_IO:
			if (atomic_load(&bi->live_channels) == 0) {
				bi->unreg_step = UNREG_DESTRUCT;
			}
			break;
		case UNREG_DESTRUCT:
			unreg_destruct(bi);
			break;
		case UNREG_WAIT_DESTRUCT:
			break;
		case UNREG_DONE:
			unreg_done(bi);
			return;
		}
	} while (bi->unreg_step != prev);
}

struct destruct_done_ctx {
	struct bdev_internal *bi;
	int rc;
};

static void _destruct_done(void *ctx)
{
	struct destruct_done_ctx *d = ctx;
	struct bdev_internal *bi = d->bi;

	bi->unreg_rc = d->rc;
	free(d);
	assert(bi->unreg_step == UNREG_WAIT_DESTRUCT);
	bi->unreg_step = UNREG_DONE;
	bdev_unregister_resume(bi);
}

void axon_bdev_destruct_done(struct axon_bdev *bdev, int rc)
{
	struct bdev_internal *bi = bdev->internal;
	struct destruct_done_ctx *d = malloc(sizeof(*d));

	if (d == NULL) {
		/* Out of memory on the way out: finish without the rc. */
		AXON_ERRLOG("bdev %s: no memory to report destruct completion", bi->name);
		return;
	}
	d->bi = bi;
	d->rc = rc;
	if (axon_thread_send_msg(bi->unreg_thread, _destruct_done, d) != 0) {
		AXON_ERRLOG("bdev %s: cannot report destruct completion", bi->name);
		free(d);
	}
}

void axon_bdev_unregister(struct axon_bdev *bdev, axon_bdev_unregister_cb cb, void *cb_arg)
{
	struct bdev_internal *bi;

	if (bdev == NULL || bdev->internal == NULL) {
		if (cb != NULL) {
			cb(cb_arg, -ENODEV);
		}
		return;
	}
	bi = bdev->internal;
	pthread_mutex_lock(&g_bdev_mgr.lock);
	if (bi->state != BDEV_STATE_ACTIVE) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		if (cb != NULL) {
			cb(cb_arg, -EBUSY);
		}
		return;
	}
	bi->state = BDEV_STATE_UNREGISTERING;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	bi->unreg_thread = axon_get_thread();
	bi->unreg_cb = cb;
	bi->unreg_cb_arg = cb_arg;
	bi->unreg_step = UNREG_NOTIFY;
	bdev_unregister_resume(bi);
}

int axon_bdev_unregister_by_name(const char *name, struct axon_bdev_module *module,
				 axon_bdev_unregister_cb cb, void *cb_arg)
{
	struct axon_bdev *bdev = axon_bdev_get_by_name(name);

	if (bdev == NULL) {
		return -ENODEV;
	}
	if (bdev->module != module) {
		return -EINVAL;
	}
	axon_bdev_unregister(bdev, cb, cb_arg);
	return 0;
}

/* Subsystem shutdown: unregister the newest bdev, then the next, so that a
 * bdev stacked on others goes before them. Bdevs that someone else is
 * already unregistering are waited for by a timed poller. */
#define UNREGISTER_ALL_POLL_US 1000u

static void (*g_unregister_all_cb)(void);
static struct axon_poller *g_unregister_all_poller;

static int unregister_all_poll(void *ctx);

static void unregister_all_next(void *ctx, int rc)
{
	struct bdev_internal *bi;

	(void)ctx;
	(void)rc;
	pthread_mutex_lock(&g_bdev_mgr.lock);
	bi = TAILQ_LAST(&g_bdev_mgr.bdevs, bdev_internal_list_head);
	while (bi != NULL && bi->state != BDEV_STATE_ACTIVE) {
		bi = TAILQ_PREV(bi, bdev_internal_list_head, link);
	}
	rc = TAILQ_EMPTY(&g_bdev_mgr.bdevs);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	if (bi != NULL) {
		axon_bdev_unregister(bi->bdev, unregister_all_next, NULL);
		return;
	}
	if (!rc) {
		if (g_unregister_all_poller == NULL) {
			g_unregister_all_poller = axon_poller_register(unregister_all_poll, NULL,
								       UNREGISTER_ALL_POLL_US);
		}
		return;
	}
	axon_poller_unregister(&g_unregister_all_poller);
	g_unregister_all_cb();
}

static int unregister_all_poll(void *ctx)
{
	unregister_all_next(ctx, 0);
	return AXON_POLLER_BUSY;
}

void bdev_unregister_all(void (*cb)(void))
{
	g_unregister_all_cb = cb;
	unregister_all_next(NULL, 0);
}

/* ---- getters ---------------------------------------------------------------- */

const char *axon_bdev_get_name(const struct axon_bdev *bdev)
{
	return bdev->internal->name;
}

const char *axon_bdev_get_product_name(const struct axon_bdev *bdev)
{
	return bdev->internal->product_name;
}

const char *axon_bdev_get_module_name(const struct axon_bdev *bdev)
{
	return bdev->module->name;
}

const char *const *axon_bdev_get_aliases(const struct axon_bdev *bdev, uint32_t *count)
{
	*count = bdev->internal->alias_count;
	return (const char *const *)bdev->internal->aliases;
}

const struct axon_uuid *axon_bdev_get_uuid(const struct axon_bdev *bdev)
{
	return &bdev->uuid;
}

uint32_t axon_bdev_get_block_size(const struct axon_bdev *bdev)
{
	return bdev->blocklen;
}

uint64_t axon_bdev_get_num_blocks(const struct axon_bdev *bdev)
{
	return bdev->blockcnt;
}

uint32_t axon_bdev_get_optimal_io_boundary(const struct axon_bdev *bdev)
{
	return bdev->optimal_io_boundary;
}

uint32_t axon_bdev_get_write_unit_size(const struct axon_bdev *bdev)
{
	return bdev->write_unit_size > 1 ? bdev->write_unit_size : 1;
}

size_t axon_bdev_get_buf_align(const struct axon_bdev *bdev)
{
	return (size_t)1 << bdev->required_alignment;
}

uint32_t axon_bdev_get_md_size(const struct axon_bdev *bdev)
{
	return bdev->md_len;
}

bool axon_bdev_is_md_interleaved(const struct axon_bdev *bdev)
{
	return bdev->md_len != 0 && bdev->md_interleave;
}

bool axon_bdev_is_claimed(const struct axon_bdev *bdev, const char **module_name)
{
	struct axon_bdev_module *m;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	m = bdev->internal->claim_module;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	if (module_name != NULL) {
		*module_name = m != NULL ? m->name : NULL;
	}
	return m != NULL;
}

int axon_bdev_get_memory_domains(struct axon_bdev *bdev, struct axon_memory_domain **domains,
				 int array_size)
{
	const struct bdev_internal *bi = bdev->internal;

	if (array_size < 0 || (domains == NULL && array_size > 0)) {
		return -EINVAL;
	}
	for (int i = 0; i < bi->domain_count && i < array_size; i++) {
		domains[i] = bi->domains[i];
	}
	return bi->domain_count;
}

bool axon_bdev_io_type_supported_native(struct axon_bdev *bdev, enum axon_bdev_io_type type)
{
	if (type <= AXON_BDEV_IO_TYPE_INVALID || type >= AXON_BDEV_NUM_IO_TYPES) {
		return false;
	}
	return (bdev->internal->native_types >> type) & 1;
}

bool axon_bdev_io_type_supported(struct axon_bdev *bdev, enum axon_bdev_io_type type)
{
	switch (type) {
	case AXON_BDEV_IO_TYPE_WRITE_ZEROES:
	case AXON_BDEV_IO_TYPE_COMPARE:
	case AXON_BDEV_IO_TYPE_COMPARE_AND_WRITE:
		/* Emulated with reads and writes, which every bdev has. Separate
		 * metadata is not emulated. */
		return axon_bdev_io_type_supported_native(bdev, type) ||
		       bdev->md_len == 0 || bdev->md_interleave;
	default:
		return axon_bdev_io_type_supported_native(bdev, type);
	}
}
