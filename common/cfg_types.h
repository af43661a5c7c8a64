/*
 * cfg_types.h -- the loader's parts for the types and providers lists (internal to the
 * configuration loader; programs use cfg.h).
 */
#ifndef LT_CFG_TYPES_H
#define LT_CFG_TYPES_H

#include <libconfig.h>

#include "cfg.h"

int lt_cfg_read_types(struct lt_cfg *cfg, config_t *c, const char *file, struct lt_err *err);
void lt_cfg_free_types(struct lt_cfg *cfg);

/* Reads providers; then applies LONGTASK_LLM_BASE_URL / LONGTASK_LLM_API_KEY to the
 * default provider and resolves every key from its environment variable. */
int lt_cfg_read_providers(struct lt_cfg *cfg, config_t *c, const char *file, struct lt_err *err);
void lt_cfg_free_providers(struct lt_cfg *cfg);

#endif
