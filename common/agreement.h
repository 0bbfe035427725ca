/* agreement: inter-rater agreement as mergeable sufficient statistics.
 *
 * Tally measures how often people agree: a labeler against the auditor who
 * re-reviewed the same item blind, or several labelers on one item. Workers
 * keep, per slot and per reporting key, the *sufficient statistics* of these
 * overlaps; a report is answered by summing the statistics of every slot and
 * worker and computing each coefficient once from the sum. Coefficients are
 * never averaged across shards (DESIGN.md, "Statistics").
 *
 * Three accumulators, each a plain caller-allocated struct over a fixed
 * category count K (the taxonomy size, 1..AGREEMENT_MAX_CATEGORIES);
 * categories are taxonomy indices 0..K-1:
 *
 *   agreement_pairs_t        K x K confusion matrix of counts (rater A label x
 *                            rater B label, e.g. labeler x auditor): percent
 *                            agreement, Cohen's kappa (unweighted, linear,
 *                            quadratic), Scott's pi, Gwet's AC1, Krippendorff's
 *                            alpha (nominal).
 *   agreement_coincidence_t  Krippendorff coincidence matrix, any number of
 *                            raters per unit, missing values allowed: alpha
 *                            nominal, ordinal, interval, ratio; percent
 *                            agreement of pairable values.
 *   agreement_fleiss_t       per-unit sums for Fleiss' kappa and multi-rater
 *                            Gwet's AC1 (the irrCAC gwet.ac1.raw definition).
 *
 * Merging is addition. Counts are uint64 and merge exactly. The coincidence
 * matrix and the two per-unit sums of agreement_fleiss_t hold fractions
 * (1/(m-1), n_ij/n_i) in doubles: their sums are exact up to binary64
 * rounding (relative error ~1e-16 per addition), so a coefficient computed
 * from parts summed in another order may differ in the last bits, never more.
 * Fleiss' kappa with a constant number of raters per unit uses only integer
 * sums and is exact in any order.
 *
 * Results. Every coefficient function returns 0 and writes the coefficient
 * through its out pointer, or returns AGREEMENT_UNDEFINED (and leaves the out
 * pointer untouched) when the coefficient is undefined for the data: no
 * pairs, expected agreement equal to 1, a zero disagreement denominator. An
 * undefined coefficient is reported as undefined, never as 0 or 1.
 * AGREEMENT_UNDEFINED is a result, not an error: it is positive (1), so it
 * never collides with a negative TALLY_E_* code. Other failures return negative TALLY_E_* codes from
 * tally_error.h: TALLY_E_INVALID_ARGUMENT for bad input (out-of-range
 * category, K mismatch, malformed bytes), TALLY_E_UNSUPPORTED_VERSION for a
 * serialized format this build does not know. Passing NULL pointers is a
 * programming error (assert).
 *
 * Serialized form, format version 1 (AGREEMENT_FORMAT_VERSION). All integers
 * little-endian; a double is its IEEE-754 binary64 bit pattern written as a
 * little-endian uint64. The buffer length must be exactly the size below.
 *
 *   byte 0      kind: 'P' pairs, 'C' coincidence, 'F' fleiss
 *   byte 1      format version (1)
 *   bytes 2-3   K, uint16, 1..AGREEMENT_MAX_CATEGORIES
 *   then, for 'P': K*K uint64 counts, row-major (row = rater A's category)
 *             'C': K*K doubles, row-major
 *             'F': u32 min_raters, u32 max_raters, u64 units, u64 ratings,
 *                  u64 pair_agreements, f64 unit_agreement_sum,
 *                  u64 rated_units, K x u64 category_totals,
 *                  K x f64 category_share_sums
 *   size: 'P' and 'C' 4 + 8*K*K bytes; 'F' 4 + 48 + 16*K bytes.
 *
 * Changing the format: never change what an existing version number means.
 * Bump AGREEMENT_FORMAT_VERSION (one number for all three kinds), make the
 * serializers write only the new version, and keep the deserializers reading
 * every version ever written (one decode function per version), each old
 * version pinned by a golden byte string in tests/agreement_test.c. Readers
 * that know the new version must be deployed to every worker and the
 * coordinator before any writer produces it: an old reader answers an
 * unknown version with TALLY_E_UNSUPPORTED_VERSION, never by guessing.
 * Stored statistics in an old version are upgraded when next rewritten.
 */
