/* version.h - the one version string every pageshadow tool reports. */
#ifndef PS_VERSION_H
#define PS_VERSION_H

#define PS_VERSION "0.1.0"

#endif
