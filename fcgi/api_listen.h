/*
 * api_listen.h -- the unix socket nginx talks FastCGI to: opened once by the parent
 * before it forks (every child accepts on the same descriptor), removed at exit.
 *
 * A socket file left by a crashed run is removed first; a socket some live process
 * still accepts on is not (two APIs on one path would split traffic silently), and a
 * path that is not a socket is never deleted.
 */
#ifndef LT_API_LISTEN_H
#define LT_API_LISTEN_H

#include "cfg.h"
#include "err.h"

/* Opens cfg->api_socket with cfg->api_backlog and cfg->api_socket_mode.
 * Returns the descriptor, or -1 with err. FCGX_Init() must have run. */
int lt_api_listen_open(const struct lt_cfg *cfg, struct lt_err *err);

/* Closes fd and removes the socket file. */
void lt_api_listen_close(const struct lt_cfg *cfg, int fd);

#endif
