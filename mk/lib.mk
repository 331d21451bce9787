# A library module. Set LIBNAME and C_SRCS; optional LOCAL_CFLAGS.
# Produces build/lib/libaxon_$(LIBNAME).a.
include $(AXON_ROOT)/mk/common.mk

OBJS := $(addprefix $(OBJ_DIR)/,$(C_SRCS:.c=.o))
LIB := $(LIB_DIR)/libaxon_$(LIBNAME).a

.PHONY: all clean install
all: $(LIB)
$(LIB): $(OBJS)
	@mkdir -p $(LIB_DIR)
	$(if $(Q),@echo "  AR $(notdir $@)")
	$(Q)rm -f $@ && ar crs $@ $^
clean:
	$(Q)rm -rf $(OBJ_DIR) $(LIB)
install:
	@:
