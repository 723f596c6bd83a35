// LD_PRELOAD shim for qemu's curl block driver (block/curl.c, qemu 7.2):
// qemu reads at most one CURLMSG_DONE per curl_multi_check_completion and
// none after the socket_action "kick" in curl_setup_preadv; a guest read
// completes only when its DONE is read. This shim counts the DONE
// messages libcurl queued and qemu did not read, and while there are any
// asks qemu's own timer callback for an immediate timeout, whose handler
// (curl_multi_timeout_do) calls curl_multi_check_completion once more.
// Diagnostic only: it shows where the hang comes from
// (scripts/qemu-curl-hang.sh builds and uses it).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
typedef void CURLM;
typedef void CURL;
typedef int CURLMcode;
typedef int (*timer_fn)(CURLM *, long, void *);
typedef struct { int msg; CURL *easy; void *data; } CURLMsg;

static timer_fn app_timer;
static void *app_timer_data;
static int queued;     /* DONE messages libcurl holds for qemu */
static long kicks;

/* libcurl is loaded by qemu's block-curl.so module (dlopen, local
   scope): RTLD_NEXT does not see it, its handle does. */
static void *sym(const char *name) {
	static void *lib;
	if (!lib) lib = dlopen("libcurl-gnutls.so.4", RTLD_NOW | RTLD_NOLOAD);
	if (!lib) lib = dlopen("libcurl-gnutls.so.4", RTLD_NOW);
	void *f = dlsym(lib, name);
	if (!f) { fprintf(stderr, "reap shim: no %s\n", name); abort(); }
	return f;
}

static void kick(CURLM *m) {
	if (queued > 0 && app_timer) {
		kicks++;
		app_timer(m, 0, app_timer_data);
	}
}

CURLMcode curl_multi_setopt(CURLM *m, int opt, ...) {
	static CURLMcode (*real)(CURLM *, int, ...);
	if (!real) real = sym("curl_multi_setopt");
	va_list ap;
	va_start(ap, opt);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (opt == 20004) app_timer = (timer_fn)arg;   /* CURLMOPT_TIMERFUNCTION */
	if (opt == 10005) app_timer_data = arg;        /* CURLMOPT_TIMERDATA */
	return real(m, opt, arg);
}

CURLMsg *curl_multi_info_read(CURLM *m, int *left) {
	static CURLMsg *(*real)(CURLM *, int *);
	if (!real) real = sym("curl_multi_info_read");
	CURLMsg *r = real(m, left);
	queued = *left;
	return r;
}

static int expected; /* handles running if none finished */

CURLMcode curl_multi_socket_action(CURLM *m, int fd, int ev, int *running) {
	static CURLMcode (*real)(CURLM *, int, int, int *);
	if (!real) real = sym("curl_multi_socket_action");
	CURLMcode rc = real(m, fd, ev, running);
	if (*running < expected) queued += expected - *running; /* finished in this call: a DONE each */
	expected = *running;
	kick(m);
	return rc;
}

CURLMcode curl_multi_add_handle(CURLM *m, CURL *e) {
	static CURLMcode (*real)(CURLM *, CURL *);
	if (!real) real = sym("curl_multi_add_handle");
	CURLMcode rc = real(m, e);
	if (rc == 0) expected++;
	return rc;
}

CURLMcode curl_multi_remove_handle(CURLM *m, CURL *e) {
	static CURLMcode (*real)(CURLM *, CURL *);
	if (!real) real = sym("curl_multi_remove_handle");
	CURLMcode rc = real(m, e);
	kick(m);
	return rc;
}

__attribute__((destructor)) static void done(void) {
	if (getenv("REAP_SHIM_STATS")) fprintf(stderr, "reap shim: %ld extra timeouts asked\n", kicks);
}
