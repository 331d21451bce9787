# A program. Set APP, C_SRCS and AXON_LIBS (module names, most dependent first);
# optional LOCAL_CFLAGS, LOCAL_LIBS, and APP_INSTALL=y to install it in bin/.
include $(AXON_ROOT)/mk/common.mk

OBJS := $(addprefix $(OBJ_DIR)/,$(C_SRCS:.c=.o))
BIN := $(BIN_DIR)/$(APP)

.PHONY: all clean install
all: $(BIN)
$(BIN): $(OBJS) $(call axon_lib_files,$(AXON_LIBS))
	@mkdir -p $(BIN_DIR)
	$(if $(Q),@echo "  LINK $(APP)")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(OBJS) $(call axon_link_libs,$(AXON_LIBS)) $(LOCAL_LIBS) $(DPDK_LIBS) $(SYS_LIBS)
clean:
	$(Q)rm -rf $(OBJ_DIR) $(BIN)
install: $(BIN)
ifeq ($(APP_INSTALL),y)
	install -d $(DESTDIR)$(CONFIG_PREFIX)/bin
	install -m 0755 $(BIN) $(DESTDIR)$(CONFIG_PREFIX)/bin/$(APP)
endif
