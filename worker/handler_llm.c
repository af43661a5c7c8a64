/*
 * handler_llm.c -- the `llm.chat` type: one chat completion against an OpenAI-compatible
 * provider (API.md "Built-in task types", CONVENTIONS.md "OpenAI-compatible providers").
 *
 * A call goes through four steps, each asynchronous on the child's loop:
 *   1. the payload is checked (garbage is a permanent failure, whatever the API let in)
 *      and a provider chosen: the payload's or the default; when that provider's circuit
 *      is open, its fallback (if configured and closed), else the task retries when the
 *      cool-down ends;
 *   2. a slot of the provider's max_concurrent cap is taken, or the call waits in the
 *      provider's FIFO (provider.h) until a finishing call hands its slot on;
 *   3. the request is a libcurl easy handle on the loop's multi handle: never a blocking
 *      call, whole-call timeout = min(provider timeout, what is left of the task's
 *      timeout), a body capped at llm.max_response_bytes. With `stream: true` the SSE
 *      events are parsed as they arrive (sse.h, llm_reply.h) and the text so far is
 *      written to the task's result at most every llm.stream_write_ms;
 *   4. the end is classified: success; retryable (connection errors, timeouts, 408, 409,
 *      429, 5xx -- with the provider's Retry-After); permanent (other 4xx, with the
 *      provider's error.message); or malformed.
 *
 * Malformed answers (a body that is not a chat completion, a stream cut before its
 * finish) are retryable once, then permanent. The second time is recognised from the
 * task itself, not from state in this child (the retry may run anywhere): the claim
 * returns the error the previous attempt left (task->prev_error), and every malformed
 * failure's error starts with MALFORMED_PREFIX, so an attempt that finds its
 * predecessor failed the same way gives up. A different failure in between (a 503, a
 * timeout) resets that, which is the intent: "the same garbage twice in a row".
 *
 * Logs: one llm_request line when a call is sent and one llm_response line when it ends
 * (also when it is abandoned), with ids, provider, model, token counts, duration and
 * the error -- never the key, never message contents.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "handler.h"
#include "llm_classify.h"
#include "llm_payload.h"
#include "llm_reply.h"
#include "log.h"
#include "provider.h"
#include "sse.h"

#define MALFORMED_PREFIX "malformed response"
/* Streaming progress without max_tokens: n pieces give 95 * n / (n + this), which
 * rises quickly at first and never reaches the cap. */
#define PROGRESS_HALF_PIECES 50
#define PROGRESS_STREAM_CAP 95
#define ERR_LEN 512

enum body_mode { MODE_UNDECIDED, MODE_BUFFER, MODE_SSE };
enum stop_reason { STOP_NONE, STOP_TOO_LARGE, STOP_MALFORMED, STOP_PROVIDER_ERROR, STOP_NOMEM };

struct llm_call {
    struct lt_wrk_task *task;
    const struct lt_provider_cfg *prov; /* the provider called */
    const char *fallback_from;          /* the provider refused by its circuit, or NULL */
    int trial;                          /* admitted as the circuit's half-open trial */
    int holds_slot;
    struct lt_wrk_provider_waiter waiter;
    char *request; /* the request body (JSON text) */
    char *model;   /* the model asked for */
    int stream;
    long long max_tokens;

    CURL *easy; /* while the transfer runs */
    struct curl_slist *headers;
    char curl_err[CURL_ERROR_SIZE];
    int64_t sent_ms; /* 0 until the request went out */

    enum body_mode mode;
    size_t received;
    char *buf; /* MODE_BUFFER: the body */
    size_t buf_len, buf_cap;
    struct lt_wrk_sse sse;
    struct lt_wrk_llm_reply reply;
    enum stop_reason stop;
    char stop_msg[256];

    uint64_t flush_timer; /* streaming: the next partial write */
    int64_t last_flush_ms;
};

/* ---- logs ---- */

static void log_request(const struct llm_call *c)
{
    const struct lt_wrk_task *t = c->task;
    lt_log_info("llm_request",
                json_pack("{ss si ss ss sb sb ss?}", "task_id", t->id, "attempt", t->attempt,
                          "provider", c->prov->name, "model", c->model, "stream", c->stream,
                          "trial", c->trial, "fallback_from", c->fallback_from),
                "request to provider %s", c->prov->name);
}

