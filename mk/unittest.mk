# A CUnit test. Set TEST_NAME, C_SRCS (usually one *_ut.c that may #include the
# .c under test) and AXON_LIBS (modules to link, never the one included).
# Libraries are linked as a group, not whole: only what the test uses is pulled in.
# Produces build/unit/<path>/<TEST_NAME>; test/unit/run.sh runs every one.
include $(AXON_ROOT)/mk/common.mk

OBJS := $(addprefix $(OBJ_DIR)/,$(C_SRCS:.c=.o))
BIN := $(UT_DIR)/$(patsubst test/unit/%,%,$(REL_DIR))/$(TEST_NAME)
LOCAL_CFLAGS += -I$(abspath $(AXON_ROOT)) -Wno-missing-prototypes

.PHONY: all clean install
all: $(BIN)
$(BIN): $(OBJS) $(call axon_lib_files,$(AXON_LIBS))
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  LINK $(REL_DIR)/$(TEST_NAME)")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(OBJS) -Wl,--start-group $(call axon_lib_files,$(AXON_LIBS)) -Wl,--end-group $(LOCAL_LIBS) $(CUNIT_LIBS) $(DPDK_LIBS) $(SYS_LIBS)
clean:
	$(Q)rm -rf $(OBJ_DIR) $(BIN)
install:
	@:
