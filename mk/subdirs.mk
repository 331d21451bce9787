# A directory that only recurses. Set DIRS-y (and DIRS-$(CONFIG_X)) first.
# Directories that do not exist yet are skipped, so work in progress elsewhere
# in the tree never breaks the build.
include $(AXON_ROOT)/mk/common.mk

SUBDIRS := $(foreach d,$(DIRS-y),$(if $(wildcard $(d)/Makefile),$(d)))

.PHONY: all clean install $(SUBDIRS)
all: $(SUBDIRS)
$(SUBDIRS):
	$(Q)$(MAKE) -C $@ --no-print-directory all
clean:
	$(Q)for d in $(SUBDIRS); do $(MAKE) -C $$d --no-print-directory clean || exit 1; done
install:
	$(Q)for d in $(SUBDIRS); do $(MAKE) -C $$d --no-print-directory install || exit 1; done