static void log_response(const struct llm_call *c, long status, const char *error)
{
    const struct lt_wrk_task *t = c->task;
    const struct lt_wrk_llm_reply *r = &c->reply;
    int64_t dur = c->sent_ms > 0 ? lt_mono_ms() - c->sent_ms : 0;
    lt_log(error == NULL ? LT_LOG_INFO : LT_LOG_WARN, "llm_response",
           json_pack("{ss si ss ss sI sI sI sb ss? si}", "task_id", t->id, "attempt", t->attempt,
                     "provider", c->prov->name, "model", r->model != NULL ? r->model : c->model,
                     "prompt_tokens", (json_int_t)r->prompt_tokens, "completion_tokens",
                     (json_int_t)r->completion_tokens, "duration_ms", (json_int_t)dur, "success",
                     error == NULL, "error", error, "status", (int)status),
           "%s from provider %s", error == NULL ? "answer" : "failure", c->prov->name);
}

/* ---- the call's life ---- */

static void call_free(struct llm_call *c)
{
    lt_wrk_loop_t *loop = lt_wrk_task_loop(c->task);
    lt_wrk_loop_timer_cancel(loop, c->flush_timer);
    if (c->easy != NULL) {
        lt_wrk_loop_transfer_remove(loop, c->easy);
        curl_easy_cleanup(c->easy);
    }
    curl_slist_free_all(c->headers);
    lt_wrk_sse_free(&c->sse);
    lt_wrk_llm_reply_free(&c->reply);
    free(c->buf);
    free(c->request);
    free(c->model);
    free(c);
}

/* Lets go of the provider: the circuit's verdict, the slot (which may start a waiting
 * call at once). */
static void let_go(struct llm_call *c, enum lt_wrk_call_end end)
{
    lt_wrk_provider_report(c->prov, c->trial, end, lt_mono_ms());
    c->trial = 0;
    if (c->holds_slot) {
        c->holds_slot = 0;
        lt_wrk_provider_release(c->prov);
    } else {
        lt_wrk_provider_unwait(c->prov, &c->waiter);
    }
}

enum end_kind { END_OK, END_RETRYABLE, END_PERMANENT };

/* Ends the attempt: log, circuit, slot, free, outcome (in that order: the handler holds
 * nothing when it reports). result is stolen. */
static void finish(struct llm_call *c, enum end_kind kind, const char *error, int64_t retry_ms,
                   json_t *result, enum lt_wrk_call_end end, long status)
{
    struct lt_wrk_task *task = c->task;
    if (c->sent_ms > 0) {
        log_response(c, status, kind == END_OK ? NULL : error);
    }
    let_go(c, end);
    call_free(c);
    if (kind == END_OK) {
        lt_wrk_task_ok(task, result);
    } else if (kind == END_RETRYABLE) {
        lt_wrk_task_retryable(task, error, retry_ms);
    } else {
        lt_wrk_task_permanent(task, error);
    }
}

/* A malformed answer: retryable unless the previous attempt failed the same way. */
static void finish_malformed(struct llm_call *c, const char *why, long status)
{
    char err[ERR_LEN];
    int again = strncmp(c->task->prev_error, MALFORMED_PREFIX, strlen(MALFORMED_PREFIX)) == 0;
    snprintf(err, sizeof(err), MALFORMED_PREFIX " from provider %s: %s%s", c->prov->name, why,
             again ? " (twice in a row)" : "");
    finish(c, again ? END_PERMANENT : END_RETRYABLE, err, 0, NULL, LT_WRK_CALL_FAILED, status);
}

/* ---- streaming ---- */

static int stream_pct(const struct llm_call *c)
{
    long n = c->reply.deltas;
    long pct = c->max_tokens > 0 ? (long)(n * 100 / c->max_tokens)
                                 : PROGRESS_STREAM_CAP * n / (n + PROGRESS_HALF_PIECES);
    return (int)(pct > PROGRESS_STREAM_CAP ? PROGRESS_STREAM_CAP : pct);
}

