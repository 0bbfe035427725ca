/* html_report: the small HTML and inline-SVG writer behind the HTML form of
 * `tally report daily` — escaping and two charts (horizontal bars with
 * optional interval whiskers, a heat map of a K*K matrix). Everything it
 * writes is self-contained: no external reference of any kind, and inline
 * SVG without a namespace URL (HTML5 does not need one). */
#ifndef TALLY_CLIENT_HTML_REPORT_H
#define TALLY_CLIENT_HTML_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Writes s with & < > " ' escaped (NULL writes nothing). */
void html_escape(FILE *f, const char *s);

/* One bar: `value` (ignored when !defined: the bar reads "no data"), an
 * interval [low, high] drawn as a whisker when has_interval, and a note
 * printed after the bar ("n=12"). Labels and notes are escaped. */
typedef struct {
  const char *label;
  int defined;
  double value;
  int has_interval;
  double low, high;
  const char *note;
} html_bar_t;

/* A horizontal bar chart on a scale 0..max (max <= 0: the largest value);
 * `percent`: tick labels as percentages. `title` is the SVG's accessible
 * title (escaped). */
void html_svg_bars(FILE *f, const char *title, const html_bar_t *bars, size_t n, double max, int percent);

/* A heat map of the K*K counts m (rows: row_axis, columns: col_axis), each
 * cell shaded by its share of the largest off-diagonal count and printed
 * with its count; the diagonal is outlined. */
void html_svg_heatmap(FILE *f, const char *title, const char *const *labels, size_t k, const uint64_t *m,
                      const char *row_axis, const char *col_axis);

#endif
