/*
 * Controller reset and reconnect: tear the admin queue down, run the init
 * state machine again, and on failure retry after reconnect_delay_sec
 * until ctrlr_loss_timeout_sec, when the controller is given up.
 */
#include <errno.h>

#include "nvme_internal.h"

static uint64_t sec_to_us(uint64_t sec)
{
	return sec * 1000000u;
}

static bool reset_loss_timeout_passed(const struct axon_nvme_ctrlr *ctrlr, uint64_t now)
{
	int32_t loss = ctrlr->opts.ctrlr_loss_timeout_sec;

	return loss >= 0 && now - ctrlr->reset_start_us >= sec_to_us((uint64_t)loss);
}

static void reset_take_down_adminq(struct axon_nvme_ctrlr *ctrlr)
{
	ctrlr->ops->qpair_disconnect(ctrlr->adminq);
	nvme_qpair_abort_all(ctrlr->adminq, AXON_NVME_STATUS(0, NVME_SC_ABORTED_SQ_DELETION_CODE));
	ctrlr->adminq->state = AXON_NVME_QPAIR_DISCONNECTED;
	ctrlr->keep_alive_outstanding = false;
}

static void reset_give_up(struct axon_nvme_ctrlr *ctrlr)
{
	AXON_ERRLOG("%s (%s): controller lost: no reconnect within %d s\n", ctrlr->trid.traddr,
		    ctrlr->trid.subnqn, ctrlr->opts.ctrlr_loss_timeout_sec);
	reset_take_down_adminq(ctrlr);
	__atomic_store_n(&ctrlr->failed, true, __ATOMIC_RELEASE);
	ctrlr->reset_state = NVME_RESET_NONE;
	nvme_ctrlr_set_state(ctrlr, AXON_NVME_CTRLR_STATE_ERROR, 0);
}

static void reset_begin(struct axon_nvme_ctrlr *ctrlr)
{
	ctrlr->reset_start_us = nvme_now_us();
	ctrlr->fast_io_fail = false;
	ctrlr->reset_state = NVME_RESET_DISCONNECT;
	/* I/O qpairs on other threads read this to know they must wait. */
	nvme_ctrlr_set_state(ctrlr, AXON_NVME_CTRLR_STATE_INIT, 0);
}

int axon_nvme_ctrlr_reset(struct axon_nvme_ctrlr *ctrlr)
{
	if (ctrlr->failed) {
		return -ENXIO;
	}
	if (ctrlr->reset_state != NVME_RESET_NONE || ctrlr->state != AXON_NVME_CTRLR_STATE_READY) {
		return -EBUSY;
	}
	AXON_NOTICELOG("%s (%s): resetting the controller\n", ctrlr->trid.traddr,
		       ctrlr->trid.subnqn);
	reset_begin(ctrlr);
	return 0;
}

void nvme_ctrlr_connection_lost(struct axon_nvme_ctrlr *ctrlr)
{
	if (ctrlr->failed || ctrlr->reset_state != NVME_RESET_NONE || ctrlr->detaching) {
		return;
	}
	if (ctrlr->opts.ctrlr_loss_timeout_sec == 0) {
		ctrlr->reset_start_us = nvme_now_us();
		reset_give_up(ctrlr);
		return;
	}
	AXON_WARNLOG("%s (%s): admin connection lost; reconnecting\n", ctrlr->trid.traddr,
		     ctrlr->trid.subnqn);
	reset_begin(ctrlr);
}

/* One attempt failed: wait, or give up. */
static void reset_attempt_failed(struct axon_nvme_ctrlr *ctrlr, int rc)
{
	uint64_t now = nvme_now_us();

	reset_take_down_adminq(ctrlr);
	if (reset_loss_timeout_passed(ctrlr, now)) {
		reset_give_up(ctrlr);
		return;
	}
	AXON_WARNLOG("%s: reconnect failed (%d); next try in %u s\n", ctrlr->trid.traddr, rc,
		     ctrlr->opts.reconnect_delay_sec);
	ctrlr->reconnect_at_us = now + sec_to_us(ctrlr->opts.reconnect_delay_sec);
	ctrlr->reset_state = NVME_RESET_WAIT_DELAY;
}

void nvme_ctrlr_reset_poll(struct axon_nvme_ctrlr *ctrlr)
{
	uint64_t now = nvme_now_us();
	int rc;

	if (ctrlr->opts.fast_io_fail_timeout_sec != 0 &&
	    now - ctrlr->reset_start_us >= sec_to_us(ctrlr->opts.fast_io_fail_timeout_sec)) {
		ctrlr->fast_io_fail = true;
	}
	switch (ctrlr->reset_state) {
	case NVME_RESET_NONE:
		return;
	case NVME_RESET_DISCONNECT:
		reset_take_down_adminq(ctrlr);
		ctrlr->reset_state = NVME_RESET_REINIT;
		nvme_ctrlr_start_init(ctrlr);
		return;
	case NVME_RESET_WAIT_DELAY:
		if (reset_loss_timeout_passed(ctrlr, now)) {
			reset_give_up(ctrlr);
		} else if (now >= ctrlr->reconnect_at_us) {
			ctrlr->reset_state = NVME_RESET_DISCONNECT;
		}
		return;
	case NVME_RESET_REINIT:
		rc = nvme_ctrlr_init_poll(ctrlr);
		if (rc == -EAGAIN) {
			return;
		}
		if (rc != 0) {
			reset_attempt_failed(ctrlr, rc);
			return;
		}
		AXON_NOTICELOG("%s (%s): controller reconnected (cntlid %u)\n", ctrlr->trid.traddr,
			       ctrlr->trid.subnqn, ctrlr->cntlid);
		ctrlr->reset_state = NVME_RESET_NONE;
		return;
	}
}

bool axon_nvme_ctrlr_is_fast_io_fail(const struct axon_nvme_ctrlr *ctrlr)
{
	return ctrlr->failed || ctrlr->fast_io_fail;
}