static void on_flush(lt_wrk_loop_t *loop, void *arg)
{
    (void)loop;
    struct llm_call *c = arg;
    c->flush_timer = 0;
    c->last_flush_ms = lt_mono_ms();
    json_t *snap = lt_wrk_llm_reply_result(&c->reply, c->prov->name, c->model, c->fallback_from, 1);
    if (snap != NULL) {
        lt_wrk_task_partial(c->task, snap, stream_pct(c));
        json_decref(snap);
    }
}

/* New content arrived: write it when the interval since the last write is over. */
static void schedule_flush(struct llm_call *c)
{
    if (c->flush_timer != 0) {
        return;
    }
    int64_t due = c->last_flush_ms + c->task->cfg->llm_stream_write_ms - lt_mono_ms();
    c->flush_timer = lt_wrk_loop_timer(lt_wrk_task_loop(c->task), due, on_flush, c);
}

static int on_event(const char *data, size_t len, void *arg)
{
    struct llm_call *c = arg;
    long before = c->reply.deltas;
    int rc = lt_wrk_llm_reply_chunk(&c->reply, data, len, c->stop_msg, sizeof(c->stop_msg));
    if (rc == LT_WRK_LLM_REPLY_OK) {
        if (c->reply.deltas != before) {
            schedule_flush(c);
        }
        return 0;
    }
    c->stop = rc == LT_WRK_LLM_REPLY_ERROR   ? STOP_PROVIDER_ERROR
              : rc == LT_WRK_LLM_REPLY_NOMEM ? STOP_NOMEM
                                             : STOP_MALFORMED;
    return -1;
}

/* ---- the transfer ---- */

static void decide_mode(struct llm_call *c)
{
    long status = 0;
    char *ctype = NULL;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c->easy, CURLINFO_CONTENT_TYPE, &ctype);
    /* A provider may ignore stream and answer plain JSON: read what it sent. */
    c->mode = c->stream && status >= 200 && status < 300 && ctype != NULL &&
                      strncmp(ctype, "text/event-stream", 17) == 0
                  ? MODE_SSE
                  : MODE_BUFFER;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct llm_call *c = arg;
    size_t n = size * nmemb;
    if (c->mode == MODE_UNDECIDED) {
        decide_mode(c);
    }
    c->received += n;
    if (c->received > (size_t)c->task->cfg->llm_max_response_bytes) {
        c->stop = STOP_TOO_LARGE;
        return 0; /* the transfer ends with CURLE_WRITE_ERROR */
    }
    if (c->mode == MODE_SSE) {
        int rc = lt_wrk_sse_feed(&c->sse, ptr, n);
        if (rc == LT_WRK_SSE_OK) {
            return n;
        }
        if (rc == LT_WRK_SSE_TOO_LONG) {
            c->stop = STOP_TOO_LARGE;
        } else if (rc == LT_WRK_SSE_NOMEM) {
            c->stop = STOP_NOMEM;
        }
        return 0;
    }
    if (c->buf_len + n + 1 > c->buf_cap) {
        size_t cap = c->buf_cap > 0 ? c->buf_cap : 4096;
        while (cap < c->buf_len + n + 1) {
            cap *= 2;
        }
        char *b = realloc(c->buf, cap);
        if (b == NULL) {
            c->stop = STOP_NOMEM;
            return 0;
        }
        c->buf = b;
        c->buf_cap = cap;
    }
    memcpy(c->buf + c->buf_len, ptr, n);
    c->buf_len += n;
    c->buf[c->buf_len] = '\0';
    return n;
}

