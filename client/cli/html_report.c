/* html_report: escaping and inline SVG charts. See html_report.h. */
#include "html_report.h"

#include <math.h>
#include <string.h>

void html_escape(FILE *f, const char *s) {
  if (s == NULL) return;
  for (; *s; s++) {
    switch (*s) {
      case '&': fputs("&amp;", f); break;
      case '<': fputs("&lt;", f); break;
      case '>': fputs("&gt;", f); break;
      case '"': fputs("&quot;", f); break;
      case '\'': fputs("&#39;", f); break;
      default: fputc(*s, f);
    }
  }
}

/* At most `max` characters of s (bytes; UTF-8 continuation bytes are not
 * counted), "..." appended when cut, escaped. */
static void escape_cut(FILE *f, const char *s, size_t max) {
  if (s == NULL) return;
  size_t chars = 0;
  const char *p = s;
  for (; *p; p++) {
    if (((unsigned char)*p & 0xC0) != 0x80 && ++chars > max) break;
  }
  if (*p == '\0') {
    html_escape(f, s);
    return;
  }
  char buf[256];
  size_t len = (size_t)(p - s) < sizeof buf - 4 ? (size_t)(p - s) : sizeof buf - 4;
  memcpy(buf, s, len);
  memcpy(buf + len, "...", 4);
  html_escape(f, buf);
}

enum { BAR_LABEL_W = 170, BAR_PLOT_W = 440, BAR_NOTE_W = 120, BAR_ROW_H = 22, BAR_TOP = 24 };

void html_svg_bars(FILE *f, const char *title, const html_bar_t *bars, size_t n, double max, int percent) {
  if (max <= 0) {
    for (size_t i = 0; i < n; i++)
      if (bars[i].defined && bars[i].value > max) max = bars[i].value;
    /* Counts: a whole multiple of 4, so that the 4 ticks are integers. */
    max = max <= 4 ? 4 : 4 * ceil(max / 4);
  }
  int width = BAR_LABEL_W + BAR_PLOT_W + BAR_NOTE_W;
  int height = BAR_TOP + (int)n * BAR_ROW_H + 8;
  fprintf(f, "<svg class=\"chart\" role=\"img\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n<title>", width,
          height, width, height);
  html_escape(f, title);
  fputs("</title>\n", f);
  /* grid and ticks */
  for (int t = 0; t <= 4; t++) {
    double x = BAR_LABEL_W + BAR_PLOT_W * t / 4.0;
    fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>", x, BAR_TOP - 4, x,
            height - 6);
    if (percent)
      fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"14\" text-anchor=\"middle\">%.0f%%</text>\n", x,
              100.0 * max * t / 4.0);
    else
      fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"14\" text-anchor=\"middle\">%g</text>\n", x, max * t / 4.0);
  }
  for (size_t i = 0; i < n; i++) {
    const html_bar_t *b = &bars[i];
    int y = BAR_TOP + (int)i * BAR_ROW_H;
    fprintf(f, "<text class=\"lab\" x=\"%d\" y=\"%d\" text-anchor=\"end\">", BAR_LABEL_W - 6, y + 15);
    escape_cut(f, b->label, 24);
    fputs("</text>", f);
    if (b->defined) {
      double v = b->value < 0 ? 0 : b->value > max ? max : b->value;
      fprintf(f, "<rect class=\"bar\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\"/>", BAR_LABEL_W, y + 4,
              BAR_PLOT_W * v / max, BAR_ROW_H - 8);
      if (b->has_interval) {
        double lo = BAR_LABEL_W + BAR_PLOT_W * (b->low < 0 ? 0 : b->low > max ? max : b->low) / max;
        double hi = BAR_LABEL_W + BAR_PLOT_W * (b->high < 0 ? 0 : b->high > max ? max : b->high) / max;
        int mid = y + BAR_ROW_H / 2;
        fprintf(f,
                "<line class=\"whisker\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
                "<line class=\"whisker\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
                "<line class=\"whisker\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>",
                lo, mid, hi, mid, lo, mid - 6, lo, mid + 6, hi, mid - 6, hi, mid + 6);
      }
    } else {
      fprintf(f, "<text class=\"nodata\" x=\"%d\" y=\"%d\">undefined (no data)</text>", BAR_LABEL_W + 4, y + 15);
    }
    fprintf(f, "<text class=\"note\" x=\"%d\" y=\"%d\">", BAR_LABEL_W + BAR_PLOT_W + 8, y + 15);
    escape_cut(f, b->note, 20);
    fputs("</text>\n", f);
  }
  fputs("</svg>\n", f);
}

