/* libctfs: the public interface shared by the daemon and ctfs-tool. */
#ifndef CTFS_H
#define CTFS_H

#include "util.h"
#include "log.h"

#endif
