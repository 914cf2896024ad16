/*
 * dtmf_harness runs spandsp's DTMF receiver (dtmf_rx) on the same audio as
 * edgebridge's dsp.DTMFDetector, for the side-by-side comparison and speed
 * figures in dsp/spandsp_test.go. Built only by `make spandsp-bench`.
 *
 *   dtmf_harness detect FORMAT          read file paths on stdin, print for
 *                                       each: path TAB digits TAB start:end...
 *   dtmf_harness bench FORMAT FILE SECS decode + detect FILE in 20 ms frames
 *                                       for at least SECS seconds, print
 *                                       "x_realtime N digits D"
 *
 * FORMAT is s16 (raw little-endian 16-bit linear), alaw or ulaw.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <spandsp.h>

static long pos_end;        /* sample index at the end of the chunk being fed */
static char digits[4096];
static long starts[4096], ends[4096];
static int ndigits;
static long bench_digits;

static void realtime(void *user_data, int code, int level, int delay)
{
    (void) user_data; (void) level; (void) delay;
    if (code) {
        if (ndigits < (int) sizeof(digits) - 1) {
            digits[ndigits] = (char) code;
            starts[ndigits] = pos_end;
            ends[ndigits] = -1;
            ndigits++;
        }
    } else if (ndigits > 0 && ends[ndigits - 1] < 0) {
        ends[ndigits - 1] = pos_end;
    }
}

static void count_digits(void *user_data, const char *d, int len)
{
    (void) user_data; (void) d;
    bench_digits += len;
}

static int load(const char *path, const char *fmt, int16_t **pcm, long *n, uint8_t **raw, long *nraw)
{
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return -1; }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(size > 0 ? size : 1);
    if (size > 0 && fread(buf, 1, size, f) != (size_t) size) { perror(path); fclose(f); return -1; }
    fclose(f);
    if (strcmp(fmt, "s16") == 0) {
        *n = size / 2;
        *pcm = malloc(sizeof(int16_t) * (*n > 0 ? *n : 1));
        for (long i = 0; i < *n; i++)
            (*pcm)[i] = (int16_t) (buf[2 * i] | (buf[2 * i + 1] << 8));
        free(buf);
        if (raw) { *raw = NULL; *nraw = 0; }
        return 0;
    }
    *n = size;
    *pcm = malloc(sizeof(int16_t) * (size > 0 ? size : 1));
    for (long i = 0; i < size; i++)
        (*pcm)[i] = strcmp(fmt, "alaw") == 0 ? alaw_to_linear(buf[i]) : ulaw_to_linear(buf[i]);
    if (raw) { *raw = buf; *nraw = size; } else free(buf);
    return 0;
}

static int detect(const char *fmt)
{
    char path[4096];
    while (fgets(path, sizeof(path), stdin)) {
        path[strcspn(path, "\r\n")] = 0;
        if (!path[0]) continue;
        int16_t *pcm; long n;
        if (load(path, fmt, &pcm, &n, NULL, NULL) < 0) return 1;
        dtmf_rx_state_t *s = dtmf_rx_init(NULL, NULL, NULL);
        dtmf_rx_set_realtime_callback(s, realtime, NULL);
        ndigits = 0;
        /* 102-sample chunks keep spandsp's blocks aligned with our feed,
           so a callback's position is the end of the block that caused it. */
        for (long i = 0; i < n; i += 102) {
            long len = n - i < 102 ? n - i : 102;
            pos_end = i + len;
            dtmf_rx(s, pcm + i, (int) len);
        }
        /* a final block of silence ends a digit still sounding */
        int16_t zero[102] = {0};
        for (int k = 0; k < 4 && ndigits > 0 && ends[ndigits - 1] < 0; k++) {
            pos_end = n;
            dtmf_rx(s, zero, 102);
        }
        printf("%s\t%.*s\t", path, ndigits, digits);
        for (int k = 0; k < ndigits; k++)
            printf("%s%ld:%ld", k ? " " : "", starts[k], ends[k] < 0 ? n : ends[k]);
        printf("\n");
        dtmf_rx_free(s);
        free(pcm);
    }
    return 0;
}

static double now(void)
{
    struct timespec ts;
    /* CPU time of this process: the figure is per core and does not
       depend on what else the machine runs. */
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int bench(const char *fmt, const char *path, double secs)
{
    int16_t *pcm; long n; uint8_t *raw; long nraw;
    if (load(path, fmt, &pcm, &n, &raw, &nraw) < 0) return 1;
    if (!raw) { fprintf(stderr, "bench wants alaw or ulaw input\n"); return 2; }
    int alaw = strcmp(fmt, "alaw") == 0;
    dtmf_rx_state_t *s = dtmf_rx_init(NULL, count_digits, NULL);
    int16_t frame[160];
    double t0 = now(), t;
    long runs = 0;
    bench_digits = 0;
    do {
        for (long i = 0; i + 160 <= nraw; i += 160) {
            for (int k = 0; k < 160; k++)
                frame[k] = alaw ? alaw_to_linear(raw[i + k]) : ulaw_to_linear(raw[i + k]);
            dtmf_rx(s, frame, 160);
        }
        runs++;
        t = now() - t0;
    } while (t < secs);
    double audio = (double) runs * (nraw / 160 * 160) / 8000.0;
    printf("x_realtime %.0f digits %ld runs %ld\n", audio / t, bench_digits / runs, runs);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "detect") == 0)
        return detect(argv[2]);
    if (argc == 5 && strcmp(argv[1], "bench") == 0)
        return bench(argv[2], argv[3], atof(argv[4]));
    fprintf(stderr, "usage: %s detect s16|alaw|ulaw < paths\n       %s bench alaw|ulaw FILE SECONDS\n", argv[0], argv[0]);
    return 2;
}