static const char *header(CURL *easy, const char *name)
{
    struct curl_header *h = NULL;
    if (curl_easy_header(easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK || h == NULL) {
        return NULL;
    }
    return h->value;
}

/* An HTTP answer that is not 2xx. */
static void finish_status(struct llm_call *c, long status)
{
    char msg[300], err[ERR_LEN];
    int retryable = lt_wrk_llm_status_retryable(status);
    if (!lt_wrk_llm_error_message(c->buf, c->buf_len, msg, sizeof(msg))) {
        snprintf(msg, sizeof(msg), "no error message");
    }
    snprintf(err, sizeof(err), "provider %s answered HTTP %ld: %s", c->prov->name, status, msg);
    int64_t wait = retryable
                       ? lt_wrk_llm_retry_after_ms(header(c->easy, "Retry-After"),
                                                   header(c->easy, "retry-after-ms"), time(NULL))
                       : 0;
    finish(c, retryable ? END_RETRYABLE : END_PERMANENT, err, wait, NULL,
           retryable ? LT_WRK_CALL_FAILED : LT_WRK_CALL_OK, status);
}

/* The transfer failed before a usable answer (connection, timeout, a cut body). */
static void finish_transport(struct llm_call *c, CURLcode code, long status)
{
    char err[ERR_LEN];
    const char *detail = c->curl_err[0] != '\0' ? c->curl_err : curl_easy_strerror(code);
    if (status >= 200 && status < 300 && c->received > 0 && !lt_wrk_llm_curl_timeout(code)) {
        /* The answer began and broke off: a broken response, not a connection error. */
        snprintf(err, sizeof(err), "the answer was cut off (%s)", detail);
        finish_malformed(c, err, status);
        return;
    }
    if (lt_wrk_llm_curl_timeout(code)) {
        snprintf(err, sizeof(err), "timeout calling provider %s: %s", c->prov->name, detail);
    } else {
        snprintf(err, sizeof(err), "connection error calling provider %s: %s", c->prov->name,
                 detail);
    }
    int retryable = lt_wrk_llm_curl_retryable(code);
    finish(c, retryable ? END_RETRYABLE : END_PERMANENT, err, 0, NULL,
           retryable ? LT_WRK_CALL_FAILED : LT_WRK_CALL_OK, status);
}

static void on_done(lt_wrk_loop_t *loop, CURL *easy, CURLcode code, void *arg)
{
    (void)loop;
    (void)easy; /* == c->easy; call_free cleans it up */
    struct llm_call *c = arg;
    long status = 0;
    char err[ERR_LEN];
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);

    if (c->stop == STOP_TOO_LARGE) {
        snprintf(err, sizeof(err), "the answer of provider %s is larger than %ld bytes",
                 c->prov->name, c->task->cfg->llm_max_response_bytes);
        finish(c, END_PERMANENT, err, 0, NULL, LT_WRK_CALL_OK, status);
    } else if (c->stop == STOP_NOMEM) {
        finish(c, END_RETRYABLE, "out of memory", 0, NULL, LT_WRK_CALL_ABANDONED, status);
    } else if (c->stop == STOP_PROVIDER_ERROR) {
        snprintf(err, sizeof(err), "provider %s reported an error mid-stream: %s", c->prov->name,
                 c->stop_msg);
        finish(c, END_RETRYABLE, err, 0, NULL, LT_WRK_CALL_FAILED, status);
    } else if (c->stop == STOP_MALFORMED) {
        finish_malformed(c, c->stop_msg, status);
    } else if (code != CURLE_OK) {
        finish_transport(c, code, status);
    } else if (status < 200 || status > 299) {
        finish_status(c, status);
    } else if (c->mode == MODE_SSE) {
        if (!lt_wrk_llm_reply_complete(&c->reply)) {
            finish_malformed(c, "the stream ended before its finish chunk and [DONE]", status);
            return;
        }
        json_t *res =
            lt_wrk_llm_reply_result(&c->reply, c->prov->name, c->model, c->fallback_from, 0);
        finish(c, res != NULL ? END_OK : END_RETRYABLE, "out of memory", 0, res, LT_WRK_CALL_OK,
               status);
    } else {
        int rc = lt_wrk_llm_reply_body(&c->reply, c->buf != NULL ? c->buf : "", c->buf_len, err,
                                       sizeof(err));
        if (rc == LT_WRK_LLM_REPLY_MALFORMED) {
            finish_malformed(c, err, status);
            return;
        }
        if (rc == LT_WRK_LLM_REPLY_ERROR) {
            char msg[ERR_LEN + 64];
            snprintf(msg, sizeof(msg), "provider %s answered with an error: %.400s", c->prov->name,
                     err);
            finish(c, END_RETRYABLE, msg, 0, NULL, LT_WRK_CALL_FAILED, status);
            return;
        }
        json_t *res =
            rc == LT_WRK_LLM_REPLY_OK
                ? lt_wrk_llm_reply_result(&c->reply, c->prov->name, c->model, c->fallback_from, 0)
                : NULL;
        finish(c, res != NULL ? END_OK : END_RETRYABLE, "out of memory", 0, res, LT_WRK_CALL_OK,
               status);
    }
}

