/* bench_project: the project the Tally benchmarks create and use.
 *
 * tally-bench setup creates it (and the labelers), ingest fills it, and the
 * cycle submits labels from its taxonomy; they must agree, so the shape
 * lives here once.
 */
#ifndef BENCH_PROJECT_H
#define BENCH_PROJECT_H

#define BENCH_PROJECT_NAME "bench"
#define BENCH_LABELER_PREFIX "bench-"
#define BENCH_AUDITOR_PREFIX "bench-aud-" /* auditors bench-aud-0001.. */
#define BENCH_LEAD_PREFIX "bench-lead-"   /* leads bench-lead-0001.. */

/* The taxonomy, and the markets items are spread over (round robin). */
static const char *const bench_labels[] = {"ok", "spam", "violence", "hate", "adult"};
#define BENCH_LABEL_COUNT (sizeof bench_labels / sizeof bench_labels[0])
static const char *const bench_markets[] = {"es-live", "ja-video", "ko-feed"};
#define BENCH_MARKET_COUNT (sizeof bench_markets / sizeof bench_markets[0])

#endif
