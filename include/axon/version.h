/*
 * Axon's version: the single place it is defined. Reported by axon_get_version
 * (and spdk_get_version, kept for compatibility with existing clients).
 */
#ifndef AXON_VERSION_H
#define AXON_VERSION_H

#define AXON_VERSION_MAJOR 0
#define AXON_VERSION_MINOR 1
#define AXON_VERSION_PATCH 0
#define AXON_VERSION_SUFFIX "-pre"

#define AXON_VERSION_STRINGIFY_(x) #x
#define AXON_VERSION_STRINGIFY(x) AXON_VERSION_STRINGIFY_(x)
/* "Axon v0.1.0-pre" */
#define AXON_VERSION_STRING                                                        \
	"Axon v" AXON_VERSION_STRINGIFY(AXON_VERSION_MAJOR) "." AXON_VERSION_STRINGIFY( \
		AXON_VERSION_MINOR) "." AXON_VERSION_STRINGIFY(AXON_VERSION_PATCH)        \
		AXON_VERSION_SUFFIX

#endif /* AXON_VERSION_H */