#ifndef TALLY_AGREEMENT_H
#define TALLY_AGREEMENT_H

#include <stddef.h>
#include <stdint.h>

/* Largest category count (taxonomy size) an accumulator supports. */
#define AGREEMENT_MAX_CATEGORIES 64u

/* Returned by coefficient functions when the coefficient is undefined. */
#define AGREEMENT_UNDEFINED 1

/* Version of the serialized form written by this build. */
#define AGREEMENT_FORMAT_VERSION 1u

/* Standard normal quantile for a two-sided 95% interval. */
#define AGREEMENT_Z95 1.959963984540054

/* ---- Pairs: two raters, K x K confusion matrix ------------------------- */

typedef struct {
  uint32_t k;
  /* counts[a][b]: items rater A put in category a and rater B in b. Cells
   * with a or b >= k are zero. */
  uint64_t counts[AGREEMENT_MAX_CATEGORIES][AGREEMENT_MAX_CATEGORIES];
} agreement_pairs_t;

/* Sets *p to the empty matrix over k categories. Returns 0, or
 * TALLY_E_INVALID_ARGUMENT when k is 0 or above AGREEMENT_MAX_CATEGORIES
 * (then *p is untouched). */
int agreement_pairs_init(agreement_pairs_t *p, uint32_t k);

/* Adds `count` items rated a by rater A and b by rater B. Returns 0, or
 * TALLY_E_INVALID_ARGUMENT when a or b is not below p->k or the cell would
 * overflow (nothing added). */
int agreement_pairs_add(agreement_pairs_t *p, uint32_t a, uint32_t b, uint64_t count);

/* Adds every cell of `src` to `dst`. Returns 0, or TALLY_E_INVALID_ARGUMENT
 * when the category counts differ or a cell would overflow (dst untouched). */
int agreement_pairs_merge(agreement_pairs_t *dst, const agreement_pairs_t *src);

/* Number of pairs (sum of all cells), saturating at UINT64_MAX. */
uint64_t agreement_pairs_total(const agreement_pairs_t *p);

/* Bytes agreement_pairs_serialize writes for `p`. */
size_t agreement_pairs_serialized_size(const agreement_pairs_t *p);

/* Writes `p` in the current format to buf (capacity cap, caller-owned) and
 * sets *len. Returns 0, or TALLY_E_INVALID_ARGUMENT when cap is too small
 * (nothing written). */
int agreement_pairs_serialize(const agreement_pairs_t *p, uint8_t *buf, size_t cap, size_t *len);

/* Replaces *p with the matrix encoded in the len bytes at buf. Returns 0,
 * TALLY_E_UNSUPPORTED_VERSION for an unknown format version, or
 * TALLY_E_INVALID_ARGUMENT for anything else malformed (wrong kind, bad K,
 * wrong length). On error *p is untouched. */
int agreement_pairs_deserialize(agreement_pairs_t *p, const uint8_t *buf, size_t len);

/* Share of pairs on the diagonal. Undefined without pairs. */
int agreement_pairs_percent(const agreement_pairs_t *p, double *out);

/* Cohen's kappa, unweighted. Undefined without pairs or when expected
 * agreement is 1 (both raters used one and the same category only). */
int agreement_pairs_cohen_kappa(const agreement_pairs_t *p, double *out);

/* Cohen's kappa with linear weights 1 - |i-j|/(K-1). Undefined as above. */
int agreement_pairs_cohen_kappa_linear(const agreement_pairs_t *p, double *out);

/* Cohen's kappa with quadratic weights 1 - (i-j)^2/(K-1)^2. Undefined as
 * above. */
int agreement_pairs_cohen_kappa_quadratic(const agreement_pairs_t *p, double *out);

/* Scott's pi (expected agreement from the pooled marginals). Undefined
 * without pairs or when expected agreement is 1. */
int agreement_pairs_scott_pi(const agreement_pairs_t *p, double *out);

/* Gwet's AC1 with q = K categories: pe = sum_k pi_k (1 - pi_k) / (K - 1),
 * pi_k the pooled marginal share. Undefined without pairs or when K is 1. */
int agreement_pairs_gwet_ac1(const agreement_pairs_t *p, double *out);

/* Krippendorff's alpha, nominal, treating the matrix as two coders with no
 * missing values (coincidence matrix M + M^T). Undefined without pairs or
 * when only one category occurs. */
