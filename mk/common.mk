# Shared settings for every directory. Each directory Makefile sets AXON_ROOT
# (relative path to the top) and includes exactly one of lib.mk, app.mk,
# unittest.mk or subdirs.mk, which include this file.
ifndef AXON_COMMON_MK
AXON_COMMON_MK := 1
ifeq ($(wildcard $(AXON_ROOT)/mk/config.mk),)
$(error mk/config.mk is missing: run ./configure first)
endif
include $(AXON_ROOT)/mk/config.mk

BUILD_DIR := $(abspath $(AXON_ROOT)/build)
LIB_DIR := $(BUILD_DIR)/lib
BIN_DIR := $(BUILD_DIR)/bin
UT_DIR := $(BUILD_DIR)/unit

CFLAGS := -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
	-Wmissing-prototypes -Wstrict-prototypes -Wformat=2 -Wshadow=local \
	-fno-strict-aliasing -fPIC -D_GNU_SOURCE -pthread \
	-I$(abspath $(AXON_ROOT)/include) $(DPDK_CFLAGS) $(SYS_CFLAGS)
LDFLAGS := -pthread

ifeq ($(CONFIG_DEBUG),y)
CFLAGS += -O0 -g3 -DDEBUG
else
CFLAGS += -O2 -g -DNDEBUG
endif
ifeq ($(CONFIG_ASAN),y)
CFLAGS += -fsanitize=address -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address
endif
ifeq ($(CONFIG_UBSAN),y)
CFLAGS += -fsanitize=undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=undefined
endif
ifeq ($(CONFIG_RDMA),y)
CFLAGS += -DAXON_CONFIG_RDMA=1
endif
ifeq ($(CONFIG_ISAL),y)
CFLAGS += -DAXON_CONFIG_ISAL=1
endif
ifeq ($(CONFIG_SYSTEMD),y)
CFLAGS += -DAXON_CONFIG_SYSTEMD=1
endif

# Link order for programs: later libraries serve earlier ones.
# AXON_LIBS in a directory Makefile lists module names (thread, env, ...);
# they are linked whole so that self-registering drivers are kept.
axon_lib_files = $(foreach l,$(1),$(LIB_DIR)/libaxon_$(l).a)
axon_link_libs = -Wl,--whole-archive $(call axon_lib_files,$(1)) -Wl,--no-whole-archive

# The dependency files included below must not make an object the default target.
.DEFAULT_GOAL := all

Q ?= @
ifeq ($(V),1)
Q :=
endif

OBJ_DIR = $(BUILD_DIR)/obj/$(REL_DIR)
REL_DIR := $(patsubst $(abspath $(AXON_ROOT))/%,%,$(CURDIR))

$(OBJ_DIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  CC $(REL_DIR)/$<")
	$(Q)$(CC) $(CFLAGS) $(LOCAL_CFLAGS) -MMD -MP -c $< -o $@

-include $(wildcard $(OBJ_DIR)/*.d)
endif # AXON_COMMON_MK
