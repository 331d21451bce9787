# Axon: one recursive make. ./configure first (writes mk/config.mk).
AXON_ROOT := .
DIRS-y := lib drivers app test
include mk/subdirs.mk

# Libraries are built before the programs and tests that link them.
drivers app test: lib
app test: drivers

.PHONY: check
# The whole suite, as run by scripts/run_tests.sh (which also configures and builds).
check: all
	$(Q)test/run_all.sh

install: install-extra
.PHONY: install-extra
install-extra:
	install -d $(DESTDIR)$(CONFIG_PREFIX)/include/axon $(DESTDIR)$(CONFIG_PREFIX)/bin \
		$(DESTDIR)$(CONFIG_PREFIX)/lib/systemd/system
	install -m 0644 include/axon/*.h $(DESTDIR)$(CONFIG_PREFIX)/include/axon/
	install -d $(DESTDIR)$(CONFIG_PREFIX)/lib/axon/rpc
	install -m 0755 scripts/rpc.py $(DESTDIR)$(CONFIG_PREFIX)/lib/axon/rpc.py
	install -m 0644 scripts/rpc/*.py $(DESTDIR)$(CONFIG_PREFIX)/lib/axon/rpc/
	ln -sf ../lib/axon/rpc.py $(DESTDIR)$(CONFIG_PREFIX)/bin/axon-rpc
	sed 's|@PREFIX@|$(CONFIG_PREFIX)|g' scripts/axond.service > \
		$(DESTDIR)$(CONFIG_PREFIX)/lib/systemd/system/axond.service
	chmod 0644 $(DESTDIR)$(CONFIG_PREFIX)/lib/systemd/system/axond.service
	# The unit reads /etc/axon/axond.json; never overwrite an operator's file.
	install -d $(DESTDIR)/etc/axon
	[ -e $(DESTDIR)/etc/axon/axond.json ] || install -m 0644 scripts/default_config.json $(DESTDIR)/etc/axon/axond.json

distclean: clean
	rm -rf build mk/config.mk
