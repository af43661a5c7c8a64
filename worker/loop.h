/*
 * loop.h -- the worker child's event loop: one poll(2) over every descriptor the child
 * cares about (the PostgreSQL socket, the signal self-pipe, libcurl's sockets, later the
 * pipes of exec handlers), one-shot timers on the monotonic clock, and libcurl's multi
 * interface driven through CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION and
 * curl_multi_socket_action, so HTTP transfers cost no thread and no extra process.
 *
 * Usage: lt_wrk_loop_new(); watch descriptors and add timers (callbacks get the loop and
 * their argument); call lt_wrk_loop_run_once() in the owner's own loop, which waits for
 * the first event or timer (or max_wait_ms), dispatches, and returns so the owner can do
 * its periodic work between rounds. Callbacks may watch, unwatch, add and cancel timers
 * and transfers freely, including their own; a descriptor unwatched during a round gets
 * no stale event. poll() is enough here: a child watches tens of descriptors, not
 * thousands, and poll has no per-descriptor kernel state to keep in sync.
 *
 * Timers are one-shot: re-arm from the callback for periodic work. Transfers: the caller
 * configures a CURL easy handle and hands it to lt_wrk_loop_transfer_add(); when it ends,
 * the done callback gets the handle back (already removed from the multi) and owns it.
 * lt_wrk_loop_transfer_remove() aborts one without calling back.
 */
#ifndef LT_WRK_LOOP_H
#define LT_WRK_LOOP_H

#include <curl/curl.h>
#include <stdint.h>

typedef struct lt_wrk_loop lt_wrk_loop_t;

#define LT_WRK_READ 1
#define LT_WRK_WRITE 2

/* events: LT_WRK_READ and/or LT_WRK_WRITE; errors and hang-ups are reported as both
 * the directions the watch asked for, so the callback's read/write sees them. */
typedef void (*lt_wrk_fd_fn)(lt_wrk_loop_t *loop, int fd, int events, void *arg);
typedef void (*lt_wrk_timer_fn)(lt_wrk_loop_t *loop, void *arg);
typedef void (*lt_wrk_transfer_fn)(lt_wrk_loop_t *loop, CURL *easy, CURLcode result, void *arg);

/* A new loop with its curl multi handle; NULL on failure (logged). curl_global_init
 * must have run. */
lt_wrk_loop_t *lt_wrk_loop_new(void);

/* Frees the loop; transfers still running are removed and their easy handles cleaned
 * up, without callbacks. Descriptors are not closed (the loop never owned them). */
void lt_wrk_loop_free(lt_wrk_loop_t *loop);

/* Watches fd for mask (LT_WRK_READ|LT_WRK_WRITE); replaces an existing watch of fd.
 * 0 ok, -1 out of memory. */
int lt_wrk_loop_watch(lt_wrk_loop_t *loop, int fd, int mask, lt_wrk_fd_fn fn, void *arg);

/* Stops watching fd (no-op when not watched). Call before closing the descriptor. */
void lt_wrk_loop_unwatch(lt_wrk_loop_t *loop, int fd);

/* A one-shot timer firing delay_ms from now (<= 0: on the next round). Returns its id
 * (> 0), or 0 on failure. */
uint64_t lt_wrk_loop_timer(lt_wrk_loop_t *loop, int64_t delay_ms, lt_wrk_timer_fn fn, void *arg);

/* Cancels a pending timer; no-op for 0, fired or unknown ids. */
void lt_wrk_loop_timer_cancel(lt_wrk_loop_t *loop, uint64_t id);

/* Milliseconds until the earliest timer (0 when one is due), -1 when there is none. */
int64_t lt_wrk_loop_next_timer_ms(const lt_wrk_loop_t *loop);

/* Starts a configured transfer; the loop takes the easy handle until done fires or
 * lt_wrk_loop_transfer_remove() is called. 0 ok, -1 error (the caller keeps easy). */
int lt_wrk_loop_transfer_add(lt_wrk_loop_t *loop, CURL *easy, lt_wrk_transfer_fn done, void *arg);

/* Aborts a transfer started with lt_wrk_loop_transfer_add; the caller owns easy again
 * (and cleans it up). No callback follows. */
void lt_wrk_loop_transfer_remove(lt_wrk_loop_t *loop, CURL *easy);

/* Number of transfers in progress. */
int lt_wrk_loop_transfers(const lt_wrk_loop_t *loop);

/* One round: waits until a watched descriptor is ready, a timer is due, or max_wait_ms
 * pass (-1: no limit beyond the timers), then dispatches. EINTR ends the wait early
 * (the caller checks its signal flags). Returns the number of callbacks run, -1 on a
 * poll failure other than EINTR. */
int lt_wrk_loop_run_once(lt_wrk_loop_t *loop, int64_t max_wait_ms);

#endif