static CURLcode setup_easy(struct llm_call *c, const char *url, int64_t timeout_ms)
{
    const struct lt_provider_cfg *p = c->prov;
    CURL *e = c->easy;
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (rc == CURLE_OK) {                                                                      \
            rc = curl_easy_setopt(e, opt, val);                                                    \
        }                                                                                          \
    } while (0)
    SET(CURLOPT_URL, url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_POST, 1L);
    SET(CURLOPT_POSTFIELDS, c->request);
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(c->request));
    SET(CURLOPT_HTTPHEADER, c->headers);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)p->connect_timeout_s * 1000L);
    SET(CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, c);
    SET(CURLOPT_ERRORBUFFER, c->curl_err);
    SET(CURLOPT_USERAGENT, "longtask-worker");
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
#undef SET
    return rc;
}

/* Adds a header line to c->headers; 0 ok, -1 out of memory. */
static int add_header(struct llm_call *c, const char *line)
{
    struct curl_slist *h = curl_slist_append(c->headers, line);
    if (h == NULL) {
        return -1;
    }
    c->headers = h;
    return 0;
}

/* Sends the request (the call holds a slot). */
static void send_call(void *arg)
{
    struct llm_call *c = arg;
    struct lt_wrk_task *t = c->task;
    char url[2048];
    c->holds_slot = 1;

    /* Whole call: the provider's timeout, or less when the task's own runs out first. */
    int64_t timeout_ms = (int64_t)c->prov->timeout_s * 1000;
    if (t->timeout_s > 0) {
        int64_t left = (int64_t)t->timeout_s * 1000 - (lt_mono_ms() - t->started_ms);
        if (left < timeout_ms) {
            timeout_ms = left > 1 ? left : 1;
        }
    }
    size_t blen = strlen(c->prov->base_url);
    while (blen > 0 && c->prov->base_url[blen - 1] == '/') {
        blen--;
    }
    snprintf(url, sizeof(url), "%.*s/chat/completions", (int)blen, c->prov->base_url);

    int bad =
        add_header(c, "Content-Type: application/json") < 0 ||
        add_header(c, c->stream ? "Accept: text/event-stream" : "Accept: application/json") < 0 ||
        add_header(c, "Expect:") < 0; /* no 100-continue round trip */
    if (!bad && c->prov->api_key != NULL) {
        size_t n = strlen(c->prov->api_key) + 32;
        char *auth = malloc(n);
        bad = auth == NULL;
        if (auth != NULL) {
            snprintf(auth, n, "Authorization: Bearer %s", c->prov->api_key);
            bad = add_header(c, auth) < 0;
            memset(auth, 0, n); /* the key lives on only inside libcurl's list */
            free(auth);
        }
    }
    if (bad || (c->easy = curl_easy_init()) == NULL) {
        finish(c, END_RETRYABLE, "out of memory", 0, NULL, LT_WRK_CALL_ABANDONED, 0);
        return;
    }
    CURLcode rc = setup_easy(c, url, timeout_ms);
    if (rc != CURLE_OK) {
        char err[ERR_LEN];
        snprintf(err, sizeof(err), "cannot set up the call to provider %s: %s", c->prov->name,
                 curl_easy_strerror(rc));
        finish(c, END_PERMANENT, err, 0, NULL, LT_WRK_CALL_ABANDONED, 0);
        return;
    }
    lt_wrk_sse_init(&c->sse, (size_t)t->cfg->llm_max_response_bytes, on_event, c);
    if (lt_wrk_loop_transfer_add(lt_wrk_task_loop(t), c->easy, on_done, c) < 0) {
        finish(c, END_RETRYABLE, "cannot start the transfer", 0, NULL, LT_WRK_CALL_ABANDONED, 0);
        return;
    }
    c->sent_ms = lt_mono_ms();
    log_request(c);
}