int agreement_pairs_alpha_nominal(const agreement_pairs_t *p, double *out);

/* ---- Coincidence: Krippendorff, any raters per unit -------------------- */

typedef struct {
  uint32_t k;
  /* cells[c][k]: coincidences of values c and k, each unit with m pairable
   * values contributing 1/(m-1) per ordered pair. Symmetric; cells outside
   * k x k are zero. */
  double cells[AGREEMENT_MAX_CATEGORIES][AGREEMENT_MAX_CATEGORIES];
} agreement_coincidence_t;

/* Sets *c to the empty matrix over k categories. Returns 0, or
 * TALLY_E_INVALID_ARGUMENT when k is 0 or above AGREEMENT_MAX_CATEGORIES. */
int agreement_coincidence_init(agreement_coincidence_t *c, uint32_t k);

/* Adds one unit (item) rated with the m category indices in `values` (one
 * per rater who rated it; missing ratings are simply left out). A unit with
 * fewer than 2 values is not pairable and is ignored. Returns 0, or
 * TALLY_E_INVALID_ARGUMENT when a value is not below c->k (nothing added). */
int agreement_coincidence_add_unit(agreement_coincidence_t *c, const uint32_t *values, size_t m);

/* Adds `src` to `dst`. Returns 0, or TALLY_E_INVALID_ARGUMENT when the
 * category counts differ (dst untouched). */
int agreement_coincidence_merge(agreement_coincidence_t *dst, const agreement_coincidence_t *src);

/* Number of pairable values n (sum of all cells). */
double agreement_coincidence_total(const agreement_coincidence_t *c);

/* Bytes agreement_coincidence_serialize writes for `c`. */
size_t agreement_coincidence_serialized_size(const agreement_coincidence_t *c);

/* Writes `c` to buf (capacity cap, caller-owned) and sets *len. Returns 0,
 * or TALLY_E_INVALID_ARGUMENT when cap is too small (nothing written). */
int agreement_coincidence_serialize(const agreement_coincidence_t *c, uint8_t *buf, size_t cap,
                                    size_t *len);

/* Replaces *c with the matrix encoded at buf. Returns 0,
 * TALLY_E_UNSUPPORTED_VERSION, or TALLY_E_INVALID_ARGUMENT (wrong kind, bad
 * K, wrong length, a cell negative or not finite, an asymmetric matrix).
 * On error *c is untouched. */
int agreement_coincidence_deserialize(agreement_coincidence_t *c, const uint8_t *buf, size_t len);

/* Share of pairable values whose partners agree (sum of the diagonal over
 * n). Undefined without pairable values. */
int agreement_coincidence_percent(const agreement_coincidence_t *c, double *out);

/* Krippendorff's alpha, nominal metric. Undefined without pairable values
 * or when only one category occurs (expected disagreement 0). */
int agreement_coincidence_alpha_nominal(const agreement_coincidence_t *c, double *out);

/* Krippendorff's alpha, ordinal metric over category index order:
 * delta(c,k) = (sum_{g=c..k} n_g - (n_c + n_k)/2)^2 with n_g the marginal
 * sums. Undefined as for nominal. */
int agreement_coincidence_alpha_ordinal(const agreement_coincidence_t *c, double *out);

/* Krippendorff's alpha, interval metric (v_c - v_k)^2. `values` gives the
 * numeric value of each of the K categories (borrowed, K entries); NULL
 * means category index + 1. Undefined without pairable values or when the
 * expected disagreement is 0. TALLY_E_INVALID_ARGUMENT when a value is not
 * finite. */
int agreement_coincidence_alpha_interval(const agreement_coincidence_t *c, const double *values,
                                         double *out);

/* Krippendorff's alpha, ratio metric ((v_c - v_k)/(v_c + v_k))^2; values as
 * for interval, and they must be >= 0 (TALLY_E_INVALID_ARGUMENT otherwise).
 * Undefined as for interval. */
int agreement_coincidence_alpha_ratio(const agreement_coincidence_t *c, const double *values,
                                      double *out);

/* ---- Fleiss: per-unit sums, any raters per unit ------------------------ */

