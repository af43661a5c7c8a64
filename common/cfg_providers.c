/*
 * cfg_providers.c -- the providers list of the configuration. With no list in the file,
 * one provider named "default" is made from the defaults below, so longtask always has
 * somewhere to send llm.chat; LONGTASK_LLM_BASE_URL and LONGTASK_LLM_API_KEY override the
 * default provider (llm.default_provider) whatever the file says. Keys are never in the
 * file: each provider names the environment variable that holds its key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "cfg_read.h"
#include "cfg_types.h"

static const char *const provider_keys[] = {"name",
                                            "base_url",
                                            "api_key_env",
                                            "model",
                                            "timeout_s",
                                            "connect_timeout_s",
                                            "max_concurrent",
                                            "fallback",
                                            "circuit_failures",
                                            "circuit_cooldown_s",
                                            NULL};

static struct lt_provider_cfg *add_provider(struct lt_cfg *cfg, const char *name)
{
    struct lt_provider_cfg *p = realloc(cfg->providers, sizeof(*p) * (size_t)(cfg->nproviders + 1));
    if (p == NULL) {
        return NULL;
    }
    cfg->providers = p;
    p = &cfg->providers[cfg->nproviders++];
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->base_url = strdup("https://api.openai.com/v1");
    p->api_key_env = strdup("OPENAI_API_KEY");
    p->model = strdup("gpt-4o-mini");
    p->timeout_s = 120;
    p->connect_timeout_s = 10;
    p->max_concurrent = 64;
    p->circuit_failures = 5;
    p->circuit_cooldown_s = 30;
    if (p->base_url == NULL || p->api_key_env == NULL || p->model == NULL) {
        return NULL;
    }
    return p;
}

static int read_entry(struct lt_cfg *cfg, const char *file, config_setting_t *g, struct lt_err *err)
{
    const char *name = NULL;
    char prefix[128];

    if (!config_setting_is_group(g)) {
        return lt_cfg_where(err, file, g, "providers",
                            "each entry must be a group { name = ...; base_url = ...; }");
    }
    if (!config_setting_lookup_string(g, "name", &name) || !lt_cfg_name_ok(name)) {
        return lt_cfg_where(err, file, g, "providers.name",
                            "each provider needs a name of 1-58 characters of [A-Za-z0-9_.-]");
    }
    snprintf(prefix, sizeof(prefix), "providers.%s", name);
    struct lt_cfg_ctx x = {file, prefix};
    if (lt_cfg_provider(cfg, name) != NULL) {
        return lt_cfg_where(err, file, g, prefix, "is defined twice");
    }
    struct lt_provider_cfg *p = add_provider(cfg, name);
    if (p == NULL) {
        return lt_err_set(err, "out of memory");
    }
    if (lt_cfg_only_keys(&x, g, provider_keys, err) < 0 ||
        lt_cfg_member_str(&x, g, "base_url", &p->base_url, err) < 0 ||
        lt_cfg_member_str(&x, g, "api_key_env", &p->api_key_env, err) < 0 ||
        lt_cfg_member_str(&x, g, "model", &p->model, err) < 0 ||
        lt_cfg_member_int(&x, g, "timeout_s", 1, 86400, &p->timeout_s, err) < 0 ||
        lt_cfg_member_int(&x, g, "connect_timeout_s", 1, 600, &p->connect_timeout_s, err) < 0 ||
        lt_cfg_member_int(&x, g, "max_concurrent", 1, 100000, &p->max_concurrent, err) < 0 ||
        lt_cfg_member_name(&x, g, "fallback", 1, p->fallback, err) < 0 ||
        lt_cfg_member_int(&x, g, "circuit_failures", 1, 10000, &p->circuit_failures, err) < 0 ||
        lt_cfg_member_int(&x, g, "circuit_cooldown_s", 1, 86400, &p->circuit_cooldown_s, err) < 0) {
        return -1;
    }
    if (strncmp(p->base_url, "http://", 7) != 0 && strncmp(p->base_url, "https://", 8) != 0) {
        char path[192];
        snprintf(path, sizeof(path), "%s.base_url", prefix);
        return lt_cfg_where(err, file, config_setting_get_member(g, "base_url"), path,
                            "must be an http:// or https:// URL");
    }
    return 0;
}

static int check_fallbacks(struct lt_cfg *cfg, const char *file, struct lt_err *err)
{
    for (int i = 0; i < cfg->nproviders; i++) {
        const char *fb = cfg->providers[i].fallback;
        if (fb[0] == '\0') {
            continue;
        }
        if (lt_cfg_provider(cfg, fb) == NULL || strcmp(fb, cfg->providers[i].name) == 0) {
            char what[160];
            snprintf(what, sizeof(what), "names '%s', which is not another configured provider",
                     fb);
            return lt_err_set(err, "%s: setting 'providers.%s.fallback': %s",
                              file != NULL ? file : "(defaults)", cfg->providers[i].name, what);
        }
    }
    return 0;
}

static int set_env_str(char **dst, const char *v, struct lt_err *err)
{
    char *copy = strdup(v);
    if (copy == NULL) {
        return lt_err_set(err, "out of memory");
    }
    free(*dst);
    *dst = copy;
    return 0;
}

int lt_cfg_read_providers(struct lt_cfg *cfg, config_t *c, const char *file, struct lt_err *err)
{
    config_setting_t *list = c != NULL ? config_lookup(c, "providers") : NULL;

    if (list != NULL) {
        if (!config_setting_is_list(list)) {
            return lt_cfg_where(err, file, list, "providers",
                                "must be a list of groups: ( { name = ...; } )");
        }
        for (int i = 0; i < config_setting_length(list); i++) {
            if (read_entry(cfg, file, config_setting_get_elem(list, (unsigned)i), err) < 0) {
                return -1;
            }
        }
    }
    if (cfg->nproviders == 0 && add_provider(cfg, "default") == NULL) {
        return lt_err_set(err, "out of memory");
    }
    if (check_fallbacks(cfg, file, err) < 0) {
        return -1;
    }
    struct lt_provider_cfg *def = (struct lt_provider_cfg *)lt_cfg_provider(cfg, NULL);
    if (def == NULL) {
        return lt_err_set(err,
                          "%s: setting 'llm.default_provider': names '%s', which is not "
                          "a configured provider",
                          file != NULL ? file : "(defaults)", cfg->llm_default_provider);
    }
    for (int i = 0; i < cfg->nproviders; i++) {
        struct lt_provider_cfg *p = &cfg->providers[i];
        const char *key = p->api_key_env[0] != '\0' ? getenv(p->api_key_env) : NULL;
        if (key != NULL && key[0] != '\0' && set_env_str(&p->api_key, key, err) < 0) {
            return -1;
        }
    }
    const char *v = getenv("LONGTASK_LLM_BASE_URL");
    if (v != NULL && v[0] != '\0' && set_env_str(&def->base_url, v, err) < 0) {
        return -1;
    }
    v = getenv("LONGTASK_LLM_API_KEY");
    if (v != NULL && v[0] != '\0' && set_env_str(&def->api_key, v, err) < 0) {
        return -1;
    }
    return 0;
}

void lt_cfg_free_providers(struct lt_cfg *cfg)
{
    for (int i = 0; i < cfg->nproviders; i++) {
        struct lt_provider_cfg *p = &cfg->providers[i];
        free(p->base_url);
        free(p->api_key_env);
        free(p->api_key);
        free(p->model);
    }
    free(cfg->providers);
    cfg->providers = NULL;
    cfg->nproviders = 0;
}

const struct lt_provider_cfg *lt_cfg_provider(const struct lt_cfg *cfg, const char *name)
{
    if (name == NULL || name[0] == '\0') {
        name = cfg->llm_default_provider;
        if (name == NULL || name[0] == '\0') {
            return cfg->nproviders > 0 ? &cfg->providers[0] : NULL; /* the first one */
        }
    }
    for (int i = 0; i < cfg->nproviders; i++) {
        if (strcmp(cfg->providers[i].name, name) == 0) {
            return &cfg->providers[i];
        }
    }
    return NULL;
}