/* ---- the handler interface ---- */

static void llm_start(struct lt_wrk_task *task)
{
    json_t *p = task->payload;
    const char *why = lt_wrk_llm_check_payload(p);
    char err[ERR_LEN];
    int64_t wait_ms = 0;

    if (why != NULL) {
        lt_wrk_task_permanent(task, why);
        return;
    }
    const char *name = json_string_value(json_object_get(p, "provider"));
    const struct lt_provider_cfg *prov = lt_cfg_provider(task->cfg, name);
    if (prov == NULL) {
        snprintf(err, sizeof(err), "invalid payload: provider '%.100s' is not configured", name);
        lt_wrk_task_permanent(task, err);
        return;
    }
    const char *fallback_from = NULL;
    enum lt_wrk_admit admit = lt_wrk_provider_admit(prov, lt_mono_ms(), &wait_ms);
    if (admit == LT_WRK_ADMIT_OPEN) {
        const struct lt_provider_cfg *fb =
            prov->fallback[0] != '\0' ? lt_cfg_provider(task->cfg, prov->fallback) : NULL;
        int64_t fb_wait = 0;
        enum lt_wrk_admit fb_admit =
            fb != NULL ? lt_wrk_provider_admit(fb, lt_mono_ms(), &fb_wait) : LT_WRK_ADMIT_OPEN;
        if (fb_admit == LT_WRK_ADMIT_OPEN) {
            snprintf(err, sizeof(err), "provider %s circuit open", prov->name);
            lt_wrk_task_retryable(task, err, wait_ms);
            return;
        }
        fallback_from = prov->name;
        prov = fb;
        admit = fb_admit;
    }

    struct llm_call *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        lt_wrk_provider_report(prov, admit == LT_WRK_ADMIT_TRIAL, LT_WRK_CALL_ABANDONED, 0);
        lt_wrk_task_retryable(task, "out of memory", 0);
        return;
    }
    c->task = task;
    c->prov = prov;
    c->fallback_from = fallback_from;
    c->trial = admit == LT_WRK_ADMIT_TRIAL;
    c->stream = json_is_true(json_object_get(p, "stream"));
    c->max_tokens = json_integer_value(json_object_get(p, "max_tokens"));
    lt_wrk_llm_reply_init(&c->reply);
    lt_wrk_sse_init(&c->sse, 0, on_event, c);
    /* The payload's model names a model of the provider it asked for; a fallback gets
     * its own default model, since model names rarely carry across providers. */
    const char *model = json_string_value(json_object_get(p, "model"));
    c->model = strdup(model != NULL && fallback_from == NULL ? model : prov->model);
    c->request = c->model != NULL ? lt_wrk_llm_request_body(p, c->model, c->stream) : NULL;
    task->state = c;
    if (c->request == NULL) {
        finish(c, END_RETRYABLE, "out of memory", 0, NULL, LT_WRK_CALL_ABANDONED, 0);
        return;
    }
    c->waiter.ready = send_call;
    c->waiter.arg = c;
    int got = lt_wrk_provider_acquire(prov, &c->waiter);
    if (got < 0) {
        finish(c, END_RETRYABLE, "out of memory", 0, NULL, LT_WRK_CALL_ABANDONED, 0);
    } else if (got > 0) {
        send_call(c);
    }
    /* else: queued; send_call runs when a slot is handed over */
}

static void llm_abort(struct lt_wrk_task *task)
{
    struct llm_call *c = task->state;
    if (c == NULL) {
        return;
    }
    if (c->sent_ms > 0) {
        log_response(c, 0, "aborted (cancelled, timed out or handed back)");
    }
    /* Remove the transfer before handing the slot on, so the cap holds at every moment. */
    if (c->easy != NULL) {
        lt_wrk_loop_transfer_remove(lt_wrk_task_loop(task), c->easy);
        curl_easy_cleanup(c->easy);
        c->easy = NULL;
    }
    let_go(c, LT_WRK_CALL_ABANDONED);
    call_free(c);
}

const struct lt_wrk_handler lt_wrk_handler_llm = {"llm.chat", llm_start, llm_abort};