/* Units (items) with n_i ratings, n_ij of them in category j. Fleiss' kappa
 * is defined for a constant number of raters n per unit; this struct keeps
 * both the integer sums of that definition and the sums of its
 * generalisation to varying n_i:
 *   P_i = sum_j n_ij (n_ij - 1) / (n_i (n_i - 1)),  P = mean of P_i,
 *   p_j = sum_i n_ij / sum_i n_i,                   Pe = sum_j p_j^2,
 *   kappa = (P - Pe) / (1 - Pe),
 * over units with n_i >= 2 (a unit rated once carries no agreement). With a
 * constant n (min_raters == max_raters) this is Fleiss' kappa and P is
 * computed from the integer pair_agreements, exactly; otherwise P is
 * unit_agreement_sum / units.
 *
 * Multi-rater Gwet's AC1 (irrCAC gwet.ac1.raw, unweighted) uses pa = P and
 * pi_j = mean over every unit with n_i >= 1 of n_ij / n_i, with q = K. */
typedef struct {
  uint32_t k;
  uint32_t min_raters;       /* fewest ratings on a counted unit; 0 if none */
  uint32_t max_raters;       /* most ratings on a counted unit; 0 if none */
  uint64_t units;            /* units with >= 2 ratings */
  uint64_t ratings;          /* ratings on those units */
  uint64_t pair_agreements;  /* sum_i sum_j n_ij (n_ij - 1) */
  double unit_agreement_sum; /* sum_i P_i */
  uint64_t rated_units;      /* units with >= 1 rating (Gwet's pi) */
  uint64_t category_totals[AGREEMENT_MAX_CATEGORIES];   /* sum_i n_ij, n_i >= 2 */
  double category_share_sums[AGREEMENT_MAX_CATEGORIES]; /* sum_i n_ij / n_i, n_i >= 1 */
} agreement_fleiss_t;

/* Sets *f to empty sums over k categories. Returns 0, or
 * TALLY_E_INVALID_ARGUMENT when k is 0 or above AGREEMENT_MAX_CATEGORIES. */
int agreement_fleiss_init(agreement_fleiss_t *f, uint32_t k);

/* Adds one unit rated with the m category indices in `values`. A unit with
 * no values is ignored. Returns 0, or TALLY_E_INVALID_ARGUMENT when a value
 * is not below f->k or m exceeds UINT32_MAX (nothing added). */
int agreement_fleiss_add_unit(agreement_fleiss_t *f, const uint32_t *values, size_t m);

/* Adds `src` to `dst`. Returns 0, or TALLY_E_INVALID_ARGUMENT when the
 * category counts differ or a count would overflow (dst untouched). */
int agreement_fleiss_merge(agreement_fleiss_t *dst, const agreement_fleiss_t *src);

/* Bytes agreement_fleiss_serialize writes for `f`. */
size_t agreement_fleiss_serialized_size(const agreement_fleiss_t *f);

/* Writes `f` to buf (capacity cap, caller-owned) and sets *len. Returns 0,
 * or TALLY_E_INVALID_ARGUMENT when cap is too small (nothing written). */
int agreement_fleiss_serialize(const agreement_fleiss_t *f, uint8_t *buf, size_t cap, size_t *len);

/* Replaces *f with the sums encoded at buf. Returns 0,
 * TALLY_E_UNSUPPORTED_VERSION, or TALLY_E_INVALID_ARGUMENT (wrong kind, bad
 * K, wrong length, inconsistent sums, a double negative or not finite). On
 * error *f is untouched. */
int agreement_fleiss_deserialize(agreement_fleiss_t *f, const uint8_t *buf, size_t len);

/* Fleiss' kappa (generalised to varying raters as described above).
 * Undefined without a unit rated at least twice, or when every rating is in
 * one category (Pe = 1). */
int agreement_fleiss_kappa(const agreement_fleiss_t *f, double *out);

/* Multi-rater Gwet's AC1 as described above. Undefined without a unit rated
 * at least twice, or when K is 1. */
int agreement_fleiss_gwet_ac1(const agreement_fleiss_t *f, double *out);

/* ---- Proportions ------------------------------------------------------- */

/* Wilson score interval for `correct` successes out of n at normal quantile
 * z (AGREEMENT_Z95 for 95%), clamped to [0, 1], into *low and *high.
 * Returns 0, AGREEMENT_UNDEFINED when n is 0, or TALLY_E_INVALID_ARGUMENT
 * when correct > n or z is negative or not finite. */
int agreement_wilson(uint64_t correct, uint64_t n, double z, double *low, double *high);

#endif