enum { HM_LABEL_W = 120, HM_CELL = 44, HM_TOP = 96 };

void html_svg_heatmap(FILE *f, const char *title, const char *const *labels, size_t k, const uint64_t *m,
                      const char *row_axis, const char *col_axis) {
  uint64_t max = 0, max_diag = 0;
  for (size_t i = 0; i < k; i++)
    for (size_t j = 0; j < k; j++) {
      uint64_t c = m[i * k + j];
      if (i != j && c > max) max = c;
      if (i == j && c > max_diag) max_diag = c;
    }
  int width = HM_LABEL_W + (int)k * HM_CELL + 20;
  int height = HM_TOP + (int)k * HM_CELL + 10;
  fprintf(f, "<svg class=\"chart\" role=\"img\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n<title>", width,
          height, width, height);
  html_escape(f, title);
  fputs("</title>\n", f);
  fprintf(f, "<text class=\"axis\" x=\"%d\" y=\"12\">", HM_LABEL_W);
  html_escape(f, col_axis);
  fprintf(f, " &#8594;</text>\n<text class=\"axis\" x=\"4\" y=\"%d\">", HM_TOP - 6);
  html_escape(f, row_axis);
  fputs(" &#8595;</text>\n", f);
  for (size_t j = 0; j < k; j++) {
    int x = HM_LABEL_W + (int)j * HM_CELL + HM_CELL / 2;
    fprintf(f, "<text class=\"lab\" transform=\"translate(%d,%d) rotate(-45)\">", x, HM_TOP - 6);
    escape_cut(f, labels[j], 14);
    fputs("</text>\n", f);
  }
  for (size_t i = 0; i < k; i++) {
    int y = HM_TOP + (int)i * HM_CELL;
    fprintf(f, "<text class=\"lab\" x=\"%d\" y=\"%d\" text-anchor=\"end\">", HM_LABEL_W - 6, y + HM_CELL / 2 + 4);
    escape_cut(f, labels[i], 16);
    fputs("</text>\n", f);
    for (size_t j = 0; j < k; j++) {
      uint64_t c = m[i * k + j];
      int x = HM_LABEL_W + (int)j * HM_CELL;
      /* Off-diagonal cells: darker is more confusion; the diagonal (the
       * agreements) on its own, lighter scale so it does not drown them. */
      double share = i == j ? (max_diag ? 0.35 * (double)c / (double)max_diag : 0)
                            : (max ? (double)c / (double)max : 0);
      int shade = 255 - (int)(share * 200.0 + 0.5);
      fprintf(f,
              "<rect class=\"cell%s\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
              "style=\"fill:rgb(%d,%d,%d)\"/>",
              i == j ? " diag" : "", x, y, HM_CELL, HM_CELL, shade, shade, 255 - (int)(share * 90.0 + 0.5));
      fprintf(f, "<text class=\"count\" x=\"%d\" y=\"%d\" text-anchor=\"middle\" style=\"fill:%s\">%llu</text>\n",
              x + HM_CELL / 2, y + HM_CELL / 2 + 4, shade < 130 ? "#fff" : "#000", (unsigned long long)c);
    }
  }
  fputs("</svg>\n", f);
}
